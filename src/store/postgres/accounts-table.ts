/**
 * The accounts table on PostgreSQL (`mailpoll.accounts`, migration 2; what it is for:
 * ../accounts-table.ts). Applications write it with plain SQL; triggers stamp each row's
 * version and bump `mailpoll.accounts_revision` once per writing statement, under that one
 * row's lock, so the revision grows in commit order and a reader never misses a change.
 */
import type { AccountsSnapshot, AccountsTable, TableAccount } from '../accounts-table.js';
import type { Connection } from './connection.js';

type Guard = <T>(work: () => Promise<T>) => Promise<T>;
type AccountRow = [name: string, account: Record<string, unknown>, version: number, updatedAt: number];

const SELECT_ACCOUNTS =
  'SELECT name, account, version, (extract(epoch FROM updated_at) * 1000)::bigint FROM mailpoll.accounts';

export class PostgresAccountsTable implements AccountsTable {
  constructor(
    private readonly connection: Connection,
    private readonly guard: Guard,
  ) {}

  revision(): Promise<number> {
    return this.guard(async () => (await this.connection.value<number>('SELECT revision FROM mailpoll.accounts_revision')) ?? 0);
  }

  list(): Promise<AccountsSnapshot> {
    return this.guard(() =>
      this.connection.transaction(
        async (sql) => {
          const revision = (await sql.value<number>('SELECT revision FROM mailpoll.accounts_revision')) ?? 0;
          const rows = await sql.rows<AccountRow>(`${SELECT_ACCOUNTS} ORDER BY name`);
          return { revision, accounts: rows.map(toAccount) };
        },
        { snapshot: true },
      ),
    );
  }

  get(name: string): Promise<TableAccount | undefined> {
    return this.guard(async () => {
      const [row] = await this.connection.rows<AccountRow>(`${SELECT_ACCOUNTS} WHERE name = $1`, [name]);
      return row === undefined ? undefined : toAccount(row);
    });
  }
}

function toAccount([name, account, version, updatedAt]: AccountRow): TableAccount {
  // The name is the column's (the table refuses a different one inside the JSON).
  const keys = { ...account };
  delete keys.name;
  return { name, account: keys, version, updatedAt };
}
