/**
 * `accountsTable: true`: accounts kept in the store's database instead of (or beside) the
 * config file, so that an application adds and removes mailboxes without a redeploy. Each row
 * is one entry of the config's `accounts` (the same keys, as JSON; its name in a column of its
 * own), with its secrets only by reference: `passwordEnv`, `passwordFile`, `passwordCommand`,
 * `passwordSecret` (and the same sources of an OAuth2 client secret or a proxy password). A
 * literal `password`, `oauth2.clientSecret` or a password inside `proxy` is refused by the
 * table itself. The config layer checks the rest as it checks the file's accounts
 * (config/accounts-table.ts).
 *
 * Workers see a change within one heartbeat: `revision()` is one small read that moves with
 * every write to the table; when it moved, `list()` reads the accounts again.
 */

/** One row of the accounts table. */
export interface TableAccount {
  /** The account's name (unique). */
  name: string;
  /** The account's keys as written (what a config file's `accounts` entry holds), `name` aside. */
  account: Record<string, unknown>;
  /** Grows with every write to this row. */
  version: number;
  /** When the row was last written (the database's clock, milliseconds). */
  updatedAt: number;
}

export interface AccountsSnapshot {
  /** The table's revision these rows are at. */
  revision: number;
  /** Every row, by name. */
  accounts: TableAccount[];
}

export interface AccountsTable {
  /** A number that changes with every insert, update or delete in the table (never goes back). */
  revision(): Promise<number>;
  /** Every account and the revision they are at, read from one snapshot. */
  list(): Promise<AccountsSnapshot>;
  /** One account by name; undefined when there is none. */
  get(name: string): Promise<TableAccount | undefined>;
}

/** A store that has an accounts table (PostgreSQL). */
export interface AccountsTableStore {
  accountsTable(): AccountsTable;
}

/** Whether `store` has an accounts table: true for a PostgreSQL store (`accountsTable: true` needs one). */
export function hasAccountsTable<T extends object>(store: T): store is T & AccountsTableStore {
  return typeof (store as Partial<AccountsTableStore>).accountsTable === 'function';
}
