/**
 * The local store: one SQLite file (WAL) holding the processed-mail ledger, the archive of
 * raw copies, the run history and the per-account leases. Raw copies of 1 MiB and more are
 * files in `<store file>-archive/`, one per message, named in the archive_files table.
 *
 * The guarantee it carries (README, "Never lose mail"), per message:
 *   fetch -> raw copy archived + ledger `received` -> handler -> ledger `handled` with the
 *   Decision -> server action -> ledger `done`.
 * Nothing on the server changes before `handled` is committed; after a crash between
 * `handled` and `done` the recorded Decision is applied without calling the handler again.
 */
import type { Action, ActionExtras, Protocol } from '../domain.js';

/** The store contract (every method a Promise, fenced writes) lives in contract.ts; named here too, where the records are. */
export type { Fence, Lease, LeaseResult, Store } from './contract.js';

/** `skipped`: recorded by a baseline (`startFrom`, `mailpoll baseline`), never handed over until `mailpoll retry`. */
export type MessageState = 'received' | 'handled' | 'done' | 'failed' | 'quarantined' | 'skipped';

/** Where a message lives: the key the ledger knows it by. */
export interface MessageKey {
  /**
   * The mailbox's identity (`mailboxIdentity`: protocol, login, host, port, folder or Maildir
   * path), never the account's name: two configs may give one name to two mailboxes, and a
   * renamed account keeps its mail. `legacy:<name>` for rows of an older store not adopted yet.
   */
  identity: string;
  /** IMAP folder as the server names it, the Maildir path, or '' for POP3. */
  mailbox: string;
  /** IMAP UIDVALIDITY as a decimal string; null for POP3 and Maildir. */
  uidValidity: string | null;
  /** IMAP UID, POP3 UIDL or Maildir unique name. */
  uid: string;
}

/** What is known of a message before or after parsing; every field may be missing. */
export interface MessageMeta {
  messageId: string | null;
  sender: string | null;
  subject: string | null;
  /** ISO 8601. */
  date: string | null;
  size: number | null;
}

export interface MessageRecord extends MessageKey, MessageMeta {
  /** The number `mailpoll show` takes: stable, unique in the store. */
  ref: number;
  /** The account's name when the message was received: a label, not a key. */
  account: string;
  protocol: Protocol;
  /** sha256 over Message-ID, Date header and size; survives a UIDVALIDITY change. A candidate only. */
  fingerprint: string | null;
  /** sha256 (hex) of the raw source: proof that a message under a new key is this one. Null: never downloaded, or an older store. */
  rawHash: string | null;
  state: MessageState;
  action: Action | null;
  moveTo: string | null;
  transition: boolean | null;
  /** Failed attempts so far: handler failures and refused server actions. */
  attempts: number;
  lastError: string | null;
  /** More about the last error, several lines: the stack of what a handler threw (its own frames), masked and capped as `lastError`. */
  lastErrorDetail: string | null;
  /** Milliseconds since the epoch. */
  firstSeenAt: number;
  updatedAt: number;
  handledAt: number | null;
  doneAt: number | null;
  /** False once a done delete/move took it out of the folder. */
  onServer: boolean;
  /** The archive still holds its raw copy. */
  hasRaw: boolean;
  /** The run that last touched it. */
  runId: number | null;
  /** Flags set or cleared and the copy its Decision asked for besides `action`; null: none. */
  extras: ActionExtras | null;
  /** When deleteAfter removed this kept message from the server; null: it was not. */
  expiredAt: number | null;
}

export interface ReceivedMessage {
  key: MessageKey;
  /** The account's name: the label stored with the row. */
  account: string;
  protocol: Protocol;
  fingerprint: string | null;
  /** sha256 (hex) of `raw` as downloaded; null when it was not downloaded. */
  rawHash: string | null;
  meta: MessageMeta;
  /** The RFC 822 source; archived unless retention is 0. */
  raw: Buffer | undefined;
}

export interface RunRecord {
  id: number;
  startedAt: number;
  endedAt: number | null;
  pid: number;
  command: string;
  dryRun: boolean;
  exitCode: number | null;
  accounts: AccountRunRecord[];
}

export interface AccountRunRecord {
  account: string;
  status: 'ok' | 'error' | 'busy';
  fetched: number;
  processed: number;
  failed: number;
  transitions: number;
  error: string | null;
  durationMs: number;
}

export interface HistoryQuery {
  account?: string | undefined;
  /** Milliseconds since the epoch: only what happened after. */
  since?: number | undefined;
  state?: MessageState | undefined;
  limit?: number | undefined;
}

export interface PurgeOptions {
  /** Raw copies older than this many days are deleted; 0 = keep none. */
  retentionDays: number;
  /** Ledger rows untouched for this many days are deleted, unless the message is still on the server. */
  ledgerDays: number;
}

export interface PurgeResult {
  rawDeleted: number;
  rowsDeleted: number;
  runsDeleted: number;
}

/** Which quarantined messages `mailpoll retry --account` means: a mailbox, and/or the label its rows carry. */
export interface QuarantineFilter {
  identity?: string | undefined;
  /** The account name recorded with the rows (a store without the config that named them). */
  account?: string | undefined;
}
