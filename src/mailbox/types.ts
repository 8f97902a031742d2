/**
 * One interface for every kind of mailbox. It is shaped for batches, not per-message
 * round trips: candidates come from one search, bodies are streamed over a set of ids,
 * and dispositions are applied to sets. (imapflow cannot run another command while a
 * fetch is being iterated, so a caller never calls `apply` inside a `fetch` loop.)
 */
import type { Action, Protocol } from '../domain.js';

/** What the adapter can do. The planner turns an impossible decision into a clear failure. */
export interface MailboxCapabilities {
  /** Can move a message to another folder. */
  move: boolean;
  /** Can mark a message as read. */
  markSeen: boolean;
  /** Can push new mail while connected (IMAP IDLE). */
  idle: boolean;
  /**
   * Dispositions take effect only when the session ends (POP3: DELE is carried out at QUIT).
   * The cycle then counts a message as done only after `close()` has resolved.
   */
  applyAtClose: boolean;
}

/** State of the opened folder. */
export interface MailboxStatus {
  /** The folder as the server names it (delimiter mapped), e.g. `INBOX.Incidents`. */
  folder: string;
  /** Messages in the folder. */
  total: number;
  /** Messages without the \Seen flag (undefined where the protocol has no flags). */
  unseen: number | undefined;
  /** IMAP UIDVALIDITY, when the protocol has one. */
  uidValidity?: bigint | undefined;
  /** Total size in bytes, when the server says it without a scan (POP3 STAT). */
  bytes?: number | undefined;
}

/**
 * A message found by `list`, before its body is fetched.
 * `uid` is the IMAP UID, the POP3 UIDL or the Maildir unique file name.
 */
export interface Candidate {
  uid: string;
  /** RFC822.SIZE / file size in bytes, when known without downloading. */
  size: number | undefined;
  flags: string[];
  /** INTERNALDATE / mtime, when known. */
  date?: Date | undefined;
  /** The Message-ID header, when known without downloading (IMAP ENVELOPE, POP3 TOP n 0). */
  messageId?: string | undefined;
  /** The Date header as written, when known without downloading. With messageId and size: the fingerprint. */
  sentDate?: string | undefined;
}

export interface ListOptions {
  /** Only messages without \Seen. */
  onlyUnseen: boolean;
  /** At most this many, oldest first (counted after `skip`). */
  limit?: number | undefined;
  /**
   * Leave out messages the ledger has finished with. Applied to the search result, before
   * any per-message metadata is fetched and before `limit`.
   */
  skip?: ((uid: string) => boolean) | undefined;
}

/** A message with its RFC 822 source. */
export interface FetchedMessage {
  uid: string;
  raw: Buffer;
  size: number;
  flags: string[];
  date?: Date | undefined;
}

export interface WaitOptions {
  /** Give up waiting (resolve `timeout`) after this long; the caller then polls anyway. */
  maxMs: number;
  /** Prove the connection alive at least this often (NOOP); a dead one rejects. */
  healthCheckMs: number;
  signal?: AbortSignal | undefined;
}

/** What the adapter is asked to do with one message. */
export interface Disposition {
  uid: string;
  action: Action;
  /** Target folder of `move`, `/`-separated as in the config (the adapter maps the delimiter). */
  folder?: string | undefined;
}

/** The outcome of one disposition: ok, or the error that stopped it. */
export interface DispositionResult {
  uid: string;
  ok: boolean;
  error?: Error | undefined;
}

export interface Mailbox {
  readonly protocol: Protocol;
  readonly capabilities: MailboxCapabilities;
  /** Connect, log in and open the folder. Throws Auth/Connection/Tls/Timeout/MailboxError. */
  open(): Promise<MailboxStatus>;
  /** The messages to work on, oldest first, from one search. */
  list(options: ListOptions): Promise<Candidate[]>;
  /**
   * Stream the sources of `candidates` (in their order). While this iterator is being
   * consumed, no other method of the mailbox may be called.
   */
  fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage>;
  /**
   * Carry out dispositions, grouped into as few commands as possible. Never throws for one
   * message. A message that is no longer there counts as done for `delete` and `move`.
   */
  apply(dispositions: Disposition[]): Promise<DispositionResult[]>;
  /**
   * Complete the deletions `apply` only flagged. IMAP: `apply` sets \Deleted, and the UID
   * EXPUNGE of all those UIDs runs here, once per many batches: each EXPUNGE makes the server
   * rewrite its indexes, ~0.2 s per batch on a 2,000-message Dovecot Maildir. Absent where
   * `apply` deletes at once (Maildir) or at close (POP3). Throws when the expunge failed:
   * the messages stay flagged, and their recorded decisions are applied again next run.
   */
  expunge?(): Promise<void>;
  /** Which of `uids` are still in the folder (recovery of decisions recorded before a crash). */
  present(uids: string[]): Promise<Set<string>>;
  /**
   * Whether the move target `folder` (`/`-separated, as handlers and the config write it) is
   * the opened folder, compared the way the server names folders (INBOX case-insensitively,
   * the rest exactly, delimiter and namespace applied). Absent where there are no folders.
   */
  isPolledFolder?(folder: string): boolean;
  /**
   * IMAP: move the messages with this Message-ID from folder `from` (`/`-separated) back into
   * the opened folder: `mailpoll retry` of a message quarantined into a quarantineFolder.
   * Returns how many were moved (0: not there).
   */
  restore?(messageId: string, from: string): Promise<number>;
  /**
   * Watch mode, where `capabilities.idle`: wait on the open folder until new mail may have
   * arrived (IMAP IDLE: an EXISTS push), at most `maxMs`. A dead connection is detected within
   * `healthCheckMs` (a NOOP must be answered) and rejects with a ConnectionError or
   * TimeoutError. Resolves `aborted` as soon as `signal` aborts.
   */
  waitForChange?(options: WaitOptions): Promise<'changed' | 'timeout' | 'aborted'>;
  /**
   * Log out and release the connection. Safe to call twice and after a failure. With
   * `applyAtClose` it resolves only when the server confirmed (POP3 QUIT +OK) and throws
   * otherwise, so that pending deletes are not taken as done.
   */
  close(): Promise<void>;
}
