/**
 * The store contract over a PostgreSQL database: composes the ledger, leases, run history,
 * baselines and retention, and turns every failure of the driver (connection or SQL) into a
 * one-line StoreError naming the store by its URL, the password masked.
 */
import type { Decision } from '../../decision/types.js';
import type { Protocol } from '../../domain.js';
import type { AsyncLeaseResult, AsyncStore, Fence } from '../contract.js';
import type { LeaseOwner } from '../leases.js';
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
} from '../types.js';
import { PostgresBaselines } from './baselines.js';
import type { Connection } from './connection.js';
import { type StoreLabel, toPostgresStoreError } from './failure.js';
import { PostgresRunLog } from './history.js';
import { PostgresLeases } from './leases.js';
import { PostgresLedger } from './ledger.js';
import { PostgresRetention } from './retention.js';

export class PostgresStore implements AsyncStore {
  /** The URL, password masked: what messages name the store by. */
  readonly path: string;
  private readonly ledger: PostgresLedger;
  private readonly leases: PostgresLeases;
  private readonly runLog: PostgresRunLog;
  private readonly retention: PostgresRetention;
  private readonly baselines: PostgresBaselines;

  constructor(
    private readonly connection: Connection,
    private readonly label: StoreLabel,
    owner: LeaseOwner,
    private readonly clock: () => number,
  ) {
    this.path = label.url;
    this.ledger = new PostgresLedger(connection, label.url, clock);
    this.leases = new PostgresLeases(connection, owner, clock);
    this.runLog = new PostgresRunLog(connection, owner.hostname, clock);
    this.retention = new PostgresRetention(connection, clock);
    this.baselines = new PostgresBaselines(connection, clock);
  }

  beginRun(info: { pid: number; command: string; dryRun: boolean }): Promise<number> {
    return this.guard(() => this.runLog.beginRun(info));
  }

  recordAccountRun(runId: number, result: AccountRunRecord): Promise<void> {
    return this.guard(() => this.runLog.recordAccountRun(runId, result));
  }

  endRun(runId: number, exitCode: number): Promise<void> {
    return this.guard(() => this.runLog.endRun(runId, exitCode));
  }

  acquireLease(identity: string, options: { ttlMs: number }): Promise<AsyncLeaseResult> {
    return this.guard(() => this.leases.acquire(identity, options.ttlMs, (work) => this.guard(work)));
  }

  findByUids(key: Omit<MessageKey, 'uid'>, uids: readonly string[]): Promise<Map<string, MessageRecord>> {
    return this.guard(() => this.ledger.findByUids(key, uids));
  }

  findRenumbered(where: Omit<MessageKey, 'uid'>, fingerprints: readonly string[]): Promise<Map<string, MessageRecord[]>> {
    return this.guard(() => this.ledger.findRenumbered(where, fingerprints));
  }

  pendingDecisions(identity: string, mailbox: string): Promise<MessageRecord[]> {
    return this.guard(() => this.ledger.pendingDecisions(identity, mailbox));
  }

  adoptLegacyRows(where: Omit<MessageKey, 'uid' | 'uidValidity'>, owner: { account: string; protocol: Protocol }): Promise<number> {
    return this.guard(() => this.ledger.adoptLegacyRows(where, owner));
  }

  recordReceived(runId: number, messages: readonly ReceivedMessage[], options: { archive: boolean }): Promise<Map<string, number>> {
    return this.guard(() => this.ledger.recordReceived(runId, messages, options));
  }

  recordHandled(ref: number, decision: Decision, fence?: Fence): Promise<void> {
    return this.guard(() => this.ledger.recordHandled(ref, decision, fence));
  }

  recordFailed(ref: number, error: string, maxAttempts: number, detail?: string | undefined, fence?: Fence): Promise<'failed' | 'quarantined'> {
    return this.guard(() => this.ledger.recordFailed(ref, error, maxAttempts, detail, fence));
  }

  recordTemporaryFailure(ref: number, error: string, detail?: string | undefined, fence?: Fence): Promise<void> {
    return this.guard(() => this.ledger.recordTemporaryFailure(ref, error, detail, fence));
  }

  recordActionFailed(ref: number, error: string, maxAttempts: number, fence?: Fence): Promise<'handled' | 'quarantined'> {
    return this.guard(() => this.ledger.recordActionFailed(ref, error, maxAttempts, fence));
  }

  isFirstRun(identity: string, mailbox: string): Promise<boolean> {
    return this.guard(() => this.baselines.isFirstRun(identity, mailbox));
  }

  recordBaseline(runId: number, where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): Promise<number> {
    return this.guard(() => this.baselines.record(runId, where, messages));
  }

  quarantinedCount(identity: string): Promise<number> {
    return this.guard(() => this.ledger.quarantinedCount(identity));
  }

  quarantinedRefs(filter: QuarantineFilter): Promise<number[]> {
    return this.guard(() => this.ledger.quarantinedRefs(filter));
  }

  now(): number {
    return this.clock();
  }

  markDone(refs: readonly number[], fence?: Fence): Promise<void> {
    return this.guard(() => this.ledger.markDone(refs, fence));
  }

  keptBefore(where: Omit<MessageKey, 'uid'>, handledBefore: number): Promise<MessageRecord[]> {
    return this.guard(() => this.ledger.keptBefore(where, handledBefore));
  }

  markExpired(refs: readonly number[], fence?: Fence): Promise<void> {
    return this.guard(() => this.ledger.markExpired(refs, fence));
  }

  rekey(ref: number, key: MessageKey): Promise<void> {
    return this.guard(() => this.ledger.rekey(ref, key));
  }

  setAside(ref: number): Promise<void> {
    return this.guard(() => this.ledger.setAside(ref));
  }

  release(ref: number): Promise<boolean> {
    return this.guard(() => this.ledger.release(ref));
  }

  /** Nothing beyond the commits: a PostgreSQL commit is durable when it returns (synchronous_commit). */
  async sync(): Promise<void> {}

  get(ref: number): Promise<MessageRecord | undefined> {
    return this.guard(() => this.ledger.get(ref));
  }

  raw(ref: number): Promise<Buffer | undefined> {
    return this.guard(() => this.ledger.raw(ref));
  }

  history(query: HistoryQuery): Promise<{ runs: RunRecord[]; messages: MessageRecord[] }> {
    return this.guard(() => this.runLog.history(query));
  }

  purge(options: PurgeOptions): Promise<PurgeResult> {
    return this.guard(() => this.retention.purge(options, this.runLog.activeRuns()));
  }

  previewPurge(options: PurgeOptions): Promise<PurgeResult> {
    return this.guard(() => this.retention.preview(options, this.runLog.activeRuns()));
  }

  /** Ends the pool's connections. Safe to call twice. */
  close(): Promise<void> {
    return this.guard(() => this.connection.close());
  }

  /** The driver's failures leave as StoreError; programming errors (RangeError, TypeError) as they are. */
  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof RangeError || error instanceof TypeError) throw error;
      throw toPostgresStoreError(error, this.label);
    }
  }
}
