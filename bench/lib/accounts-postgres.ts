/**
 * The PostgreSQL store of the accounts bench: the tests' private cluster
 * (test/helpers/postgres.ts: initdb/pg_ctl, as the postgres user when root; fsync,
 * synchronous_commit and full_page_writes off), restarted once with pg_stat_statements
 * loaded, and a fresh database per case. What a case cost the database is read from the
 * server's own statistics in the case's database: statements executed (pg_stat_statements
 * `calls`, BEGIN and COMMIT included: each is a round trip for the pg driver) and the
 * explicit transactions among them (the `calls` of COMMIT). pg_stat_statements counts a
 * statement when it ends, so a reading while the processes run is exact;
 * pg_stat_database's `xact_commit` is flushed by each backend only every few seconds.
 */
import { findServerBin, startPostgres, type Postgres } from '../../test/helpers/postgres.js';

export interface DatabaseCost {
  /** Statements executed in the case's database (pg_stat_statements, summed `calls`). */
  statements: number;
  /** COMMITs among them (explicit transactions; a statement outside one commits alone). */
  commits: number;
}

export class BenchPostgres {
  readonly #postgres: Postgres;
  readonly version: string;

  private constructor(postgres: Postgres, version: string) {
    this.#postgres = postgres;
    this.version = version;
  }

  static installed(): boolean {
    return findServerBin() !== undefined;
  }

  static async start(): Promise<BenchPostgres> {
    const postgres = await startPostgres();
    try {
      // A preload library needs a restart; ALTER SYSTEM keeps it across the helper's restart.
      await postgres.query("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
      await postgres.restart();
      await postgres.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      const [row] = await postgres.query<{ server_version: string }>('SHOW server_version');
      return new BenchPostgres(postgres, row?.server_version ?? '?');
    } catch (error) {
      await postgres.stop();
      throw error;
    }
  }

  /** A fresh database for one case; its URL (the cluster's password in it). */
  async createDatabase(): Promise<{ url: string; name: string }> {
    const url = await this.#postgres.createDatabase();
    return { url, name: new URL(url).pathname.slice(1) };
  }

  /** Statements and COMMITs executed in `database` so far. */
  async cost(database: string): Promise<DatabaseCost> {
    const [row] = await this.#postgres.query<{ calls: string | null; commits: string | null }>(
      `SELECT sum(s.calls)::text AS calls, (sum(s.calls) FILTER (WHERE upper(btrim(s.query)) IN ('COMMIT', 'END')))::text AS commits
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1`,
      [database],
    );
    return { statements: Number(row?.calls ?? 0), commits: Number(row?.commits ?? 0) };
  }

  async stop(): Promise<void> {
    await this.#postgres.stop();
  }
}
