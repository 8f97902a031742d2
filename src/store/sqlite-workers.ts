/**
 * Workers on a SQLite store (the interface and the loop's calls: workers.ts): several
 * `mailpoll --watch` processes on one host sharing one file. A worker is a row of `workers`;
 * what it holds are rows of `leases` with its id in `worker_id`, taken with tokens from the
 * same counter as `acquireLease`'s (leases.ts), so that one-shot runs and workers exclude each
 * other and fencing covers both.
 *
 * Every write is one `BEGIN IMMEDIATE` transaction: SQLite's single writer lock plays the part
 * of PostgreSQL's `FOR UPDATE SKIP LOCKED`. Two workers claiming at once run one after the
 * other (the second waits up to the busy timeout, then sees what the first took), so a mailbox
 * is never taken twice. The transactions are short and never span an `await`.
 *
 * SQLite's locks only hold between processes of one host: a store file on a network file
 * system shared by several hosts is not safe (use PostgreSQL there).
 */
import { randomUUID } from 'node:crypto';
import type { StoreContext } from './context.js';
import type { Lease } from './contract.js';
import type { LeaseOwner, Leases } from './leases.js';
import {
  type ClaimResult,
  ClaimedLease,
  fairShare,
  type HeartbeatResult,
  type LeaseRows,
  type LiveWorker,
  pickSurplus,
  registryTtlMs,
  type Worker,
  type WorkerRecord,
  type WorkerRegistry,
  type WorkerRegistryOptions,
} from './workers.js';

/** The store's guard: SQLite's failures leave as StoreError. */
type Guard = <T>(work: () => T) => T;

/** A worker row is deleted this many TTLs after its last heartbeat (it stopped being live after one). */
const FORGET_AFTER_TTLS = 10;

interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  started_at: number;
  heartbeat_at: number;
  expires_at: number;
}

interface HeldRow {
  identity: string;
  worker_id: string;
}

/** What a claim does in its transaction: the lease rows of `free` it took, in order, with their tokens. */
type Claimed = { identity: string; token: string }[];

/**
 * The statements and transactions of the workers, prepared once per store on first use and
 * kept as long as the store (a Statement must never be garbage collected: sqlite-store.ts).
 */
export class SqliteWorkers {
  /** What a claimed lease renews and releases. */
  readonly rows: LeaseRows;
  private readonly insertWorker;
  private readonly countOthers;
  private readonly listTx;
  private readonly heartbeatTx;
  private readonly claimTx;
  private readonly deregisterTx;

  constructor(
    readonly context: StoreContext,
    readonly leases: Leases,
    readonly owner: Pick<LeaseOwner, 'hostname' | 'pid'>,
    readonly guard: Guard,
  ) {
    this.rows = {
      renew: async (identity, token, ttlMs) => guard(() => leases.renew(identity, token, ttlMs)),
      release: async (identity, token) => void guard(() => leases.release(identity, token)),
    };
    const { db } = context;
    this.insertWorker = db.prepare<[WorkerRow]>(
      `INSERT INTO workers (id, host, pid, started_at, heartbeat_at, expires_at)
       VALUES (@id, @host, @pid, @started_at, @heartbeat_at, @expires_at)`,
    );
    // An upsert: a worker paused long enough to be forgotten comes back as itself.
    const upsertWorker = db.prepare<[WorkerRow]>(
      `INSERT INTO workers (id, host, pid, started_at, heartbeat_at, expires_at)
       VALUES (@id, @host, @pid, @started_at, @heartbeat_at, @expires_at)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at`,
    );
    const deleteWorker = db.prepare<[string]>('DELETE FROM workers WHERE id = ?');
    const forgetWorkers = db.prepare<[number]>('DELETE FROM workers WHERE expires_at < ?');
    this.countOthers = db.prepare<[number, string], number>('SELECT count(*) FROM workers WHERE expires_at >= ? AND id <> ?').pluck();
    const liveWorkers = db.prepare<[number], WorkerRow>(
      'SELECT id, host, pid, started_at, heartbeat_at, expires_at FROM workers WHERE expires_at >= ? ORDER BY started_at, id',
    );
    const heldLeases = db.prepare<[number], HeldRow>(
      'SELECT identity, worker_id FROM leases WHERE worker_id IS NOT NULL AND expires_at >= ? ORDER BY identity',
    );
    const selectExpiry = db.prepare<[string], number>('SELECT expires_at FROM leases WHERE identity = ?').pluck();
    const renewLease = db.prepare<[number, string, string]>('UPDATE leases SET expires_at = ? WHERE identity = ? AND token = ?');
    const deleteLease = db.prepare<[string, string]>('DELETE FROM leases WHERE identity = ? AND token = ?');

    // One read transaction: the workers and the leases as of one moment.
    this.listTx = db.transaction((now: number) => ({ workers: liveWorkers.all(now), held: heldLeases.all(now) }));
    this.heartbeatTx = db.transaction((record: WorkerRow, held: readonly Lease[], ttlMs: number): Set<string> => {
      upsertWorker.run(record);
      const renewed = new Set<string>();
      for (const lease of held) {
        if (renewLease.run(record.expires_at, lease.identity, lease.token).changes > 0) renewed.add(lease.identity);
      }
      forgetWorkers.run(record.heartbeat_at - FORGET_AFTER_TTLS * ttlMs);
      return renewed;
    });
    this.claimTx = db.transaction((id: string, configured: readonly string[], held: ReadonlySet<string>, ttlMs: number) => {
      const now = context.now();
      const liveWorkers = this.countLive(now, id);
      const share = fairShare(configured.length, liveWorkers);
      const claimed: Claimed = [];
      for (const identity of configured) {
        if (claimed.length >= share - held.size) break;
        if (held.has(identity)) continue;
        // Free: no row, or a row past its expiry (nobody renewed it).
        const expiresAt = selectExpiry.get(identity);
        if (expiresAt !== undefined && expiresAt >= now) continue;
        claimed.push({ identity, token: leases.take(identity, now, ttlMs, id) });
      }
      return { claimed, share, liveWorkers };
    });
    this.deregisterTx = db.transaction((id: string, held: readonly Lease[]) => {
      for (const lease of held) deleteLease.run(lease.identity, lease.token);
      deleteWorker.run(id);
    });
  }

  register(record: WorkerRecord): void {
    this.insertWorker.run(toRow(record));
  }

  /** The live workers, oldest first, and the unexpired worker leases, by identity. */
  list(now: number): { workers: WorkerRow[]; held: HeldRow[] } {
    return this.listTx(now);
  }

  /** One transaction: the worker live for another TTL, every lease of `held` still its own renewed. Returns the renewed identities. */
  heartbeat(record: WorkerRecord, held: readonly Lease[], ttlMs: number): Set<string> {
    return this.heartbeatTx.immediate(toRow(record), held, ttlMs);
  }

  /** One transaction: the live workers counted, then free mailboxes of `configured` (sorted) taken up to the fair share. */
  claim(id: string, configured: readonly string[], held: ReadonlySet<string>, ttlMs: number): { claimed: Claimed; share: number; liveWorkers: number } {
    return this.claimTx.immediate(id, configured, held, ttlMs);
  }

  /** One transaction: the leases of `held` still its own released, the worker removed. */
  deregister(id: string, held: readonly Lease[]): void {
    this.deregisterTx.immediate(id, held);
  }

  /** Live workers other than `id`, plus `id` itself (even when its own heartbeat is late: it is running). */
  countLive(now: number, id: string): number {
    return (this.countOthers.get(now, id) ?? 0) + 1;
  }
}

export class SqliteWorkerRegistry implements WorkerRegistry {
  private readonly ttlMs: number;

  constructor(
    private readonly parts: SqliteWorkers,
    options: WorkerRegistryOptions = {},
  ) {
    this.ttlMs = registryTtlMs(options);
  }

  async register(): Promise<Worker> {
    const { context, owner, guard } = this.parts;
    return guard(() => {
      const at = context.now();
      const record: WorkerRecord = { id: randomUUID(), host: owner.hostname, pid: owner.pid, startedAt: at, heartbeatAt: at, expiresAt: at + this.ttlMs };
      this.parts.register(record);
      return new SqliteWorker(this.parts, record, this.ttlMs);
    });
  }

  async list(): Promise<LiveWorker[]> {
    const { context, guard } = this.parts;
    return guard(() => {
      const { workers, held } = this.parts.list(context.now());
      return workers.map((row) => ({
        id: row.id,
        host: row.host,
        pid: row.pid,
        startedAt: row.started_at,
        heartbeatAt: row.heartbeat_at,
        expiresAt: row.expires_at,
        identities: held.filter((lease) => lease.worker_id === row.id).map((lease) => lease.identity),
      }));
    });
  }
}

class SqliteWorker implements Worker {
  readonly id: string;
  private readonly leases = new Map<string, ClaimedLease>();
  private gone = false;

  constructor(
    private readonly parts: SqliteWorkers,
    private readonly record: WorkerRecord,
    readonly ttlMs: number,
  ) {
    this.id = record.id;
  }

  held(): ReadonlyMap<string, Lease> {
    return this.leases;
  }

  async heartbeat(): Promise<HeartbeatResult> {
    const { context, guard } = this.parts;
    return guard(() => {
      if (this.gone) return { lost: [] };
      const at = context.now();
      const held = [...this.leases.values()];
      const renewed = this.parts.heartbeat({ ...this.record, heartbeatAt: at, expiresAt: at + this.ttlMs }, held, this.ttlMs);
      const lost = held.filter((lease) => !renewed.has(lease.identity));
      for (const lease of lost) lease.forget();
      return { lost };
    });
  }

  async claim(identities: readonly string[]): Promise<ClaimResult> {
    return this.parts.guard(() => {
      const configured = [...new Set(identities)].sort();
      if (this.gone) {
        const liveWorkers = this.countLiveWorkers();
        return { claimed: [], share: fairShare(configured.length, liveWorkers), liveWorkers };
      }
      const result = this.parts.claim(this.id, configured, new Set(this.leases.keys()), this.ttlMs);
      const claimed = result.claimed.map(({ identity, token }) => {
        const lease = new ClaimedLease(this.parts.rows, identity, token, this.ttlMs, () => this.leases.delete(identity));
        this.leases.set(identity, lease);
        return lease;
      });
      return { claimed, share: result.share, liveWorkers: result.liveWorkers };
    });
  }

  async surplus(identities: readonly string[]): Promise<Lease[]> {
    return this.parts.guard(() => pickSurplus([...this.leases.values()], identities, this.countLiveWorkers()));
  }

  async deregister(): Promise<void> {
    const { context, guard } = this.parts;
    guard(() => {
      if (this.gone || !context.db.open) return;
      const held = [...this.leases.values()];
      this.parts.deregister(this.id, held);
      for (const lease of held) lease.forget();
      this.gone = true;
    });
  }

  private countLiveWorkers(): number {
    return this.parts.countLive(this.parts.context.now(), this.id);
  }
}

function toRow(record: WorkerRecord): WorkerRow {
  return {
    id: record.id,
    host: record.host,
    pid: record.pid,
    started_at: record.startedAt,
    heartbeat_at: record.heartbeatAt,
    expires_at: record.expiresAt,
  };
}
