/**
 * The contract between mailpoll and a user's handler script (README, "Handler API").
 *
 *   export default async function (mailMessage, context) { return 1 | 2 | 3 | 4 | 'delete' | ... }
 */
import type { ParsedMail } from 'mailparser';
import type { Action } from '../mailbox/types.js';

/** mailparser's parsed message plus where it came from and its exact source. */
export interface MailMessage extends ParsedMail {
  /** IMAP UID, POP3 UIDL or Maildir unique name, as a string. */
  uid: string;
  /** Account name. */
  account: string;
  /** Folder the message was read from (as configured, `/`-separated). */
  folder: string;
  /** Flags at fetch time (`\Seen`, ...). */
  flags: string[];
  /** Size of the RFC 822 source in bytes. */
  size: number;
  /** The RFC 822 source, byte for byte. */
  raw: Buffer;
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
  | HandlerResultObject
  | undefined
  | void;

export type Handler = (mailMessage: MailMessage, context: HandlerContext) => HandlerResult | Promise<HandlerResult>;
