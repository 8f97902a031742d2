/**
 * The store contract: what the cycle, the commands and the guarantee are written against.
 * Every method returns a Promise, so that one contract serves the embedded SQLite file
 * (better-sqlite3, synchronous underneath) and a shared PostgreSQL database (a network
 * round trip per call). `now()` stays synchronous: it is the store's clock, not a query.
 *
 * Fencing: a write that records a decision or its outcome may carry the Lease the caller
 * holds on the mailbox. The store performs it only while that lease is still current (not
 * expired and taken over by another process or worker); otherwise it throws LeaseLostError
 * and writes nothing. A process paused past its lease (SIGSTOP, a long GC, a partition) thus
 * cannot record anything for a mailbox another worker now holds.
 */
import type { Decision } from '../decision/types.js';
import type { Protocol } from '../domain.js';
import { StoreError } from '../errors.js';
import type {
  AccountRunRecord,
  HistoryQuery,
  MessageKey,
  MessageRecord,
  PurgeOptions,
  PurgeResult,
  QuarantineFilter,
  ReceivedMessage,
  RunRecord,
} from './types.js';

export type LeaseResult =
  | { ok: true; lease: Lease }
  | { ok: false; holder: { pid: number; host: string; since: number } };

export interface Lease {
  /** The mailbox identity this lease is for. */
  readonly identity: string;
  /**
   * The fencing token: changes with every takeover of the mailbox (on PostgreSQL a number
   * that only grows). Store writes fenced by this lease check it in their own transaction.
   */
  readonly token: string;
  /** Push the expiry forward (called on a timer and right before each batch of server actions). False: the lease was lost. */
  renew(): Promise<boolean>;
  /** Give the mailbox up. Safe to call twice. */
  release(): Promise<void>;
}

/** What a fenced write checks: the lease the caller believes it holds. */
export type Fence = Pick<Lease, 'identity' | 'token'>;

/** A fenced write found its lease taken over: nothing was written; the caller stops that mailbox. */
export class LeaseLostError extends StoreError {
  constructor(readonly identity: string) {
    super(`the lease on ${identity} was taken over by another process; stopped without recording or acting`);
    this.name = 'LeaseLostError';
  }
}

export interface Store {
  readonly path: string;

  beginRun(info: { pid: number; command: string; dryRun: boolean }): Promise<number>;
  recordAccountRun(runId: number, result: AccountRunRecord): Promise<void>;
  endRun(runId: number, exitCode: number): Promise<void>;

  /** Take the mailbox (by identity) for this process, or learn who has it. A lease of a dead local pid or past its expiry is taken over. */
  acquireLease(identity: string, options: { ttlMs: number }): Promise<LeaseResult>;

  /** Records by uid for these keys (same account, mailbox, uidValidity). */
  findByUids(key: Omit<MessageKey, 'uid'>, uids: readonly string[]): Promise<Map<string, MessageRecord>>;
  /**
   * After a UIDVALIDITY change: records of this identity and mailbox under another
   * uidValidity, still believed on the server, with one of these fingerprints (by fingerprint).
   */
  findRenumbered(where: Omit<MessageKey, 'uid'>, fingerprints: readonly string[]): Promise<Map<string, MessageRecord[]>>;
  /** Records in state `handled`: decisions recorded but not known to be carried out. */
  pendingDecisions(identity: string, mailbox: string): Promise<MessageRecord[]>;
  /**
   * Rows of an older store (`legacy:<account name>`) with this protocol and mailbox take the
   * identity of `where`. Once per identity and process; returns how many were adopted.
   */
  adoptLegacyRows(where: Omit<MessageKey, 'uid' | 'uidValidity'>, owner: { account: string; protocol: Protocol }): Promise<number>;

  /** One transaction for a batch: upsert rows to `received` (attempts kept), archive raw copies. Returns refs by uid. */
  recordReceived(runId: number, messages: readonly ReceivedMessage[], options: { archive: boolean }): Promise<Map<string, number>>;
  /** Commit the handler's Decision for one message (its own transaction: at most one handler re-run per crash). */
  recordHandled(ref: number, decision: Decision, fence?: Fence): Promise<void>;
  /**
   * A failed attempt: attempts + 1; at `maxAttempts` the state becomes `quarantined`. Returns the
   * new state. `detail` (a handler's stack) is kept beside the error, masked and capped.
   */
  recordFailed(ref: number, error: string, maxAttempts: number, detail?: string | undefined, fence?: Fence): Promise<'failed' | 'quarantined'>;
  /**
   * A temporary failure (`TemporaryHandlerError`): the error and its detail are kept for `show`
   * and `history`, the attempt is not counted and the row stays `received`, so the next run
   * hands the message over again without waiting for `retryDelay`.
   */
  recordTemporaryFailure(ref: number, error: string, detail?: string | undefined, fence?: Fence): Promise<void>;
  /**
   * The server action of a handled message failed: attempts + 1, error kept. It stays `handled`
   * (re-applied by a later run, without the handler) until `maxAttempts`, then it is `quarantined`.
   * Returns the new state.
   */
  recordActionFailed(ref: number, error: string, maxAttempts: number, fence?: Fence): Promise<'handled' | 'quarantined'>;
  /** The mailbox has neither a baseline nor any ledger row: `startFrom` takes its baseline now. */
  isFirstRun(identity: string, mailbox: string): Promise<boolean>;
  /**
   * A baseline: these messages are recorded as `skipped` (those the ledger does not know; a
   * known one keeps its row) and the mailbox is marked as having had its baseline, in one
   * transaction. Returns how many rows were added.
   */
  recordBaseline(runId: number, where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): Promise<number>;
  /** How many messages of this mailbox (its identity) are quarantined (waiting for `mailpoll retry`). */
  quarantinedCount(identity: string): Promise<number>;
  /** The refs of the quarantined messages that match (every one when the filter is empty), oldest first (`mailpoll retry`). */
  quarantinedRefs(filter: QuarantineFilter): Promise<number[]>;
  /** The store's clock (milliseconds; fixed by MAILPOLL_NOW in tests): what `updatedAt` is measured with. */
  now(): number;
  /** One transaction: these messages' Decisions are carried out. */
  markDone(refs: readonly number[], fence?: Fence): Promise<void>;
  /**
   * deleteAfter: `done` messages kept on the server (`keep`, `markSeen`, with or without flags
   * and a copy) whose Decision was recorded at or before `handledBefore`, oldest first.
   */
  keptBefore(where: Omit<MessageKey, 'uid'>, handledBefore: number): Promise<MessageRecord[]>;
  /** One transaction: deleteAfter removed these kept messages from the server (or found them gone): `expiredAt` now, off the server. */
  markExpired(refs: readonly number[], fence?: Fence): Promise<void>;
  /** A known message was found under a new key (UIDVALIDITY change). */
  rekey(ref: number, key: MessageKey): Promise<void>;
  /**
   * Its key now names another message (POP3 without UIDL: a look-alike with other bytes):
   * the row keeps its ref and history under `<uid>#<ref>`, no longer on the server.
   */
  setAside(ref: number): Promise<void>;
  /** `mailpoll retry`: a quarantined or failed message gets a fresh start (attempts 0, state failed). False if unknown. */
  release(ref: number): Promise<boolean>;
  /**
   * Durability barrier before server actions: everything committed so far reaches the disk
   * (WAL fsync), so that even a power loss cannot leave a server action without its `handled` row.
   */
  sync(): Promise<void>;

  get(ref: number): Promise<MessageRecord | undefined>;
  /** The archived RFC 822 source, undefined when there is none; StoreError when its file cannot be read. */
  raw(ref: number): Promise<Buffer | undefined>;
  history(query: HistoryQuery): Promise<{ runs: RunRecord[]; messages: MessageRecord[] }>;
  purge(options: PurgeOptions): Promise<PurgeResult>;
  /** What `purge` would delete now, counted and rolled back: a read (`mailpoll purge --dry-run`). */
  previewPurge(options: PurgeOptions): Promise<PurgeResult>;
  close(): Promise<void>;
}

/** The names the contract had while it stood beside the synchronous Store: the same types. */
export type AsyncStore = Store;
export type AsyncLease = Lease;
export type AsyncLeaseResult = LeaseResult;
