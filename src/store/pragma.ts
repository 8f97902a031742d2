/**
 * PRAGMAs and one-off reads without throwaway statements.
 *
 * better-sqlite3 12 built for Node 24 aborts the whole process (SIGABRT in
 * RemoveEnvironmentCleanupHook) when the garbage collector frees a Statement: Node 24's
 * ObjectWrap destructor needs a current environment. `db.pragma()` makes a new Statement on
 * every call. So settings go through `exec` (no JS statement at all), and reads use one
 * statement per SQL text, kept as long as the database, like every other prepared statement
 * of the store.
 */
import type Database from 'better-sqlite3';

const statements = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** `PRAGMA name = value`, or any statement without a result. */
export function setPragma(db: Database.Database, assignment: string): void {
  db.exec(`PRAGMA ${assignment}`);
}

/** The first column of the first row of `sql` (e.g. `PRAGMA user_version`). */
export function readScalar(db: Database.Database, sql: string): unknown {
  let cache = statements.get(db);
  if (cache === undefined) {
    cache = new Map();
    statements.set(db, cache);
  }
  let statement = cache.get(sql);
  if (statement === undefined) {
    statement = db.prepare(sql).pluck();
    cache.set(sql, statement);
  }
  return statement.get();
}
