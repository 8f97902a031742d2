/**
 * The contract between mailpoll and a user's handler script (README, "Handler API").
 *
 *   export default async function (mailMessage, context) { return 1 | 2 | 3 | 4 | 'delete' | ... }
 */
import type { ParsedMail } from 'mailparser';
import type { Action } from '../domain.js';

/** mailparser's parsed message plus where it came from and its exact source. */
export interface MailMessage extends ParsedMail {
  /** IMAP UID, POP3 UIDL or Maildir unique name, as a string. */
  uid: string;
  /** Account name. */
  account: string;
  /** The message's ledger ref (`mailpoll show <ref>`); undefined under `--dry-run`. */
  ref?: number | undefined;
  /** Folder the message was read from (as configured, `/`-separated). */
  folder: string;
  /** Flags at fetch time (`\Seen`, ...). */
  flags: string[];
  /** Size of the RFC 822 source in bytes. */
  size: number;
  /** The RFC 822 source, byte for byte. */
  raw: Buffer;
  /**
   * Set when mailparser refused the message: past its limits (a header block over 1 MiB or
   * about 16,000 header lines, more than 1000 MIME parts, or parts nested that deep), e.g.
   * `Max allowed child nodes exceeded`. The message is still handed over so that the handler
   * decides: `raw` is complete; the top-level header fields that could be read are there
   * (each cut at 16 KB; From, To, Cc, Subject, Date, Message-ID and the like always kept, at
   * most 1000 others); `text`, `html`, `textAsHtml` and `attachments` throw when read.
   * Undefined for every message mailparser read.
   */
  parseError?: string;
  /** mailparser's error code with `parseError`: `EMAXLEN` for its limits. */
  parseErrorCode?: string;
  /**
   * With the account's `saveAttachments`: the absolute paths of the attachments written for
   * this message, in its order (README, "Saved attachments"); empty under `--dry-run`.
   * Undefined without `saveAttachments`.
   */
  savedAttachments?: string[];
}

export interface HandlerContext {
  /** Account name. */
  account: string;
  /** True under `--dry-run`: nothing on the server will change, whatever is returned. */
  dryRun: boolean;
  /** Log to stderr, prefixed with the account name. Never to stdout. */
  log: (...args: unknown[]) => void;
}

/** The object form of a result. */
export interface HandlerResultObject {
  action: Action;
  folder?: string;
  transition?: boolean;
  /** IMAP flags or keywords to set (`$Processed`, `\Flagged`), before the action. */
  flags?: string[];
  /** Flags or keywords to clear (`\Seen`: unread again). */
  unflags?: string[];
  /** A copy goes to this folder; the message itself stays (or gets `action`). */
  copyTo?: string;
}

/** Everything a handler may return (README, "Results"). */
export type HandlerResult =
  | 1
  | 2
  | 3
  | 4
  | 'delete'
  | 'keep'
  | 'markSeen'
  | 'move'
  | `move:${string}`
  | `copy:${string}`
  | `flag:${string}`
  | `unflag:${string}`
  | HandlerResultObject
  | undefined
  | void;

export type Handler = (mailMessage: MailMessage, context: HandlerContext) => HandlerResult | Promise<HandlerResult>;

/**
 * How much of each message a handler wants parsed: `full` (the default), or `headers` (the
 * header block only: no body, text or attachments).
 */
export type ParseLevel = 'headers' | 'full';

/**
 * What a handler module exports. Type a handler with it (README, "Handler API"):
 *
 *   export default (async (mailMessage, context) => 'keep') satisfies HandlerModule['default'];
 *   export const parse = 'headers' satisfies HandlerModule['parse'];
 */
export interface HandlerModule {
  default: Handler;
  /** Default `full`. */
  parse?: ParseLevel;
}

/** A handler module as loaded: its function and the parse level it asked for, carried together. */
export interface LoadedHandler {
  fn: Handler;
  parse: ParseLevel;
  /**
   * The absolute path of the module `fn` comes from, set by `loadAccountHandler` for a
   * `script:`: the cycle then calls the handler in worker threads that import this file
   * themselves, and never calls `fn`. Absent (a command, a webhook, a function passed in by a
   * program): `fn` is called in the main thread.
   */
  module?: string | undefined;
}
