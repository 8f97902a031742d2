/**
 * Per-mailbox leases: at most one process works on a mailbox at a time, across cron runs
 * that overlap and `watch` loops. Keyed by the mailbox identity (src/mailbox/identity.ts), not the
 * account's name: two configs naming unrelated mailboxes alike never wait for each other, and
 * two names for one mailbox do. A lease is a row (identity, pid, host, token, expiry) taken in
 * a `BEGIN IMMEDIATE` transaction, so two processes racing for it are serialised by SQLite.
 *
 * A lease is taken over when it is past its expiry, or when its pid is dead on this host
 * (a crashed run must not block the next one for a whole TTL). A pid on another host is never
 * judged: only the expiry frees it.
 *
 * The token is the fence (contract.ts): a takeover writes a new one, drawn from a counter so
 * that tokens only grow (as on PostgreSQL), and a write fenced by the old lease finds its token
 * gone and is refused (`assertHeld`). Workers (sqlite-workers.ts) claim these same rows with
 * tokens from the same counter, so one-shot runs and workers exclude each other.
 */
import type { StoreContext } from './context.js';
import { type Fence, type Lease, type LeaseResult, LeaseLostError } from './contract.js';

interface LeaseRow {
  pid: number;
  host: string;
  token: string;
  acquired_at: number;
  expires_at: number;
}

export interface LeaseOwner {
  /** Host name written in the lease and compared for the dead-pid rule. */
  hostname: string;
  /** This process. */
  pid: number;
  /** Whether a pid on this host is still running. */
  isAlive(pid: number): boolean;
}

/** `process.kill(pid, 0)`: ESRCH means dead; EPERM (someone else's process) and anything unexpected mean alive. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export class Leases {
  private readonly selectLease;
  private readonly selectToken;
  private readonly upsertLease;
  private readonly nextToken;
  private readonly updateExpiry;
  private readonly deleteLease;
  private readonly acquireTx;
  private readonly renewTx;
  private readonly releaseTx;

  constructor(
    private readonly context: StoreContext,
    private readonly owner: LeaseOwner,
  ) {
    const { db } = context;
    this.selectLease = db.prepare<[string], LeaseRow>(
      'SELECT pid, host, token, acquired_at, expires_at FROM leases WHERE identity = ?',
    );
    this.selectToken = db.prepare<[string], string>('SELECT token FROM leases WHERE identity = ?').pluck();
    this.upsertLease = db.prepare<[{ identity: string; pid: number; host: string; token: string; now: number; expiresAt: number; workerId: string | null }]>(
      `INSERT OR REPLACE INTO leases (identity, pid, host, token, acquired_at, expires_at, worker_id)
       VALUES (@identity, @pid, @host, @token, @now, @expiresAt, @workerId)`,
    );
    this.nextToken = db.prepare<[], number>('UPDATE lease_tokens SET last = last + 1 WHERE id = 1 RETURNING last').pluck();
    this.updateExpiry = db.prepare<[{ identity: string; token: string; expiresAt: number }]>(
      'UPDATE leases SET expires_at = @expiresAt WHERE identity = @identity AND token = @token',
    );
    this.deleteLease = db.prepare<[{ identity: string; token: string }]>(
      'DELETE FROM leases WHERE identity = @identity AND token = @token',
    );

    this.acquireTx = db.transaction((identity: string, ttlMs: number): { token: string } | { holder: LeaseRow } => {
      const now = context.now();
      const row = this.selectLease.get(identity);
      if (row && !this.canTakeOver(row, now)) return { holder: row };
      return { token: this.take(identity, now, ttlMs, null) };
    });
    this.renewTx = db.transaction(
      (identity: string, token: string, ttlMs: number) =>
        this.updateExpiry.run({ identity, token, expiresAt: context.now() + ttlMs }).changes > 0,
    );
    this.releaseTx = db.transaction((identity: string, token: string) => this.deleteLease.run({ identity, token }).changes > 0);
  }

  /**
   * Take `identity` for this process, or learn who has it. `guard` wraps the returned lease's
   * calls the way the store wraps its own (errors -> StoreError).
   */
  acquire(identity: string, ttlMs: number, guard: <T>(work: () => T) => T): LeaseResult {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`acquireLease: ttlMs must be a positive number, got ${ttlMs}`);
    const ttl = Math.ceil(ttlMs);
    const result = this.acquireTx.immediate(identity, ttl);
    if ('holder' in result) {
      return { ok: false, holder: { pid: result.holder.pid, host: result.holder.host, since: result.holder.acquired_at } };
    }
    return { ok: true, lease: new AccountLease(this, identity, result.token, ttl, guard) };
  }

  /**
   * Inside a write transaction: write the lease of `identity` for this process with a new token
   * (replacing any row), held by `workerId` or by no worker (null). Returns the token.
   */
  take(identity: string, now: number, ttlMs: number, workerId: string | null): string {
    const token = String(this.nextToken.get());
    this.upsertLease.run({ identity, pid: this.owner.pid, host: this.owner.hostname, token, now, expiresAt: now + ttlMs, workerId });
    return token;
  }

  /** Inside a fenced write's transaction: the lease row still carries the fence's token, else LeaseLostError. */
  assertHeld(fence: Fence): void {
    if (this.selectToken.get(fence.identity) !== fence.token) throw new LeaseLostError(fence.identity);
  }

  /** Push the expiry forward if the lease is still ours. False when it was lost (taken over). */
  renew(identity: string, token: string, ttlMs: number): boolean {
    if (!this.context.db.open) return false;
    return this.renewTx.immediate(identity, token, ttlMs);
  }

  /** Delete the lease if it is still ours. */
  release(identity: string, token: string): boolean {
    if (!this.context.db.open) return false;
    return this.releaseTx.immediate(identity, token);
  }

  private canTakeOver(row: LeaseRow, now: number): boolean {
    if (row.expires_at < now) return true;
    if (row.host !== this.owner.hostname) return false;
    return row.pid === this.owner.pid || !this.owner.isAlive(row.pid);
  }
}

/** The handle `acquireLease` gives out. Its methods do nothing once released or once the store is closed. */
class AccountLease implements Lease {
  private released = false;

  constructor(
    private readonly leases: Leases,
    readonly identity: string,
    readonly token: string,
    private readonly ttlMs: number,
    private readonly guard: <T>(work: () => T) => T,
  ) {}

  /** Resolves false when the lease is no longer ours (released, expired and taken over, store closed). */
  async renew(): Promise<boolean> {
    if (this.released) return false;
    return this.guard(() => this.leases.renew(this.identity, this.token, this.ttlMs));
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.guard(() => this.leases.release(this.identity, this.token));
    this.released = true;
  }
}
