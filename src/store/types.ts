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
import type { Decision } from '../decision/types.js';
import type { Action, ActionExtras, Protocol } from '../domain.js';

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

export type LeaseResult =
  | { ok: true; lease: Lease }
  | { ok: false; holder: { pid: number; host: string; since: number } };

export interface Lease {
  /** Push the expiry forward (called on a timer while the account is worked on). False: the lease was lost to another process. */
  renew(): boolean;
  /** Give the account up. Safe to call twice. */
  release(): void;
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

export interface Store {
  readonly path: string;

  beginRun(info: { pid: number; command: string; dryRun: boolean }): number;
  recordAccountRun(runId: number, result: AccountRunRecord): void;
  endRun(runId: number, exitCode: number): void;

  /** Take the mailbox (by identity) for this process, or learn who has it. A lease of a dead local pid or past its expiry is taken over. */
  acquireLease(identity: string, options: { ttlMs: number }): LeaseResult;

  /** Records by uid for these keys (same account, mailbox, uidValidity). */
  findByUids(key: Omit<MessageKey, 'uid'>, uids: readonly string[]): Map<string, MessageRecord>;
  /**
   * After a UIDVALIDITY change: records of this identity and mailbox under another
   * uidValidity, still believed on the server, with one of these fingerprints (by fingerprint).
   */
  findRenumbered(where: Omit<MessageKey, 'uid'>, fingerprints: readonly string[]): Map<string, MessageRecord[]>;
  /** Records in state `handled`: decisions recorded but not known to be carried out. */
  pendingDecisions(identity: string, mailbox: string): MessageRecord[];
  /**
   * Rows of an older store (`legacy:<account name>`) with this protocol and mailbox take the
   * identity of `where`. Once per identity and process; returns how many were adopted.
   */
  adoptLegacyRows(where: Omit<MessageKey, 'uid' | 'uidValidity'>, owner: { account: string; protocol: Protocol }): number;

  /** One transaction for a batch: upsert rows to `received` (attempts kept), archive raw copies. Returns refs by uid. */
  recordReceived(runId: number, messages: readonly ReceivedMessage[], options: { archive: boolean }): Map<string, number>;
  /** Commit the handler's Decision for one message (its own transaction: at most one handler re-run per crash). */
  recordHandled(ref: number, decision: Decision): void;
  /**
   * A failed attempt: attempts + 1; at `maxAttempts` the state becomes `quarantined`. Returns the
   * new state. `detail` (a handler's stack) is kept beside the error, masked and capped.
   */
  recordFailed(ref: number, error: string, maxAttempts: number, detail?: string | undefined): 'failed' | 'quarantined';
  /**
   * A temporary failure (`TemporaryHandlerError`): the error and its detail are kept for `show`
   * and `history`, the attempt is not counted and the row stays `received`, so the next run
   * hands the message over again without waiting for `retryDelay`.
   */
  recordTemporaryFailure(ref: number, error: string, detail?: string | undefined): void;
  /**
   * The server action of a handled message failed: attempts + 1, error kept. It stays `handled`
   * (re-applied by a later run, without the handler) until `maxAttempts`, then it is `quarantined`.
   * Returns the new state.
   */
  recordActionFailed(ref: number, error: string, maxAttempts: number): 'handled' | 'quarantined';
  /** The mailbox has neither a baseline nor any ledger row: `startFrom` takes its baseline now. */
  isFirstRun(identity: string, mailbox: string): boolean;
  /**
   * A baseline: these messages are recorded as `skipped` (those the ledger does not know; a
   * known one keeps its row) and the mailbox is marked as having had its baseline, in one
   * transaction. Returns how many rows were added.
   */
  recordBaseline(runId: number, where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): number;
  /** How many messages of this mailbox (its identity) are quarantined (waiting for `mailpoll retry`). */
  quarantinedCount(identity: string): number;
  /** The refs of the quarantined messages that match (every one when the filter is empty), oldest first (`mailpoll retry`). */
  quarantinedRefs(filter: QuarantineFilter): number[];
  /** The store's clock (milliseconds; fixed by MAILPOLL_NOW in tests): what `updatedAt` is measured with. */
  now(): number;
  /** One transaction: these messages' Decisions are carried out. */
  markDone(refs: readonly number[]): void;
  /**
   * deleteAfter: `done` messages kept on the server (`keep`, `markSeen`, with or without flags
   * and a copy) whose Decision was recorded at or before `handledBefore`, oldest first.
   */
  keptBefore(where: Omit<MessageKey, 'uid'>, handledBefore: number): MessageRecord[];
  /** One transaction: deleteAfter removed these kept messages from the server (or found them gone): `expiredAt` now, off the server. */
  markExpired(refs: readonly number[]): void;
  /** A known message was found under a new key (UIDVALIDITY change). */
  rekey(ref: number, key: MessageKey): void;
  /**
   * Its key now names another message (POP3 without UIDL: a look-alike with other bytes):
   * the row keeps its ref and history under `<uid>#<ref>`, no longer on the server.
   */
  setAside(ref: number): void;
  /** `mailpoll retry`: a quarantined or failed message gets a fresh start (attempts 0, state failed). False if unknown. */
  release(ref: number): boolean;
  /**
   * Durability barrier before server actions: everything committed so far reaches the disk
   * (WAL fsync), so that even a power loss cannot leave a server action without its `handled` row.
   */
  sync(): void;

  get(ref: number): MessageRecord | undefined;
  /** The archived RFC 822 source, undefined when there is none; StoreError when its file cannot be read. */
  raw(ref: number): Buffer | undefined;
  history(query: HistoryQuery): { runs: RunRecord[]; messages: MessageRecord[] };
  purge(options: PurgeOptions): PurgeResult;
  /** What `purge` would delete now, counted and rolled back: a read (`mailpoll purge --dry-run`). */
  previewPurge(options: PurgeOptions): PurgeResult;
  close(): void;
}
