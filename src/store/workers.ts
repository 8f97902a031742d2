/**
 * Workers: every `mailpoll --watch` process on one shared store registers itself and splits
 * the mailboxes with the others. What a worker holds is a lease of the store contract (the
 * same rows, the same fencing tokens as `acquireLease`), so a one-shot `mailpoll run` sees an
 * account held by a worker as busy, and a fenced write by a worker that lost its lease is
 * refused. Both stores have workers: a PostgreSQL store always, for processes on any number
 * of hosts (postgres/workers.ts: `FOR UPDATE SKIP LOCKED`); a SQLite store opened with
 * `workers: true`, for processes of one host sharing the file (sqlite-workers.ts: the file's
 * writer lock serialises the claims). A SQLite file on a network file system is not safe for
 * several hosts: its locks do not hold there.
 *
 * The watch loop drives it, on every heartbeat (`heartbeatIntervalMs(ttl)`: a third of the TTL):
 *
 *   const worker = await registry.register();
 *   every heartbeat:
 *     const { lost } = await worker.heartbeat();        // stop these accounts now (fencing stops them anyway)
 *     for (const lease of await worker.surplus(ids))    // above the fair share, or no longer configured:
 *       stop its account after the message in hand, then await lease.release();
 *     const { claimed } = await worker.claim(ids);      // start an account for each
 *   on SIGTERM, after the messages in hand: await worker.deregister();
 */
import type { AsyncLease } from './contract.js';

/** One registered worker, as the store has it. Times are the store's clock, in milliseconds. */
export interface WorkerRecord {
  /** Unique per registration: a restarted process is a new worker. */
  id: string;
  host: string;
  pid: number;
  startedAt: number;
  /** Its last heartbeat. */
  heartbeatAt: number;
  /** Its last heartbeat plus its lease TTL: past this, it is no longer counted as live. */
  expiresAt: number;
}

/** A live worker and the mailbox identities it holds (unexpired leases), sorted. */
export interface LiveWorker extends WorkerRecord {
  identities: string[];
}

export interface ClaimResult {
  /** Leases taken by this call, one per newly held mailbox. */
  claimed: AsyncLease[];
  /** The share this call filled up to: `fairShare(identities, liveWorkers)`. */
  share: number;
  /** Live workers counted, this one included. */
  liveWorkers: number;
}

export interface HeartbeatResult {
  /**
   * Leases found taken over by another worker or process (their token is no longer the
   * row's): no longer held. Stop those accounts at once; a fenced write would be refused.
   */
  lost: AsyncLease[];
}

/** A registered worker: this process's handle. */
export interface Worker {
  readonly id: string;
  /** The lease TTL its heartbeat renews to. */
  readonly ttlMs: number;
  /** What it holds now, by mailbox identity, in the order it claimed them. */
  held(): ReadonlyMap<string, AsyncLease>;
  /** Mark itself live for another TTL and renew every lease it holds, in one round. */
  heartbeat(): Promise<HeartbeatResult>;
  /**
   * Take mailboxes of `identities` (every configured one, the same list on every host) that
   * nobody holds or whose lease expired, up to the fair share. Concurrent workers never take
   * one mailbox twice: on PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED` (they never wait for
   * each other), on SQLite one `BEGIN IMMEDIATE` transaction (they take turns).
   */
  claim(identities: readonly string[]): Promise<ClaimResult>;
  /**
   * What to give up: held leases of mailboxes no longer in `identities`, then the most recently
   * claimed ones above the fair share. Nothing is released here: the caller stops each account
   * after the message in hand, then calls the lease's `release()`.
   */
  surplus(identities: readonly string[]): Promise<AsyncLease[]>;
  /** Release every lease and remove the worker, in one transaction (SIGTERM, after the messages in hand). Safe to call twice. */
  deregister(): Promise<void>;
}

export interface WorkerRegistry {
  /** Register this process as a worker (host, pid, start time, first heartbeat). */
  register(): Promise<Worker>;
  /** The live workers (heartbeat within their TTL), oldest first, with what each holds. */
  list(): Promise<LiveWorker[]>;
}

export interface WorkerRegistryOptions {
  /** How long a heartbeat and a claimed lease last. Default DEFAULT_LEASE_TTL_MS (60 s). */
  ttlMs?: number;
}

/** A store that has workers (PostgreSQL; SQLite opened with `workers: true`). */
export interface WorkerStore {
  workerRegistry(options?: WorkerRegistryOptions): WorkerRegistry;
}

export const DEFAULT_LEASE_TTL_MS = 60_000;

/**
 * How often a worker beats: a third of its TTL, so that a heartbeat delayed once (a slow
 * query, a GC) still renews its leases before they expire.
 */
export function heartbeatIntervalMs(ttlMs: number): number {
  return Math.max(1, Math.floor(ttlMs / 3));
}

/**
 * Whether `store` has workers, so that every `--watch` on it is one: a PostgreSQL store, or a
 * SQLite one opened with `workers: true` (the config's key). Not a dry run's store.
 */
export function hasWorkers<T extends object>(store: T): store is T & WorkerStore {
  return typeof (store as Partial<WorkerStore>).workerRegistry === 'function';
}

/**
 * The most mailboxes one worker keeps: `ceil(accounts / live workers)`. Every mailbox can be
 * held (workers x share >= accounts), and when a worker joins, the others' share drops so
 * that they give it work.
 */
export function fairShare(accounts: number, liveWorkers: number): number {
  if (accounts <= 0) return 0;
  return Math.ceil(accounts / Math.max(1, liveWorkers));
}

/** `options.ttlMs` (default 60 s) as a whole number of milliseconds; RangeError when it is not a positive number. */
export function registryTtlMs(options: WorkerRegistryOptions = {}): number {
  const ttl = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  if (!Number.isFinite(ttl) || ttl <= 0) throw new RangeError(`workerRegistry: ttlMs must be a positive number, got ${ttl}`);
  return Math.ceil(ttl);
}

/**
 * `Worker.surplus` on what a worker holds (in the order it claimed them): leases of mailboxes
 * no longer in `identities`, then the most recently claimed above the fair share, so that the
 * longest-held accounts stay where they are.
 */
export function pickSurplus<L extends { readonly identity: string }>(held: readonly L[], identities: readonly string[], liveWorkers: number): L[] {
  const configured = new Set(identities);
  const unconfigured = held.filter((lease) => !configured.has(lease.identity));
  const kept = held.filter((lease) => configured.has(lease.identity));
  const share = fairShare(configured.size, liveWorkers);
  return [...unconfigured, ...(kept.length > share ? kept.slice(share) : [])];
}

/** What a claimed lease asks of its store's lease rows (each call guarded as the store guards its own). */
export interface LeaseRows {
  /** Push the expiry of the row forward if it still carries `token`; false when it was taken over. */
  renew(identity: string, token: string, ttlMs: number): Promise<boolean>;
  /** Delete the row if it still carries `token`. */
  release(identity: string, token: string): Promise<void>;
}

/** A claimed lease: the lease row of `acquireLease`, renewed by the worker's heartbeat and by `renew()` before each batch. */
export class ClaimedLease implements AsyncLease {
  private released = false;

  constructor(
    private readonly rows: LeaseRows,
    readonly identity: string,
    readonly token: string,
    private readonly ttlMs: number,
    private readonly onGone: () => void,
  ) {}

  async renew(): Promise<boolean> {
    if (this.released) return false;
    const renewed = await this.rows.renew(this.identity, this.token, this.ttlMs);
    if (!renewed) this.forget();
    return renewed;
  }

  async release(): Promise<void> {
    if (this.released) return;
    await this.rows.release(this.identity, this.token);
    this.forget();
  }

  /** No longer held (released, lost, or the worker deregistered): renew and release do nothing. */
  forget(): void {
    this.released = true;
    this.onGone();
  }
}
