/**
 * mailpoll's error hierarchy. Library error shapes (imapflow's `authenticationFailed`,
 * Node's `ECONNREFUSED`, a TLS verification code) stay inside the adapters: what leaves
 * them is one of these, with a one-line message a user can act on.
 *
 * Every error has a stable `code` (listed in the README) and the exit code it maps to.
 */

/** Exit codes, documented in the README. When several apply: 70, then 2, then 3, then 1. */
export const ExitCode = {
  ok: 0,
  /** At least one message failed (handler threw, returned something invalid, or its server action failed). */
  messageFailed: 1,
  /** Usage or config error: nothing was contacted. */
  usage: 2,
  /** At least one account could not be worked on: unreachable, login refused, TLS failure, timeout. */
  accountFailed: 3,
  /** A bug in mailpoll (EX_SOFTWARE from sysexits.h). */
  internal: 70,
  /** Interrupted by a second signal. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface MailpollErrorOptions {
  /** The account the error belongs to, when there is one. */
  account?: string | undefined;
  /** The underlying error, kept for `--verbose`. */
  cause?: unknown;
}

export class MailpollError extends Error {
  /** Stable machine-readable code, e.g. `E_CONFIG`. */
  readonly code: string = 'E_MAILPOLL';
  /** Exit code this error maps to when it ends a run. */
  readonly exitCode: ExitCode = ExitCode.accountFailed;
  readonly account: string | undefined;

  constructor(message: string, options: MailpollErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.account = options.account;
  }
}

/** A config file that cannot be used. Always exit 2, always before any network traffic. */
export class ConfigError extends MailpollError {
  override readonly code = 'E_CONFIG';
  override readonly exitCode = ExitCode.usage;
  /** One line per problem, each `file: path.to.key: what was expected`. */
  readonly problems: string[];

  constructor(problems: string[] | string, options: MailpollErrorOptions = {}) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.join('\n'), options);
    this.problems = list;
  }
}

/** No config file was found where one was searched for (commands that can do without one catch it). */
export class ConfigNotFoundError extends ConfigError {}

/** Bad command-line usage. Exit 2. */
export class UsageError extends MailpollError {
  override readonly code = 'E_USAGE';
  override readonly exitCode = ExitCode.usage;
}

/** A handler script that cannot be loaded (missing file, no default export, syntax error). Exit 2. */
export class HandlerLoadError extends MailpollError {
  override readonly code = 'E_HANDLER_LOAD';
  override readonly exitCode = ExitCode.usage;
  /** Lines shown under the message: the offending source line and a caret under its column. */
  readonly detail: string[];

  constructor(message: string, options: MailpollErrorOptions & { detail?: string[] | undefined } = {}) {
    super(message, options);
    this.detail = options.detail ?? [];
  }
}

/** The server refused the login. */
export class AuthError extends MailpollError {
  override readonly code = 'E_AUTH';
}

/** The server could not be reached: refused, unresolvable, reset, closed. */
export class ConnectionError extends MailpollError {
  override readonly code = 'E_CONNECTION';
}

/** The TLS handshake failed, usually certificate verification. */
export class TlsError extends MailpollError {
  override readonly code = 'E_TLS';
}

/** Connecting or fetching took longer than the configured timeout. */
export class TimeoutError extends MailpollError {
  override readonly code = 'E_TIMEOUT';
}

/** The server answered but a mailbox operation failed (folder missing, command rejected). */
export class MailboxError extends MailpollError {
  override readonly code = 'E_MAILBOX';
}

/**
 * The handler failed on one message: it threw, timed out, or returned something that cannot
 * be carried out. Exit 1. Each way has its own class and code, so that a program can tell
 * them apart.
 */
export abstract class HandlerError extends MailpollError {
  abstract override readonly code: 'E_HANDLER_THREW' | 'E_HANDLER_TIMEOUT' | 'E_INVALID_RESULT' | 'E_HANDLER_TEMPORARY';
  override readonly exitCode = ExitCode.messageFailed;
}

/** The handler threw or its promise rejected (the thrown value is the `cause`). */
export class HandlerThrewError extends HandlerError {
  override readonly code = 'E_HANDLER_THREW';
}

/** The handler did not answer within `handlerTimeout`. */
export class HandlerTimeoutError extends HandlerError {
  override readonly code = 'E_HANDLER_TIMEOUT';
}

/**
 * The handler could not be reached or asked to be tried later (a webhook's 5xx, 429, timeout
 * or refused connection, a command's exit 75, EX_TEMPFAIL): the message fails this run, but the attempt does not count towards
 * `maxAttempts`, so an outage of the receiving side never quarantines mail.
 */
export class TemporaryHandlerError extends HandlerError {
  override readonly code = 'E_HANDLER_TEMPORARY';
}

/** The handler returned something that is not a result, or one this mailbox cannot carry out. */
export class InvalidResultError extends HandlerError {
  override readonly code = 'E_INVALID_RESULT';
}

/** mailparser could not read a message, not even its header fields. That message fails (exit 1). */
export class ParseError extends MailpollError {
  override readonly code = 'E_PARSE';
  override readonly exitCode = ExitCode.messageFailed;
  /** mailparser's own code (`EMAXLEN` for its limits), when it gave one. */
  readonly parserCode: string | undefined;

  constructor(message: string, options: MailpollErrorOptions & { parserCode?: string | undefined } = {}) {
    super(message, options);
    this.parserCode = options.parserCode;
  }
}

/** The local store cannot be used (corrupt, locked, newer schema). Exit 2. */
export class StoreError extends MailpollError {
  override readonly code = 'E_STORE';
  override readonly exitCode = ExitCode.usage;
}

/**
 * Another process took the mailbox over after this one's lease expired (this one was paused,
 * or the machine slept): the account stopped without acting on the server or recording
 * anything more. Exit 3, as an account that could not be worked on.
 */
export class LeaseLostAccountError extends MailpollError {
  override readonly code = 'E_LEASE_LOST';
}

/** Something thrown inside mailpoll that is none of the above: a bug (a TypeError, say). Exit 70. */
export class InternalError extends MailpollError {
  override readonly code = 'E_INTERNAL';
  override readonly exitCode = ExitCode.internal;
}

/**
 * Codes of the per-message failures that are not thrown as errors of their own (the
 * `message` event's `code`; README, "Error codes").
 */
export const MessageCode = {
  /** Larger than `maxMessageSize`: quarantined without being downloaded. */
  tooLarge: 'E_TOO_LARGE',
  /** The server (or the Maildir) refused the action the handler decided. */
  actionRefused: 'E_ACTION_REFUSED',
} as const;

/**
 * The code a failed message reports for `error`: a mailpoll error's own code; anything else
 * thrown while handling a message is a bug (`E_INTERNAL`).
 */
export function messageErrorCode(error: unknown): string {
  return error instanceof MailpollError ? error.code : 'E_INTERNAL';
}

/**
 * An account's work stopped by `error`: mailpoll's own errors as they are (a StoreError keeps
 * its exit 2), anything else as an InternalError naming the account, the original as `cause`.
 */
export function asAccountError(account: string, error: unknown): MailpollError {
  if (error instanceof MailpollError) return error;
  return new InternalError(
    `${account}: internal error: ${describeError(error)}. This is a bug in mailpoll: please report it with the output of --verbose.`,
    { account, cause: error },
  );
}

/** The exit code of a run whose accounts ended with these errors (ok: none): the most severe wins. */
export function worstExitCode(codes: readonly ExitCode[]): ExitCode {
  for (const code of EXIT_SEVERITY) if (codes.includes(code)) return code;
  return ExitCode.ok;
}

const EXIT_SEVERITY: readonly ExitCode[] = [ExitCode.internal, ExitCode.usage, ExitCode.accountFailed, ExitCode.messageFailed];

/** The message text of anything thrown, for reports: never a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** Error texts longer than this (UTF-8 bytes) are cut in reports and in the ledger. */
export const MAX_ERROR_BYTES = 4096;

/**
 * `text` cut to about `maxBytes` on character boundaries, with a marker saying how much was
 * cut: a handler that throws megabytes must not make megabyte report lines or ledger rows.
 * The head and the tail are kept (the tail often says what to do next).
 */
export function capErrorText(text: string, maxBytes: number = MAX_ERROR_BYTES): string {
  // Cheap test first: a string of at most maxBytes/3 UTF-16 units is at most maxBytes in UTF-8.
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text) <= maxBytes) return text;
  const tailBytes = Math.floor(maxBytes / 8);
  const head = fitBytes(Array.from(text.slice(0, maxBytes)), maxBytes - tailBytes).join('');
  const tail = fitBytes(Array.from(text.slice(-tailBytes)).reverse(), tailBytes).reverse().join('');
  const cut = Buffer.byteLength(text) - Buffer.byteLength(head) - Buffer.byteLength(tail);
  return `${head} [... ${cut} bytes cut ...] ${tail}`;
}

/** The leading characters of `chars` whose UTF-8 size stays within `maxBytes`. */
function fitBytes(chars: string[], maxBytes: number): string[] {
  let bytes = 0;
  let count = 0;
  for (const char of chars) {
    // A surrogate half left at a cut is not a character: stop before it.
    const code = char.charCodeAt(0);
    if (char.length === 1 && code >= 0xd800 && code <= 0xdfff) break;
    bytes += Buffer.byteLength(char);
    if (bytes > maxBytes) break;
    count += 1;
  }
  return chars.slice(0, count);
}
