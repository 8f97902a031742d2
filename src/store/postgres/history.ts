/**
 * Run history in PostgreSQL: one `runs` row per invocation (with the host it ran on), one
 * `run_accounts` row per account cycle, and the `history` query: the same rules as the SQLite
 * side (history.ts). A run's command line is stored masked: a `--store` URL may carry a password.
 */
import { redact } from '../../redact.js';
import { DEFAULT_HISTORY_LIMIT } from '../history.js';
import { type MessageTuple, toMessageRecord } from '../message-row.js';
import type { AccountRunRecord, HistoryQuery, MessageRecord, RunRecord } from '../types.js';
import type { Connection } from './connection.js';
import { PG_MESSAGE_COLUMNS, storableText } from './message-columns.js';

type RunRow = [id: number, startedAt: number, endedAt: number | null, pid: number, command: string, dryRun: boolean, exitCode: number | null];

type AccountRunRow = [
  runId: number,
  account: string,
  status: AccountRunRecord['status'],
  fetched: number,
  processed: number,
  failed: number,
  transitions: number,
  error: string | null,
  durationMs: number,
];

export class PostgresRunLog {
  /** Runs begun through this store and not ended yet: purge keeps them whatever their age. */
  private readonly active = new Set<number>();

  constructor(
    private readonly connection: Connection,
    private readonly host: string,
    private readonly now: () => number,
  ) {}

  async beginRun(info: { pid: number; command: string; dryRun: boolean }): Promise<number> {
    const id = await this.connection.value<number>(
      'INSERT INTO mailpoll.runs (started_at, pid, host, command, dry_run) VALUES ($1, $2, $3, $4, $5) RETURNING id',
      [this.now(), info.pid, this.host, storableText(redact(info.command)), info.dryRun],
    );
    if (id === undefined) throw new Error('runs: INSERT returned no id');
    this.active.add(id);
    return id;
  }

  activeRuns(): number[] {
    return [...this.active];
  }

  /** A run purged meanwhile (a `watch` older than ledgerDays) just loses this row. */
  async recordAccountRun(runId: number, result: AccountRunRecord): Promise<void> {
    await this.connection.run(
      `INSERT INTO mailpoll.run_accounts (run_id, account, status, fetched, processed, failed, transitions, error, duration_ms)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM mailpoll.runs WHERE id = $1)`,
      [
        runId,
        result.account,
        result.status,
        result.fetched,
        result.processed,
        result.failed,
        result.transitions,
        storableText(result.error),
        Math.round(result.durationMs),
      ],
    );
  }

  async endRun(runId: number, exitCode: number): Promise<void> {
    await this.connection.run('UPDATE mailpoll.runs SET ended_at = $2, exit_code = $3 WHERE id = $1', [runId, this.now(), exitCode]);
    this.active.delete(runId);
  }

  /** Runs and messages newest first, from one snapshot; the filters of HistoryQuery as on SQLite. */
  async history(query: HistoryQuery): Promise<{ runs: RunRecord[]; messages: MessageRecord[] }> {
    const limit = query.limit === undefined ? DEFAULT_HISTORY_LIMIT : Math.max(0, Math.floor(query.limit));
    const account = query.account ?? null;
    const since = query.since ?? null;
    return this.connection.transaction(
      async (sql) => {
        const runRows = await sql.rows<RunRow>(
          `SELECT r.id, r.started_at, r.ended_at, r.pid, r.command, r.dry_run, r.exit_code FROM mailpoll.runs r
           WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM mailpoll.run_accounts ra WHERE ra.run_id = r.id AND ra.account = $1))
             AND ($2::bigint IS NULL OR coalesce(r.ended_at, r.started_at) >= $2)
           ORDER BY r.id DESC LIMIT $3`,
          [account, since, limit],
        );
        const accounts = new Map<number, AccountRunRecord[]>();
        if (runRows.length > 0) {
          const accountRows = await sql.rows<AccountRunRow>(
            `SELECT run_id, account, status, fetched, processed, failed, transitions, error, duration_ms FROM mailpoll.run_accounts
             WHERE run_id = ANY($1::bigint[]) AND ($2::text IS NULL OR account = $2) ORDER BY id`,
            [runRows.map(([id]) => id), account],
          );
          for (const row of accountRows) {
            let list = accounts.get(row[0]);
            if (!list) accounts.set(row[0], (list = []));
            list.push(toAccountRunRecord(row));
          }
        }
        const messageRows = await sql.rows<MessageTuple>(
          `SELECT ${PG_MESSAGE_COLUMNS} FROM mailpoll.messages m
           WHERE ($1::text IS NULL OR m.account = $1) AND ($2::bigint IS NULL OR m.updated_at >= $2) AND ($3::text IS NULL OR m.state = $3)
           ORDER BY m.updated_at DESC, m.ref DESC LIMIT $4`,
          [account, since, query.state ?? null, limit],
        );
        return {
          runs: runRows.map((row) => toRunRecord(row, accounts.get(row[0]) ?? [])),
          messages: messageRows.map(toMessageRecord),
        };
      },
      { snapshot: true },
    );
  }
}

function toRunRecord(row: RunRow, accounts: AccountRunRecord[]): RunRecord {
  const [id, startedAt, endedAt, pid, command, dryRun, exitCode] = row;
  return { id, startedAt, endedAt, pid, command, dryRun, exitCode, accounts };
}

function toAccountRunRecord(row: AccountRunRow): AccountRunRecord {
  const [, account, status, fetched, processed, failed, transitions, error, durationMs] = row;
  return { account, status, fetched, processed, failed, transitions, error, durationMs };
}
