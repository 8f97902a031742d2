/**
 * Workers on a PostgreSQL store (the interface and the loop's calls: ../workers.ts). A worker
 * is a row of `mailpoll.workers`; what it holds are rows of `mailpoll.leases` with its id in
 * `worker_id`, tokens drawn from the same sequence as `acquireLease`'s, so that one-shot runs
 * and workers exclude each other and fencing (leases.ts) covers both.
 *
 * Claiming: every configured mailbox gets a lease row (a place holder, expired, pid 0) so that
 * there is a row to lock; then one statement locks up to `share - held` expired rows with
 * `FOR UPDATE SKIP LOCKED` and gives them a new token and this worker. Rows another worker or
 * a one-shot run is taking at that moment are skipped, not waited for.
 */
import { randomUUID } from 'node:crypto';
import type { AsyncLease } from '../contract.js';
import type { LeaseOwner } from '../leases.js';
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
} from '../workers.js';
import type { Connection } from './connection.js';
import type { PostgresLeases } from './leases.js';

type Guard = <T>(work: () => Promise<T>) => Promise<T>;

/** A worker row is deleted this many TTLs after its last heartbeat (it stopped being live after one). */
const FORGET_AFTER_TTLS = 10;

interface Parts {
  connection: Connection;
  leases: PostgresLeases;
  owner: Pick<LeaseOwner, 'hostname' | 'pid'>;
  now: () => number;
  guard: Guard;
}

type WorkerRow = [id: string, host: string, pid: number, startedAt: number, heartbeatAt: number, expiresAt: number, identities: string[]];

export class PostgresWorkerRegistry implements WorkerRegistry {
  private readonly ttlMs: number;

  constructor(
    private readonly parts: Parts,
    options: WorkerRegistryOptions = {},
  ) {
    this.ttlMs = registryTtlMs(options);
  }

  register(): Promise<Worker> {
    const { connection, owner, now, guard } = this.parts;
    return guard(async () => {
      const at = now();
      const record: WorkerRecord = { id: randomUUID(), host: owner.hostname, pid: owner.pid, startedAt: at, heartbeatAt: at, expiresAt: at + this.ttlMs };
      await connection.run(
        'INSERT INTO mailpoll.workers (id, host, pid, started_at, heartbeat_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)',
        [record.id, record.host, record.pid, at, record.expiresAt],
      );
      return new PostgresWorker(this.parts, record, this.ttlMs);
    });
  }

  list(): Promise<LiveWorker[]> {
    const { connection, now, guard } = this.parts;
    return guard(async () => {
      const rows = await connection.rows<WorkerRow>(
        `SELECT w.id, w.host, w.pid, w.started_at, w.heartbeat_at, w.expires_at,
                coalesce(array_agg(l.identity ORDER BY l.identity) FILTER (WHERE l.identity IS NOT NULL), '{}')
         FROM mailpoll.workers w LEFT JOIN mailpoll.leases l ON l.worker_id = w.id AND l.expires_at >= $1
         WHERE w.expires_at >= $1
         GROUP BY w.id
         ORDER BY w.started_at, w.id`,
        [now()],
      );
      return rows.map(([id, host, pid, startedAt, heartbeatAt, expiresAt, identities]) => ({ id, host, pid, startedAt, heartbeatAt, expiresAt, identities }));
    });
  }
}

class PostgresWorker implements Worker {
  readonly id: string;
  private readonly leases = new Map<string, ClaimedLease>();
  private gone = false;
  private readonly rows: LeaseRows;

  constructor(
    private readonly parts: Parts,
    private readonly record: WorkerRecord,
    readonly ttlMs: number,
  ) {
    this.id = record.id;
    const { leases, guard } = parts;
    this.rows = {
      renew: (identity, token, ttl) => guard(() => leases.renew(identity, token, ttl)),
      release: (identity, token) => guard(() => leases.release(identity, token)),
    };
  }

  held(): ReadonlyMap<string, AsyncLease> {
    return this.leases;
  }

  heartbeat(): Promise<HeartbeatResult> {
    const { connection, now, guard } = this.parts;
    return guard(async () => {
      if (this.gone) return { lost: [] };
      const at = now();
      const expiresAt = at + this.ttlMs;
      // An upsert: a worker paused long enough to be forgotten comes back as itself.
      await connection.run(
        `INSERT INTO mailpoll.workers (id, host, pid, started_at, heartbeat_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at`,
        [this.id, this.record.host, this.record.pid, this.record.startedAt, at, expiresAt],
      );
      const held = [...this.leases.values()];
      const renewed = new Set(
        held.length === 0
          ? []
          : (
              await connection.rows<[string]>(
                `UPDATE mailpoll.leases l SET expires_at = $3
                 FROM unnest($1::text[], $2::bigint[]) AS h (identity, token)
                 WHERE l.identity = h.identity AND l.token = h.token
                 RETURNING l.identity`,
                [held.map((lease) => lease.identity), held.map((lease) => lease.token), expiresAt],
              )
            ).map(([identity]) => identity),
      );
      const lost = held.filter((lease) => !renewed.has(lease.identity));
      for (const lease of lost) lease.forget();
      await connection.run('DELETE FROM mailpoll.workers WHERE expires_at < $1', [at - FORGET_AFTER_TTLS * this.ttlMs]);
      return { lost };
    });
  }

  claim(identities: readonly string[]): Promise<ClaimResult> {
    const { connection, owner, now, guard } = this.parts;
    return guard(async () => {
      const configured = [...new Set(identities)].sort();
      const liveWorkers = await this.countLiveWorkers();
      const share = fairShare(configured.length, liveWorkers);
      const wanted = share - this.leases.size;
      const free = configured.filter((identity) => !this.leases.has(identity));
      if (this.gone || wanted <= 0 || free.length === 0) return { claimed: [], share, liveWorkers };
      // A row for every mailbox, so that the claim below has one to lock. Only where there is
      // none: ON CONFLICT alone would wait for a session that is updating an existing row.
      // Sorted, so that two workers inserting the same new rows wait in one order.
      await connection.run(
        `INSERT INTO mailpoll.leases (identity, pid, host, token, acquired_at, expires_at)
         SELECT wanted.identity, 0, '', 0, 0, 0 FROM unnest($1::text[]) AS wanted (identity)
         WHERE NOT EXISTS (SELECT 1 FROM mailpoll.leases l WHERE l.identity = wanted.identity)
         ON CONFLICT (identity) DO NOTHING`,
        [free],
      );
      const at = now();
      const rows = await connection.rows<[string, string]>(
        `WITH free AS (
           SELECT identity FROM mailpoll.leases
           WHERE identity = ANY($1::text[]) AND expires_at < $2
           ORDER BY identity
           LIMIT $3
           FOR UPDATE SKIP LOCKED
         )
         UPDATE mailpoll.leases l
         SET pid = $4, host = $5, worker_id = $6, token = nextval('mailpoll.lease_tokens'), acquired_at = $2, expires_at = $7
         FROM free WHERE l.identity = free.identity
         RETURNING l.identity, l.token::text`,
        [free, at, wanted, owner.pid, owner.hostname, this.id, at + this.ttlMs],
      );
      const claimed = rows
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([identity, token]) => {
          const lease = new ClaimedLease(this.rows, identity, token, this.ttlMs, () => this.leases.delete(identity));
          this.leases.set(identity, lease);
          return lease;
        });
      return { claimed, share, liveWorkers };
    });
  }

  surplus(identities: readonly string[]): Promise<AsyncLease[]> {
    return this.parts.guard(async () => pickSurplus([...this.leases.values()], identities, await this.countLiveWorkers()));
  }

  deregister(): Promise<void> {
    const { connection, guard } = this.parts;
    return guard(async () => {
      if (this.gone || connection.closed) return;
      const held = [...this.leases.values()];
      await connection.transaction(async (sql) => {
        await sql.run(
          `DELETE FROM mailpoll.leases l USING unnest($1::text[], $2::bigint[]) AS h (identity, token)
           WHERE l.identity = h.identity AND l.token = h.token`,
          [held.map((lease) => lease.identity), held.map((lease) => lease.token)],
        );
        await sql.run('DELETE FROM mailpoll.workers WHERE id = $1', [this.id]);
      });
      for (const lease of held) lease.forget();
      this.gone = true;
    });
  }

  /** Live workers other than this one, plus this one (even when its own heartbeat is late: it is running). */
  private async countLiveWorkers(): Promise<number> {
    const { connection, now } = this.parts;
    const others = await connection.value<number>('SELECT count(*)::integer FROM mailpoll.workers WHERE expires_at >= $1 AND id <> $2', [now(), this.id]);
    return (others ?? 0) + 1;
  }
}
