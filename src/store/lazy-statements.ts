/**
 * A connection whose `prepare()` compiles each statement on its first use instead of at once.
 * The ledger prepares some twenty statements when the store opens; a cron run that finds no
 * new mail uses three of them, and compiling the rest was a tenth of its start-up.
 */
import type Database from 'better-sqlite3';

/** Modifiers a statement is prepared with (`.raw()`, `.pluck()`): applied when it is compiled. */
const MODIFIERS = new Set<PropertyKey>(['raw', 'pluck', 'expand', 'safeIntegers']);

export function preparingOnFirstUse(db: Database.Database): Database.Database {
  return new Proxy(db, {
    get(target, key, receiver) {
      if (key === 'prepare') return (source: string) => lazyStatement(() => target.prepare(source));
      const value: unknown = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function lazyStatement(prepare: () => Database.Statement): Database.Statement {
  const modifiers: Array<[PropertyKey, unknown[]]> = [];
  let statement: Database.Statement | undefined;
  const compiled = (): Database.Statement => {
    if (statement !== undefined) return statement;
    statement = prepare();
    for (const [name, args] of modifiers) (statement[name as 'raw'] as (...a: unknown[]) => unknown).apply(statement, args);
    return statement;
  };
  const stand: Database.Statement = new Proxy({} as Database.Statement, {
    get(_stub, key) {
      if (statement === undefined && MODIFIERS.has(key)) {
        return (...args: unknown[]) => {
          modifiers.push([key, args]);
          return stand;
        };
      }
      const real = compiled();
      const value: unknown = Reflect.get(real, key, real);
      return typeof value === 'function' ? value.bind(real) : value;
    },
  });
  return stand;
}
