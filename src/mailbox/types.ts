/**
 * One interface for every kind of mailbox. It is shaped for batches, not per-message
 * round trips: candidates come from one search, bodies are streamed over a set of ids,
 * and dispositions are applied to sets. (imapflow cannot run another command while a
 * fetch is being iterated, so a caller never calls `apply` inside a `fetch` loop.)
 */
import type { ServerCertificate } from './transport.js';
import type { Action, ActionExtras, Protocol } from '../domain.js';
import type { SearchCriteria } from '../config/search.js';

/** What the adapter can do. The planner turns an impossible decision into a clear failure. */
export interface MailboxCapabilities {
  /** Can move a message to another folder. */
  move: boolean;
  /** Can mark a message as read. */
  markSeen: boolean;
  /** Can leave a copy of a message in another folder (`copy:<Folder>`, `copyTo`). */
  copy: boolean;
  /** The flags `flags`/`unflags` may name: `any` keyword or system flag (IMAP), or only these (Maildir: \Seen, \Flagged). */
  flags: 'any' | readonly string[];
  /** Can push new mail while connected (IMAP IDLE). */
  idle: boolean;
  /**
   * `commit()` ends the session (POP3: DELE is carried out at QUIT). The caller then commits
   * once, when its work is over, and cannot keep the mailbox open for more.
   */
  commitEndsSession: boolean;
}

/** What `folders:` stands for on the server: folders to read (config syntax), and names or patterns that matched none. */
export interface FolderListing {
  found: string[];
  unmatched: string[];
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
  /** The server's certificate, over TLS (`mailpoll check` shows it). */
  certificate?: ServerCertificate | undefined;
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
  /** Only messages without \Seen (`search.seen: false`; a `seen` of the search's own wins). */
  onlyUnseen: boolean;
  /** Leave out messages with this flag or keyword (`$Processed`; a Maildir: `\Flagged` or `\Seen`). */
  skipKeyword?: string | undefined;
  /**
   * Only messages matching this (the account's `search:`): IMAP asks the server in the same
   * UID SEARCH; POP3 and Maildir read each message's header block and size to decide.
   */
  search?: SearchCriteria | undefined;
  /** The time durations in `search` count back from (ms since the epoch). Default: now. */
  now?: number | undefined;
  /** At most this many, oldest first (counted after `skip`). */
  limit?: number | undefined;
  /**
   * Leave out messages the ledger has finished with: given uids of the search result, it
   * answers which of them to leave out (one ledger query for many, as the store may be a
   * database over the network). Applied before any per-message metadata is fetched and
   * before `limit`.
   */
  skip?: ((uids: readonly string[]) => Promise<ReadonlySet<string>>) | undefined;
}

/** A message with its RFC 822 source. */
export interface FetchedMessage {
  uid: string;
  /** The source, byte for byte; with `headersOnly` its header block (up to and with the empty line). */
  raw: Buffer;
  /** Size of the whole source (RFC822.SIZE), also when only the header block was fetched. */
  size: number;
  /** Only the header block was downloaded (`fetch` with `headersOnly`). */
  headersOnly?: boolean | undefined;
  flags: string[];
  date?: Date | undefined;
}

export interface FetchOptions {
  /**
   * Download only the header block where the protocol can (IMAP: `BODY.PEEK[HEADER]` and
   * `RFC822.SIZE`): the handler reads headers only and no raw copy is kept. Others fetch whole.
   */
  headersOnly?: boolean | undefined;
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
  /** Flags to set or clear and a copy to make, before `action`; each one idempotent but the copy (README, "Copy and keywords"). */
  extras?: ActionExtras | undefined;
}

/**
 * What became of one disposition:
 * - `done`: carried out;
 * - `pending`: accepted, but final only once the next `commit()` confirms it (IMAP: flagged
 *   \Deleted until the expunge; POP3: DELE until QUIT);
 * - `failed`: not carried out, `error` says why.
 */
export type DispositionStatus = 'done' | 'pending' | 'failed';

/** The outcome of one disposition. */
export interface DispositionResult {
  uid: string;
  status: DispositionStatus;
  error?: Error | undefined;
}

export interface Mailbox {
  readonly protocol: Protocol;
  readonly capabilities: MailboxCapabilities;
  /** Connect, log in and open the folder. Throws Auth/Connection/Tls/Timeout/MailboxError, once the failed attempt's sockets have closed. */
  open(): Promise<MailboxStatus>;
  /** The messages to work on, oldest first, from one search. */
  list(options: ListOptions): Promise<Candidate[]>;
  /** IMAP `folders:`: which folders the names, patterns or `all` stand for (on the open connection). */
  listFolders?(patterns: readonly string[] | 'all', exclude: readonly string[]): Promise<FolderListing>;
  /** IMAP `folders:`: select another folder on the open connection; a missing one throws a MailboxError naming it. */
  selectFolder?(folder: string): Promise<MailboxStatus>;
  /**
   * Stream the sources of `candidates` (in their order). While this iterator is being
   * consumed, no other method of the mailbox may be called.
   */
  fetch(candidates: Candidate[], options?: FetchOptions): AsyncIterable<FetchedMessage>;
  /**
   * Carry out dispositions, grouped into as few commands as possible. Never throws for one
   * message. A message that is no longer there counts as done for `delete` and `move`.
   */
  apply(dispositions: Disposition[]): Promise<DispositionResult[]>;
  /**
   * Make the `pending` dispositions final, and return the uids (spelled as given to `apply`)
   * the server has now confirmed. IMAP: the UID EXPUNGE of the UIDs `apply` flagged \Deleted
   * (without UIDPLUS an EXPUNGE that spares other clients' \Deleted messages), best once per
   * many batches: each EXPUNGE makes the server rewrite its indexes. POP3: QUIT, which ends
   * the session (`commitEndsSession`). Maildir: nothing is ever pending. Throws when the
   * server did not confirm: those messages stay as they were (flagged, not deleted), and
   * their recorded decisions are applied again by the next run.
   */
  commit(): Promise<string[]>;
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
   * Log out and release the connection. Never throws; safe to call twice and after a
   * failure. Resolves only once every socket the mailbox opened has closed (the watch gives
   * the host's connection slot back then). It confirms nothing still `pending`: only `commit()` says what the server
   * carried out (a POP3 QUIT sent here may carry out DELEs all the same; a later run finds
   * those messages gone and records them done).
   */
  close(): Promise<void>;
}
