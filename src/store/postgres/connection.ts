/**
 * The store's connections: a `pg` Pool, and the two ways the store's parts talk through it,
 * a statement on any connection (`Sql`) and a transaction on one (`transaction`). Rows come
 * back as arrays (the store's parts map them by position, as the SQLite side does), and
 * bigint columns as numbers: timestamps in milliseconds and refs stay far below 2^53.
 *
 * A server that goes away (restart, fast shutdown) sends an `error` event to idle connections
 * and to one held for a transaction; without a listener on both, Node ends the process. Here
 * both have one: the broken connection is dropped, and the next call connects again or fails
 * with a StoreError.
 */
import type { Pool, PoolClient, QueryArrayConfig, QueryArrayResult } from 'pg';

/** What the store's parts query through: the pool, or one connection inside a transaction. */
export interface Sql {
  /** Rows of `text` as arrays, in column order. */
  rows<Row extends unknown[]>(text: string, values?: readonly unknown[]): Promise<Row[]>;
  /** The first column of the first row; undefined when there is no row. */
  value<Value>(text: string, values?: readonly unknown[]): Promise<Value | undefined>;
  /** Rows affected. */
  run(text: string, values?: readonly unknown[]): Promise<number>;
  /** A query the caller configures whole (its own type parsers), rows as arrays. */
  raw(config: QueryArrayConfig): Promise<QueryArrayResult>;
}

export interface TransactionOptions {
  /** `REPEATABLE READ READ ONLY`: several reads from one snapshot. */
  snapshot?: boolean;
  /** Roll back instead of committing: the work's result is kept (a preview). */
  rollback?: boolean;
}

const INT8_OID = 20;

/** Type parsers of the store's pool: bigint as a number, everything else as `pg` parses it. */
export function storeTypes(fallback: (oid: number, format: 'text' | 'binary') => (value: string) => unknown) {
  return {
    getTypeParser(oid: number, format: 'text' | 'binary' = 'text') {
      if (oid === INT8_OID && format === 'text') return (value: string) => Number(value);
      return fallback(oid, format);
    },
  };
}

class Queries implements Sql {
  constructor(private readonly target: Pick<Pool, 'query'> | PoolClient) {}

  async rows<Row extends unknown[]>(text: string, values: readonly unknown[] = []): Promise<Row[]> {
    const result = await this.target.query<Row>({ text, values: [...values], rowMode: 'array' });
    return result.rows;
  }

  async value<Value>(text: string, values: readonly unknown[] = []): Promise<Value | undefined> {
    const rows = await this.rows<[Value]>(text, values);
    return rows[0]?.[0];
  }

  async run(text: string, values: readonly unknown[] = []): Promise<number> {
    const result = await this.target.query({ text, values: [...values] });
    return result.rowCount ?? 0;
  }

  raw(config: QueryArrayConfig): Promise<QueryArrayResult> {
    return this.target.query(config);
  }
}

export class Connection extends Queries {
  private ended = false;

  constructor(private readonly pool: Pool) {
    super(pool);
    // Idle connections the server closed: the pool drops them; nothing else to do.
    pool.on('error', () => undefined);
  }

  /** Whether `close` was called: a lease's renew and release then do nothing. */
  get closed(): boolean {
    return this.ended;
  }

  /**
   * `work` inside BEGIN ... COMMIT on one connection; ROLLBACK when it throws (and then the
   * error goes on). A connection whose ROLLBACK fails too is broken: it is destroyed, not
   * given back to the pool.
   */
  async transaction<T>(work: (sql: Sql) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const client = await this.pool.connect();
    const onError = (): void => undefined;
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      await client.query(options.snapshot ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
      try {
        const result = await work(new Queries(client));
        await client.query(options.rollback ? 'ROLLBACK' : 'COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      }
    } catch (error) {
      broken ??= isConnectionLost(error) ? (error as Error) : undefined;
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.pool.end();
  }
}

/** The connection itself failed (not the statement): it must not be reused. */
function isConnectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && (/^(08|57P)/.test(code) || code.startsWith('E'))) return true;
  return error instanceof Error && /Connection terminated|not queryable/i.test(error.message);
}
