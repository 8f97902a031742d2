/**
 * The Store over one SQLite connection (and the folder of large raw copies beside it):
 * composes the ledger, leases, run history and retention, and turns every SQLite failure
 * into a one-line StoreError on the way out.
 */
import Database from 'better-sqlite3';
import type { Decision } from '../decision/types.js';
import type { Protocol } from '../domain.js';
import { ArchiveFiles } from './archive-files.js';
import { Baselines } from './baselines.js';
import type { StoreContext } from './context.js';
import { toStoreError } from './failure.js';
import { RunLog } from './history.js';
import { Ledger } from './ledger.js';
import { type LeaseOwner, Leases } from './leases.js';
import { Retention } from './retention.js';
import { setPragma } from './pragma.js';
import type {
  AccountRunRecord,
  HistoryQuery,
  LeaseResult,
  MessageKey,
  MessageRecord,
  PurgeOptions,
  PurgeResult,
  QuarantineFilter,
  ReceivedMessage,
  RunRecord,
  Store,
} from './types.js';

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
  private readonly leases: Leases;
  private readonly runLog: RunLog;
  private readonly retention: Retention;
  private readonly baselines: Baselines;
  private readonly markSynced;

  constructor(
    private readonly context: StoreContext,
    owner: LeaseOwner,
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
  }

  beginRun(info: { pid: number; command: string; dryRun: boolean }): number {
    return this.guard(() => this.runLog.beginRun(info));
  }

  recordAccountRun(runId: number, result: AccountRunRecord): void {
    this.guard(() => this.runLog.recordAccountRun(runId, result));
  }

  endRun(runId: number, exitCode: number): void {
    this.guard(() => this.runLog.endRun(runId, exitCode));
  }

  acquireLease(identity: string, options: { ttlMs: number }): LeaseResult {
    return this.guard(() => this.leases.acquire(identity, options.ttlMs, (work) => this.guard(work)));
  }

  findByUids(key: Omit<MessageKey, 'uid'>, uids: readonly string[]): Map<string, MessageRecord> {
    return this.guard(() => this.ledger.findByUids(key, uids));
  }

  findRenumbered(where: Omit<MessageKey, 'uid'>, fingerprints: readonly string[]): Map<string, MessageRecord[]> {
    return this.guard(() => this.ledger.findRenumbered(where, fingerprints));
  }

  pendingDecisions(identity: string, mailbox: string): MessageRecord[] {
    return this.guard(() => this.ledger.pendingDecisions(identity, mailbox));
  }

  adoptLegacyRows(where: Omit<MessageKey, 'uid' | 'uidValidity'>, owner: { account: string; protocol: Protocol }): number {
    return this.guard(() => this.ledger.adoptLegacyRows(where, owner));
  }

  recordReceived(runId: number, messages: readonly ReceivedMessage[], options: { archive: boolean }): Map<string, number> {
    return this.guard(() => this.ledger.recordReceived(runId, messages, options));
  }

  recordHandled(ref: number, decision: Decision): void {
    this.guard(() => this.ledger.recordHandled(ref, decision));
  }

  recordFailed(ref: number, error: string, maxAttempts: number, detail?: string | undefined): 'failed' | 'quarantined' {
    return this.guard(() => this.ledger.recordFailed(ref, error, maxAttempts, detail));
  }

  recordTemporaryFailure(ref: number, error: string, detail?: string | undefined): void {
    this.guard(() => this.ledger.recordTemporaryFailure(ref, error, detail));
  }

  recordActionFailed(ref: number, error: string, maxAttempts: number): 'handled' | 'quarantined' {
    return this.guard(() => this.ledger.recordActionFailed(ref, error, maxAttempts));
  }

  isFirstRun(identity: string, mailbox: string): boolean {
    return this.guard(() => this.baselines.isFirstRun(identity, mailbox));
  }

  recordBaseline(runId: number, where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): number {
    return this.guard(() => this.baselines.record(runId, where, messages));
  }

  quarantinedCount(identity: string): number {
    return this.guard(() => this.ledger.quarantinedCount(identity));
  }

  quarantinedRefs(filter: QuarantineFilter): number[] {
    return this.guard(() => this.ledger.quarantinedRefs(filter));
  }

  now(): number {
    return this.context.now();
  }

  keptBefore(where: Omit<MessageKey, 'uid'>, handledBefore: number): MessageRecord[] {
    return this.guard(() => this.ledger.keptBefore(where, handledBefore));
  }

  markExpired(refs: readonly number[]): void {
    this.guard(() => this.ledger.markExpired(refs));
  }

  markDone(refs: readonly number[]): void {
    this.guard(() => this.ledger.markDone(refs));
  }

  rekey(ref: number, key: MessageKey): void {
    this.guard(() => this.ledger.rekey(ref, key));
  }

  setAside(ref: number): void {
    this.guard(() => this.ledger.setAside(ref));
  }

  release(ref: number): boolean {
    return this.guard(() => this.ledger.release(ref));
  }

  /**
   * One small commit with `synchronous = FULL`: SQLite fsyncs the WAL at that commit, and an
   * fsync covers every frame in the file, so all earlier NORMAL commits become durable too.
   * (A checkpoint is no barrier: it skips the fsync when readers keep it from copying anything.)
   * `fullfsync` makes it a real flush on macOS; elsewhere it does nothing.
   */
  sync(): void {
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

  get(ref: number): MessageRecord | undefined {
    return this.guard(() => this.ledger.get(ref));
  }

  raw(ref: number): Buffer | undefined {
    return this.guard(() => this.ledger.raw(ref));
  }

  history(query: HistoryQuery): { runs: RunRecord[]; messages: MessageRecord[] } {
    return this.guard(() => this.runLog.history(query));
  }

  purge(options: PurgeOptions): PurgeResult {
    return this.guard(() => this.retention.purge(options, this.runLog.activeRuns()));
  }

  previewPurge(options: PurgeOptions): PurgeResult {
    return this.guard(() => this.retention.preview(options, this.runLog.activeRuns()));
  }

  close(): void {
    const { db } = this.context;
    if (db.open) this.guard(() => db.close());
    // Kept reachable, statements and all, until the process ends: see CLOSED_STORES.
    CLOSED_STORES.add(this);
  }

  /** SQLite's failures leave as StoreError; programming errors (RangeError, TypeError) as they are. */
  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof Database.SqliteError) throw toStoreError(error, this.path);
      throw error;
    }
  }
}
