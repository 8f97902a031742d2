/**
 * Opening a PostgreSQL store: load the driver (only now: nothing of `pg` is loaded unless a
 * postgres:// store is used), register the password so that no output shows it, check the
 * server answers, and bring the `mailpoll` schema up to date (each migration under an advisory
 * lock, so that hosts starting together do not race). The common path (a current schema) is
 * a connection and two small reads.
 */
import { hostname as osHostname } from 'node:os';
import { StoreError } from '../../errors.js';
import { isProcessAlive } from '../leases.js';
import type { OpenStoreOptions } from '../open.js';
import { Connection, storeTypes } from './connection.js';
import { newerPostgresStoreError, type StoreLabel, toPostgresStoreError } from './failure.js';
import { PostgresStore } from './postgres-store.js';
import { ForeignPostgresSchema, migratePostgres, NewerPostgresSchema, POSTGRES_SCHEMA_VERSION, readSchemaVersion } from './schema.js';
import { describeServer, isPostgresUrl, maskStoreUrl, registerStoreSecrets } from './store-url.js';

/**
 * The SQLite opener's options that mean the same here: the clock (MAILPOLL_NOW in tests), the
 * lease owner's host and liveness check, and read-only (nothing created or migrated, a database
 * without the current schema refused with the way out, writes failing with StoreError).
 */
export interface OpenPostgresStoreOptions extends Pick<OpenStoreOptions, 'now' | 'hostname' | 'isAlive' | 'readOnly'> {
  /**
   * The password, when the URL has none (from the config's secret sources). Without either,
   * the driver reads PGPASSWORD, then ~/.pgpass. Registered as a secret: never printed.
   */
  password?: string;
  /** Connections the store keeps open at the most. Default 10. */
  maxConnections?: number;
  /** How long a connection may take to open (and a call may wait for a free one), in ms. Default 10 s. */
  connectTimeoutMs?: number;
}

/** The oldest PostgreSQL the schema is written for (`server_version_num`). */
const OLDEST_SERVER = 130_000;

/** Refuse a server older than PostgreSQL 13, saying which version it is. */
export function refuseOldServer(url: string, versionNum: number): void {
  if (!Number.isFinite(versionNum) || versionNum >= OLDEST_SERVER) return;
  const major = Math.floor(versionNum / 10_000);
  throw new StoreError(`store ${url}: PostgreSQL ${major >= 10 ? major : `${major}.${Math.floor(versionNum / 100) % 100}`} is too old; mailpoll needs PostgreSQL 13 or newer`);
}

/** Read-only, a database without mailpoll's schema: nothing recorded there yet. */
class EmptyPostgresStoreError extends StoreError {}

/** Whether opening read-only failed only because nothing was ever recorded there (a dry run reads that as an empty ledger). */
export function isSchemaMissing(error: unknown): boolean {
  return error instanceof EmptyPostgresStoreError;
}

/**
 * Open the PostgreSQL store at `url` (`postgres://user@host:5432/db`). Throws StoreError (exit
 * 2) when the driver cannot be loaded, the server cannot be reached or refuses the login, the
 * database holds a schema named mailpoll of another application or of a newer mailpoll, or
 * (read-only) has no current schema. Never drops or resets anything.
 */
export async function openPostgresStore(url: string, options: OpenPostgresStoreOptions = {}): Promise<PostgresStore> {
  registerStoreSecrets(url, options.password);
  const label: StoreLabel = { url: maskStoreUrl(url), server: describeServer(url) };
  if (!isPostgresUrl(url)) throw new StoreError(`store ${label.url}: not a PostgreSQL URL (postgres://user@host:5432/database)`);
  let pg: (typeof import('pg'))['default'];
  try {
    pg = (await import('pg')).default;
  } catch (error) {
    throw new StoreError(`store ${label.url}: the PostgreSQL driver (the pg package) cannot be loaded: ${(error as Error).message}. Reinstall mailpoll.`, {
      cause: error,
    });
  }
  const pool = new pg.Pool({
    connectionString: withPassword(url, options.password),
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    // A one-shot command that forgets to close must still exit.
    allowExitOnIdle: true,
    application_name: 'mailpoll',
    types: storeTypes((oid, format) => pg.types.getTypeParser(oid, format)),
    ...(options.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  const connection = new Connection(pool);
  try {
    await prepareSchema(connection, label, options.readOnly === true);
    const clock = options.now ?? Date.now;
    return new PostgresStore(
      connection,
      label,
      { hostname: options.hostname ?? osHostname(), pid: process.pid, isAlive: options.isAlive ?? isProcessAlive },
      () => Math.floor(clock()),
    );
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw toPostgresStoreError(error, label);
  }
}

/**
 * The URL with `password` as its `password` parameter, when it names none of its own: the
 * driver lets the URL's fields override its other settings, and reads this parameter in every
 * URL form (a host, or a socket folder).
 */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined || /^[a-z]+:\/\/[^/?#@:]*:[^/?#@]*@/i.test(url) || /[?&]password=/i.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}password=${encodeURIComponent(password)}`;
}

async function prepareSchema(connection: Connection, label: StoreLabel, readOnly: boolean): Promise<void> {
  const version = await readSchemaVersion(connection);
  if (version > POSTGRES_SCHEMA_VERSION) throw newerPostgresStoreError(label.url, version, POSTGRES_SCHEMA_VERSION);
  if (version === POSTGRES_SCHEMA_VERSION) return;
  if (readOnly) {
    if (version === 0) throw new EmptyPostgresStoreError(`store ${label.url}: empty, no message recorded yet`);
    throw new StoreError(`store ${label.url}: written by an older mailpoll; run mailpoll history once to bring it up to date, then try again`);
  }
  // Only before creating or migrating the schema: a current one was made on a server that could.
  refuseOldServer(label.url, Number(await connection.value<string>('SHOW server_version_num')));
  try {
    await migratePostgres(connection);
  } catch (error) {
    if (error instanceof NewerPostgresSchema) throw newerPostgresStoreError(label.url, error.version, POSTGRES_SCHEMA_VERSION);
    if (error instanceof ForeignPostgresSchema) {
      throw new StoreError(`store ${label.url} is not a mailpoll store (${error.message}). Use another database, or move that schema away; mailpoll never changes it.`);
    }
    throw error;
  }
}
