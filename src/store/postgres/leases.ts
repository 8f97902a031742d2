/**
 * Per-mailbox leases in PostgreSQL, for processes on one host or many: a row per mailbox
 * (identity, pid, host, token, expiry). Taking one is one statement (an upsert that only
 * replaces a row past its expiry, or this very process's); a lease of a dead pid on this host
 * is taken over by a compare-and-set on its token. A pid on another host is never judged:
 * only the expiry frees it.
 *
 * Fencing: every take-over draws a new token from a sequence, so tokens only grow. A fenced
 * write (`fenced`, `checkFence`) locks the lease row FOR SHARE in its own transaction and
 * finds its token there, or writes nothing: a take-over waits for that transaction, and a
 * write after the take-over sees the new token and throws LeaseLostError.
 */
import { type AsyncLease, type AsyncLeaseResult, type Fence, LeaseLostError } from '../contract.js';
import type { LeaseOwner } from '../leases.js';
import type { Connection, Sql } from './connection.js';

/** Rounds of take-over before reporting the holder: another process may win each one. */
const TAKEOVER_ROUNDS = 3;

/**
 * A CTE named `fence` and the condition that it holds, for a statement whose `$1, $2` are
 * `fenceParams(fence)`: with no fence ($1 NULL) the condition is true.
 */
export const FENCE_CTE = 'fence AS (SELECT 1 FROM mailpoll.leases WHERE identity = $1 AND token = $2::bigint FOR SHARE)';
export const FENCE_HOLDS = '($1::text IS NULL OR EXISTS (SELECT 1 FROM fence))';

export function fenceParams(fence: Fence | undefined): [string | null, string | null] {
  return fence === undefined ? [null, null] : [fence.identity, fence.token];
}

/** Inside a transaction: lock the fence's lease row, or throw LeaseLostError when its token is no longer there. */
export async function checkFence(sql: Sql, fence: Fence | undefined): Promise<void> {
  if (fence === undefined) return;
  const held = await sql.value<number>('SELECT 1 FROM mailpoll.leases WHERE identity = $1 AND token = $2::bigint FOR SHARE', [
    fence.identity,
    fence.token,
  ]);
  if (held === undefined) throw new LeaseLostError(fence.identity);
}

/** Whether the fence's token is still the lease's (no lock): tells a lost lease from an unknown ref after a fenced write changed nothing. */
export async function isFenceHeld(sql: Sql, fence: Fence): Promise<boolean> {
  return (await sql.value<number>('SELECT 1 FROM mailpoll.leases WHERE identity = $1 AND token = $2::bigint', [fence.identity, fence.token])) !== undefined;
}

type HolderRow = [pid: number, host: string, token: string, acquiredAt: number];

export class PostgresLeases {
  constructor(
    private readonly connection: Connection,
    private readonly owner: LeaseOwner,
    private readonly now: () => number,
  ) {}

  /** Take `identity` for this process, or learn who has it. `guard` wraps the lease's calls as the store wraps its own. */
  async acquire(identity: string, ttlMs: number, guard: <T>(work: () => Promise<T>) => Promise<T>): Promise<AsyncLeaseResult> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`acquireLease: ttlMs must be a positive number, got ${ttlMs}`);
    const ttl = Math.ceil(ttlMs);
    const { pid, hostname } = this.owner;
    let holder: HolderRow | undefined;
    for (let round = 0; round < TAKEOVER_ROUNDS; round += 1) {
      const now = this.now();
      const token = await this.connection.value<string>(
        `INSERT INTO mailpoll.leases AS l (identity, pid, host, token, acquired_at, expires_at)
         VALUES ($1, $2, $3, nextval('mailpoll.lease_tokens'), $4, $5)
         ON CONFLICT (identity) DO UPDATE SET pid = excluded.pid, host = excluded.host, token = excluded.token,
           acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
         WHERE l.expires_at < $4 OR (l.host = $3 AND l.pid = $2)
         RETURNING token::text`,
        [identity, pid, hostname, now, now + ttl],
      );
      if (token !== undefined) return { ok: true, lease: new PostgresLease(this, identity, token, ttl, guard) };
      [holder] = await this.connection.rows<HolderRow>(
        'SELECT pid, host, token::text, acquired_at FROM mailpoll.leases WHERE identity = $1',
        [identity],
      );
      if (holder === undefined) continue; // released meanwhile: try again
      if (holder[1] !== hostname || this.owner.isAlive(holder[0])) break;
      // A dead pid on this host: take it over unless someone else did first.
      const taken = await this.connection.value<string>(
        `UPDATE mailpoll.leases SET pid = $3, host = $4, token = nextval('mailpoll.lease_tokens'), acquired_at = $5, expires_at = $6
         WHERE identity = $1 AND token = $2::bigint RETURNING token::text`,
        [identity, holder[2], pid, hostname, now, now + ttl],
      );
      if (taken !== undefined) return { ok: true, lease: new PostgresLease(this, identity, taken, ttl, guard) };
    }
    if (holder === undefined) throw new Error(`acquireLease: the lease on ${identity} kept changing hands`);
    return { ok: false, holder: { pid: holder[0], host: holder[1], since: holder[3] } };
  }

  /** Push the expiry forward if the lease is still ours. False when it was lost (taken over), or the store is closed. */
  async renew(identity: string, token: string, ttlMs: number): Promise<boolean> {
    if (this.connection.closed) return false;
    const changed = await this.connection.run('UPDATE mailpoll.leases SET expires_at = $3 WHERE identity = $1 AND token = $2::bigint', [
      identity,
      token,
      this.now() + ttlMs,
    ]);
    return changed > 0;
  }

  /** Delete the lease if it is still ours. */
  async release(identity: string, token: string): Promise<void> {
    if (this.connection.closed) return;
    await this.connection.run('DELETE FROM mailpoll.leases WHERE identity = $1 AND token = $2::bigint', [identity, token]);
  }
}

/** The handle `acquireLease` gives out. Its methods do nothing once released or once the store is closed. */
class PostgresLease implements AsyncLease {
  private released = false;

  constructor(
    private readonly leases: PostgresLeases,
    readonly identity: string,
    readonly token: string,
    private readonly ttlMs: number,
    private readonly guard: <T>(work: () => Promise<T>) => Promise<T>,
  ) {}

  async renew(): Promise<boolean> {
    if (this.released) return false;
    return this.guard(() => this.leases.renew(this.identity, this.token, this.ttlMs));
  }

  async release(): Promise<void> {
    if (this.released) return;
    await this.guard(() => this.leases.release(this.identity, this.token));
    this.released = true;
  }
}
