/**
 * What the PostgreSQL driver throws -> `StoreError`, one line each: the store (its URL, the
 * password masked), what failed, and the fix when there is one. The driver's shapes (SQLSTATE
 * codes, socket error codes, its own plain Errors) stay in here.
 */
import { StoreError, describeError } from '../../errors.js';
import { redact } from '../../redact.js';

/** How the store names itself and its server in messages. */
export interface StoreLabel {
  /** The URL, password masked. */
  url: string;
  /** `host:port`. */
  server: string;
}

export function toPostgresStoreError(error: unknown, label: StoreLabel): StoreError {
  if (error instanceof StoreError) return error;
  return new StoreError(oneLine(`store ${label.url}: ${describeFailure(error, label)}`), { cause: error });
}

/** The store was written by a newer mailpoll: never touched. */
export function newerPostgresStoreError(url: string, version: number, known: number): StoreError {
  return new StoreError(
    `store ${url} was written by a newer mailpoll (store version ${version}; this mailpoll knows up to ${known}). Upgrade mailpoll, or use another database.`,
  );
}

function describeFailure(error: unknown, label: StoreLabel): string {
  const code = errorCode(error);
  const message = describeError(error);
  switch (code) {
    case 'ECONNREFUSED':
      return `cannot connect to ${label.server}: connection refused. Check that PostgreSQL is running and listening there.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot connect to ${label.server}: host not found. Check the host name in the URL.`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot connect to ${label.server}: no answer (${code}). Check the host, the port and the firewall.`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `the connection to ${label.server} was lost (${code}); the next call connects again.`;
    case '57P01':
    case '57P02':
    case '57P03':
      return `the server at ${label.server} is shutting down or starting up (${message}); the next call connects again.`;
    case '28P01':
      return `password authentication failed (${message}). Check the password: in the URL, PGPASSWORD or ~/.pgpass.`;
    case '28000':
      return `the server refused the login (${message}). Check pg_hba.conf on the server and the user in the URL.`;
    case '3D000':
      return `${message}. Create it first (createdb), or fix the database name in the URL.`;
    case '42501':
      return `${message}. The store's user needs to own the database, or have CREATE on it (for the mailpoll schema) and use of its tables.`;
    case '53300':
      return `the server has no connection left (${message}). Raise max_connections or use fewer processes.`;
    case '53100':
      return `the server's disk is full (${message}). Free some space and run again; the step that failed was not recorded.`;
    case '25006':
      return `opened for reading only: ${message}.`;
    default:
      break;
  }
  if (/SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string/.test(message)) {
    return 'the server asks for a password and none was given. Put it in PGPASSWORD or ~/.pgpass, or in the URL.';
  }
  if (/timeout exceeded when trying to connect/i.test(message)) {
    return `cannot connect to ${label.server}: no connection within the time limit. Check the host, the port and the server's load.`;
  }
  if (/Connection terminated|not queryable|connection error/i.test(message)) {
    return `the connection to ${label.server} was lost (${message}); the next call connects again.`;
  }
  return code !== '' ? `${message} (SQLSTATE ${code})` : message;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

/** Masked (the registered secrets: the store's password among them) and on one line. */
function oneLine(text: string): string {
  return redact(text).replace(/\s*[\r\n]+\s*/g, ' ');
}
