/**
 * The Store over one SQLite connection (and the folder of large raw copies beside it):
 * composes the ledger, leases, run history and retention, and turns every SQLite failure
 * into a one-line StoreError on the way out. The parts are synchronous (better-sqlite3 is,
 * and a local call is faster than any hop); the contract is asynchronous, so every method
 * is `async`: its result, or its failure as a rejected promise, and nothing else per call.
 *
 * A fenced write (contract.ts) runs in one `BEGIN IMMEDIATE` transaction with the check that
 * the lease row of `fence.identity` still carries `fence.token`: a takeover replaced it, and
 * then nothing is written (LeaseLostError).
 */
import Database from 'better-sqlite3';
import type { Decision } from '../decision/types.js';
import type { Protocol } from '../domain.js';
import { ArchiveFiles } from './archive-files.js';
import type { Fence, LeaseResult, Store } from './contract.js';
import { Baselines } from './baselines.js';
import type { StoreContext } from './context.js';
import { toStoreError } from './failure.js';
import { RunLog } from './history.js';
import { Ledger } from './ledger.js';
import { type LeaseOwner, Leases } from './leases.js';
import { Retention } from './retention.js';
import { SqliteWorkerRegistry, SqliteWorkers } from './sqlite-workers.js';
import { setPragma } from './pragma.js';
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
import type { WorkerRegistry, WorkerRegistryOptions, WorkerStore } from './workers.js';

/**
 * Closed stores, never let go. better-sqlite3 12 on Node 24 aborts the whole process
 * (SIGABRT in RemoveEnvironmentCleanupHook) when the garbage collector destroys one of its
 * Statements (better-sqlite3 13 fixes it, but needs Node 22+). A store's statements live as
 * long as the store; keeping closed stores reachable means no Statement is ever collected.
 * A process closes one store, or a few (tests): the memory this keeps is small.
 */
const CLOSED_STORES = new Set<SqliteStore>();

export class SqliteStore implements Store {
  readonly path: string;
  private readonly ledger: Ledger;
  protected readonly leases: Leases;
  private readonly runLog: RunLog;
  private readonly retention: Retention;
  private readonly baselines: Baselines;
  private readonly markSynced;
  /** `work` (a ledger step, its own transaction becoming a savepoint) after the fence's check, in one transaction. */
  private readonly fencedTx;

  constructor(
    protected readonly context: StoreContext,
    protected readonly owner: LeaseOwner,
  ) {
    this.path = context.file;
    const files = new ArchiveFiles(context.file);
    this.ledger = new Ledger(context, files);
    this.leases = new Leases(context, owner);
    this.runLog = new RunLog(context);
    this.retention = new Retention(context, files);
    this.baselines = new Baselines(context);
    const mark = context.db.prepare<[number]>(
      'INSERT INTO sync_mark (id, synced_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET synced_at = excluded.synced_at',
    );
    this.markSynced = context.db.transaction(() => void mark.run(context.now()));
    this.fencedTx = context.db.transaction((fence: Fence, work: () => unknown): unknown => {
      this.leases.assertHeld(fence);
      return work();
    });
  }

  async beginRun(info: { pid: number; command: string; dryRun: boolean }): Promise<number> {
    return this.guard(() => this.runLog.beginRun(info));
  }

  async recordAccountRun(runId: number, result: AccountRunRecord): Promise<void> {
    this.guard(() => this.runLog.recordAccountRun(runId, result));
  }

  async endRun(runId: number, exitCode: number): Promise<void> {
    this.guard(() => this.runLog.endRun(runId, exitCode));
  }

  async acquireLease(identity: string, options: { ttlMs: number }): Promise<LeaseResult> {
    return this.guard(() => this.leases.acquire(identity, options.ttlMs, (work) => this.guard(work)));
  }

  async findByUids(key: Omit<MessageKey, 'uid'>, uids: readonly string[]): Promise<Map<string, MessageRecord>> {
    return this.guard(() => this.ledger.findByUids(key, uids));
  }

  async findRenumbered(where: Omit<MessageKey, 'uid'>, fingerprints: readonly string[]): Promise<Map<string, MessageRecord[]>> {
    return this.guard(() => this.ledger.findRenumbered(where, fingerprints));
  }

  async pendingDecisions(identity: string, mailbox: string): Promise<MessageRecord[]> {
    return this.guard(() => this.ledger.pendingDecisions(identity, mailbox));
  }

  async adoptLegacyRows(where: Omit<MessageKey, 'uid' | 'uidValidity'>, owner: { account: string; protocol: Protocol }): Promise<number> {
    return this.guard(() => this.ledger.adoptLegacyRows(where, owner));
  }

  async recordReceived(runId: number, messages: readonly ReceivedMessage[], options: { archive: boolean }): Promise<Map<string, number>> {
    return this.guard(() => this.ledger.recordReceived(runId, messages, options));
  }

  async recordHandled(ref: number, decision: Decision, fence?: Fence): Promise<void> {
    this.fenced(fence, () => this.ledger.recordHandled(ref, decision));
  }

  async recordFailed(ref: number, error: string, maxAttempts: number, detail?: string | undefined, fence?: Fence): Promise<'failed' | 'quarantined'> {
    return this.fenced(fence, () => this.ledger.recordFailed(ref, error, maxAttempts, detail));
  }

  async recordTemporaryFailure(ref: number, error: string, detail?: string | undefined, fence?: Fence): Promise<void> {
    this.fenced(fence, () => this.ledger.recordTemporaryFailure(ref, error, detail));
  }

  async recordActionFailed(ref: number, error: string, maxAttempts: number, fence?: Fence): Promise<'handled' | 'quarantined'> {
    return this.fenced(fence, () => this.ledger.recordActionFailed(ref, error, maxAttempts));
  }

  async isFirstRun(identity: string, mailbox: string): Promise<boolean> {
    return this.guard(() => this.baselines.isFirstRun(identity, mailbox));
  }

  async recordBaseline(runId: number, where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): Promise<number> {
    return this.guard(() => this.baselines.record(runId, where, messages));
  }

  async quarantinedCount(identity: string): Promise<number> {
    return this.guard(() => this.ledger.quarantinedCount(identity));
  }

  async quarantinedRefs(filter: QuarantineFilter): Promise<number[]> {
    return this.guard(() => this.ledger.quarantinedRefs(filter));
  }

  now(): number {
    return this.context.now();
  }

  async keptBefore(where: Omit<MessageKey, 'uid'>, handledBefore: number): Promise<MessageRecord[]> {
    return this.guard(() => this.ledger.keptBefore(where, handledBefore));
  }

  async markExpired(refs: readonly number[], fence?: Fence): Promise<void> {
    if (refs.length > 0) this.fenced(fence, () => this.ledger.markExpired(refs));
  }

  async markDone(refs: readonly number[], fence?: Fence): Promise<void> {
    if (refs.length > 0) this.fenced(fence, () => this.ledger.markDone(refs));
  }

  async rekey(ref: number, key: MessageKey): Promise<void> {
    this.guard(() => this.ledger.rekey(ref, key));
  }

  async setAside(ref: number): Promise<void> {
    this.guard(() => this.ledger.setAside(ref));
  }

  async release(ref: number): Promise<boolean> {
    return this.guard(() => this.ledger.release(ref));
  }

  /**
   * One small commit with `synchronous = FULL`: SQLite fsyncs the WAL at that commit, and an
   * fsync covers every frame in the file, so all earlier NORMAL commits become durable too.
   * (A checkpoint is no barrier: it skips the fsync when readers keep it from copying anything.)
   * `fullfsync` makes it a real flush on macOS; elsewhere it does nothing.
   */
  async sync(): Promise<void> {
    this.guard(() => {
      const { db } = this.context;
      setPragma(db, 'synchronous = FULL');
      setPragma(db, 'fullfsync = ON');
      try {
        this.markSynced.immediate();
      } finally {
        setPragma(db, 'fullfsync = OFF');
        setPragma(db, 'synchronous = NORMAL');
      }
    });
  }

  async get(ref: number): Promise<MessageRecord | undefined> {
    return this.guard(() => this.ledger.get(ref));
  }

  async raw(ref: number): Promise<Buffer | undefined> {
    return this.guard(() => this.ledger.raw(ref));
  }

  async history(query: HistoryQuery): Promise<{ runs: RunRecord[]; messages: MessageRecord[] }> {
    return this.guard(() => this.runLog.history(query));
  }

  async purge(options: PurgeOptions): Promise<PurgeResult> {
    return this.guard(() => this.retention.purge(options, this.runLog.activeRuns()));
  }

  async previewPurge(options: PurgeOptions): Promise<PurgeResult> {
    return this.guard(() => this.retention.preview(options, this.runLog.activeRuns()));
  }

  async close(): Promise<void> {
    const { db } = this.context;
    if (db.open) this.guard(() => db.close());
    // Kept reachable, statements and all, until the process ends: see CLOSED_STORES.
    CLOSED_STORES.add(this);
  }

  /** `work` as it is without a fence; with one, in one transaction after the check that the lease is still ours. */
  private fenced<T>(fence: Fence | undefined, work: () => T): T {
    if (fence === undefined) return this.guard(work);
    return this.guard(() => this.fencedTx.immediate(fence, work) as T);
  }

  /** SQLite's failures leave as StoreError; programming errors (RangeError, TypeError) as they are. */
  protected guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof Database.SqliteError) throw toStoreError(error, this.path);
      throw error;
    }
  }
}

/**
 * A SQLite store opened with `workers: true`: every `mailpoll --watch` on it is a worker, and
 * the processes sharing the file split its accounts (sqlite-workers.ts).
 */
export class SqliteWorkerStore extends SqliteStore implements WorkerStore {
  /** Prepared on the first `workerRegistry()`. */
  private workers: SqliteWorkers | undefined;

  /** Workers on this store (every --watch process on the file), with leases of `options.ttlMs` (default 60 s). */
  workerRegistry(options?: WorkerRegistryOptions): WorkerRegistry {
    this.workers ??= this.guard(() => new SqliteWorkers(this.context, this.leases, this.owner, (work) => this.guard(work)));
    return new SqliteWorkerRegistry(this.workers, options);
  }
}
