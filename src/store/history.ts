/**
 * Run history: one `runs` row per mailpoll invocation, one `run_accounts` row per account
 * cycle, and the `history` query behind `mailpoll history`.
 */
import type Database from 'better-sqlite3';
import type { StoreContext } from './context.js';
import { MESSAGE_COLUMNS, type MessageTuple, toMessageRecord } from './message-row.js';
import type { AccountRunRecord, HistoryQuery, MessageRecord, RunRecord } from './types.js';

/** `HistoryQuery.limit` when none is given. */
export const DEFAULT_HISTORY_LIMIT = 50;

interface RunRow {
  id: number;
  started_at: number;
  ended_at: number | null;
  pid: number;
  command: string;
  dry_run: 0 | 1;
  exit_code: number | null;
}

interface AccountRunRow {
  run_id: number;
  account: string;
  status: AccountRunRecord['status'];
  fetched: number;
  processed: number;
  failed: number;
  transitions: number;
  error: string | null;
  duration_ms: number;
}

export class RunLog {
  private readonly insertRun;
  private readonly insertAccountRun;
  private readonly updateRunEnd;
  private readonly selectAccountRuns;
  /** History statements by filter combination, prepared on first use. */
  private readonly runQueries = new Map<string, Database.Statement<[Record<string, unknown>], RunRow>>();
  private readonly messageQueries = new Map<string, Database.Statement<[Record<string, unknown>], MessageTuple>>();

  /** Runs begun through this connection and not ended yet. */
  private readonly active = new Set<number>();

  private readonly beginTx;
  private readonly accountTx;
  private readonly endTx;

  constructor(private readonly context: StoreContext) {
    const { db } = context;
    this.insertRun = db
      .prepare<[{ now: number; pid: number; command: string; dryRun: 0 | 1 }], number>(
        'INSERT INTO runs (started_at, pid, command, dry_run) VALUES (@now, @pid, @command, @dryRun) RETURNING id',
      )
      .pluck();
    // A run purged meanwhile (a `watch` older than ledgerDays) just loses this row.
    this.insertAccountRun = db.prepare<[AccountRunRow]>(
      `INSERT INTO run_accounts (run_id, account, status, fetched, processed, failed, transitions, error, duration_ms)
       SELECT @run_id, @account, @status, @fetched, @processed, @failed, @transitions, @error, @duration_ms
       WHERE EXISTS (SELECT 1 FROM runs WHERE id = @run_id)`,
    );
    this.updateRunEnd = db.prepare<[{ id: number; now: number; exitCode: number }]>(
      'UPDATE runs SET ended_at = @now, exit_code = @exitCode WHERE id = @id',
    );
    this.selectAccountRuns = db.prepare<[{ ids: string; account: string | null }], AccountRunRow>(
      `SELECT run_id, account, status, fetched, processed, failed, transitions, error, duration_ms
       FROM run_accounts WHERE run_id IN (SELECT value FROM json_each(@ids)) AND (@account IS NULL OR account = @account)
       ORDER BY id`,
    );

    this.beginTx = db.transaction((info: { pid: number; command: string; dryRun: boolean }) => {
      const id = this.insertRun.get({ now: context.now(), pid: info.pid, command: info.command, dryRun: info.dryRun ? 1 : 0 });
      if (id === undefined) throw new Error('runs: INSERT returned no id');
      return id;
    });
    this.accountTx = db.transaction((row: AccountRunRow) => void this.insertAccountRun.run(row));
    this.endTx = db.transaction((id: number, exitCode: number) => void this.updateRunEnd.run({ id, now: context.now(), exitCode }));
  }

  beginRun(info: { pid: number; command: string; dryRun: boolean }): number {
    const id = this.beginTx.immediate(info);
    this.active.add(id);
    return id;
  }

  /** Runs begun here and not ended: purge keeps them whatever their age. */
  activeRuns(): number[] {
    return [...this.active];
  }

  recordAccountRun(runId: number, result: AccountRunRecord): void {
    this.accountTx.immediate({
      run_id: runId,
      account: result.account,
      status: result.status,
      fetched: result.fetched,
      processed: result.processed,
      failed: result.failed,
      transitions: result.transitions,
      error: result.error,
      duration_ms: Math.round(result.durationMs),
    });
  }

  endRun(runId: number, exitCode: number): void {
    this.endTx.immediate(runId, exitCode);
    this.active.delete(runId);
  }

  /**
   * Runs newest first, each with its account rows (only `query.account`'s when given), and
   * message rows newest first by `updatedAt`. `since` keeps runs that started or ended at or
   * after it and messages updated at or after it; `state` filters messages only. `limit`
   * (default 50) applies to each list.
   */
  history(query: HistoryQuery): { runs: RunRecord[]; messages: MessageRecord[] } {
    const limit = query.limit === undefined ? DEFAULT_HISTORY_LIMIT : Math.max(0, Math.floor(query.limit));
    const params = { account: query.account ?? null, since: query.since ?? null, state: query.state ?? null, limit };
    // One read transaction: runs and messages from the same snapshot.
    return this.context.db.transaction(() => {
      const runRows = this.runQuery(query).all(params);
      const accounts = new Map<number, AccountRunRecord[]>();
      if (runRows.length > 0) {
        for (const row of this.selectAccountRuns.all({ ids: JSON.stringify(runRows.map((run) => run.id)), account: params.account })) {
          let list = accounts.get(row.run_id);
          if (!list) accounts.set(row.run_id, (list = []));
          list.push(toAccountRunRecord(row));
        }
      }
      const runs = runRows.map((row) => toRunRecord(row, accounts.get(row.id) ?? []));
      const messages = this.messageQuery(query).all(params).map(toMessageRecord);
      return { runs, messages };
    })();
  }

  /** The SQL depends on which filters are set, so each query can use its index. */
  private runQuery(query: HistoryQuery): Database.Statement<[Record<string, unknown>], RunRow> {
    const key = `${query.account !== undefined}${query.since !== undefined}`;
    let statement = this.runQueries.get(key);
    if (!statement) {
      const where: string[] = [];
      if (query.account !== undefined) where.push('EXISTS (SELECT 1 FROM run_accounts ra WHERE ra.run_id = r.id AND ra.account = @account)');
      if (query.since !== undefined) where.push('coalesce(r.ended_at, r.started_at) >= @since');
      statement = this.context.db.prepare<[Record<string, unknown>], RunRow>(
        `SELECT r.id, r.started_at, r.ended_at, r.pid, r.command, r.dry_run, r.exit_code FROM runs r
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY r.id DESC LIMIT @limit`,
      );
      this.runQueries.set(key, statement);
    }
    return statement;
  }

  private messageQuery(query: HistoryQuery): Database.Statement<[Record<string, unknown>], MessageTuple> {
    const key = `${query.account !== undefined}${query.since !== undefined}${query.state !== undefined}`;
    let statement = this.messageQueries.get(key);
    if (!statement) {
      const where: string[] = [];
      if (query.account !== undefined) where.push('m.account = @account');
      if (query.since !== undefined) where.push('m.updated_at >= @since');
      if (query.state !== undefined) where.push('m.state = @state');
      statement = this.context.db
        .prepare<[Record<string, unknown>], MessageTuple>(
          `SELECT ${MESSAGE_COLUMNS} FROM messages m ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY m.updated_at DESC, m.ref DESC LIMIT @limit`,
        )
        .raw();
      this.messageQueries.set(key, statement);
    }
    return statement;
  }
}

function toRunRecord(row: RunRow, accounts: AccountRunRecord[]): RunRecord {
  return {
    id: row.id,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    pid: row.pid,
    command: row.command,
    dryRun: row.dry_run === 1,
    exitCode: row.exit_code,
    accounts,
  };
}

function toAccountRunRecord(row: AccountRunRow): AccountRunRecord {
  return {
    account: row.account,
    status: row.status,
    fetched: row.fetched,
    processed: row.processed,
    failed: row.failed,
    transitions: row.transitions,
    error: row.error,
    durationMs: row.duration_ms,
  };
}
