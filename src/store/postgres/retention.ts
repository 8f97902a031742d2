/**
 * Retention in PostgreSQL, by the rules of the SQLite side (retention.ts): raw copies go after
 * `retentionDays` (all of them at 0); ledger rows after `ledgerDays`, only when `done` and off
 * the server; runs after `ledgerDays`, except those still going in this process. One
 * transaction; a preview counts the same rows from one snapshot, deleting nothing, so that it
 * also works on a store opened for reading only (`purge --dry-run`).
 */
import type { PurgeOptions, PurgeResult } from '../types.js';
import type { Connection, Sql } from './connection.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const PURGEABLE = "state = 'done' AND NOT on_server AND updated_at < $1";

export class PostgresRetention {
  constructor(
    private readonly connection: Connection,
    private readonly now: () => number,
  ) {}

  /** `activeRuns`: runs this process has begun and not ended, kept whatever their age. */
  purge(options: PurgeOptions, activeRuns: readonly number[]): Promise<PurgeResult> {
    return this.run(options, activeRuns, false);
  }

  /** What `purge` would delete now: the rows its statements would match, counted in their order. */
  preview(options: PurgeOptions, activeRuns: readonly number[]): Promise<PurgeResult> {
    return this.run(options, activeRuns, true);
  }

  private run(options: PurgeOptions, activeRuns: readonly number[], preview: boolean): Promise<PurgeResult> {
    const retentionDays = checkDays('retentionDays', options.retentionDays);
    const ledgerDays = checkDays('ledgerDays', options.ledgerDays);
    if (preview) return this.connection.transaction((sql) => this.countIn(sql, retentionDays, ledgerDays, activeRuns), { snapshot: true });
    return this.connection.transaction((sql) => this.purgeIn(sql, retentionDays, ledgerDays, activeRuns));
  }

  /** `purgeIn`'s deletes as counts: a raw copy the age rule takes is not counted again with its ledger row. */
  private async countIn(sql: Sql, retentionDays: number, ledgerDays: number, activeRuns: readonly number[]): Promise<PurgeResult> {
    const now = this.now();
    const count = async (text: string, values: readonly unknown[]) => (await sql.value<number>(text, values)) ?? 0;
    const rawCutoff = retentionDays === 0 ? Number.MAX_SAFE_INTEGER : now - retentionDays * DAY_MS;
    const cutoff = now - ledgerDays * DAY_MS;
    const rawDeleted =
      (await count('SELECT count(*) FROM mailpoll.archive WHERE stored_at < $1', [rawCutoff])) +
      (await count(`SELECT count(*) FROM mailpoll.archive WHERE stored_at >= $2 AND ref IN (SELECT ref FROM mailpoll.messages WHERE ${PURGEABLE})`, [cutoff, rawCutoff]));
    const rowsDeleted = await count(`SELECT count(*) FROM mailpoll.messages WHERE ${PURGEABLE}`, [cutoff]);
    const runsDeleted = await count('SELECT count(*) FROM mailpoll.runs WHERE coalesce(ended_at, started_at) < $1 AND NOT (id = ANY($2::bigint[]))', [cutoff, activeRuns]);
    return { rawDeleted, rowsDeleted, runsDeleted };
  }

  private async purgeIn(sql: Sql, retentionDays: number, ledgerDays: number, activeRuns: readonly number[]): Promise<PurgeResult> {
    const now = this.now();
    let rawDeleted =
      retentionDays === 0
        ? await sql.run('DELETE FROM mailpoll.archive')
        : await sql.run('DELETE FROM mailpoll.archive WHERE stored_at < $1', [now - retentionDays * DAY_MS]);
    const cutoff = now - ledgerDays * DAY_MS;
    // Counted explicitly: the cascade from messages would not show in the row count.
    rawDeleted += await sql.run(`DELETE FROM mailpoll.archive WHERE ref IN (SELECT ref FROM mailpoll.messages WHERE ${PURGEABLE})`, [cutoff]);
    const rowsDeleted = await sql.run(`DELETE FROM mailpoll.messages WHERE ${PURGEABLE}`, [cutoff]);
    // A run that never ended (crashed) ages by its start.
    const runsDeleted = await sql.run(
      'DELETE FROM mailpoll.runs WHERE coalesce(ended_at, started_at) < $1 AND NOT (id = ANY($2::bigint[]))',
      [cutoff, activeRuns],
    );
    return { rawDeleted, rowsDeleted, runsDeleted };
  }
}

function checkDays(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`purge: ${name} must be 0 or more days, got ${value}`);
  return value;
}
