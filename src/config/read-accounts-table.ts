/**
 * Reading the accounts table (`accountsTable: true`) for a run: the rows at one revision,
 * each checked and resolved as a file account (`Config.accountsTable`), then its secrets
 * resolved on their own, so that one row whose `passwordEnv` is unset is refused alone and
 * the other accounts still run. What the watch reads again on every change of the revision.
 */
import { ConfigError } from '../errors.js';
import type { SecretsLocation } from '../secrets/store.js';
import type { AccountsTable } from '../store/accounts-table.js';
import { resolvePasswords } from './resolve-passwords.js';
import type { AccountConfig, Config, RefusedTableAccount, TableAccountsBuilder } from './types.js';

/** An account read before: reused as it is while neither its row nor the config changed (a passwordCommand is not run again). */
export interface ReadAccount {
  row: string;
  builder: TableAccountsBuilder;
  account: AccountConfig;
}

export interface TableAccountsRead {
  /** The table's revision the rows are at. */
  revision: number;
  /** The usable accounts, their secrets resolved, in the table's order (by name). */
  accounts: AccountConfig[];
  refused: RefusedTableAccount[];
  /** What the next read may reuse, by account name. */
  read: Map<string, ReadAccount>;
}

export interface ReadAccountsTableOptions {
  /** Source of `passwordEnv` and the environment of `passwordCommand`. Default process.env. */
  env?: NodeJS.ProcessEnv | undefined;
  /** Only these names need their secrets resolved (`-a NAME`); default every enabled account. */
  names?: readonly string[] | undefined;
  /** The previous read's `read`. */
  previous?: ReadonlyMap<string, ReadAccount> | undefined;
  /** Resolve the accounts' secrets (default true); false for a listing that only names them. */
  resolveSecrets?: boolean | undefined;
}

/** The table's accounts under `config` (which must have `accountsTable`). Throws only when the table cannot be read. */
export async function readAccountsTable(config: Config, table: AccountsTable, options: ReadAccountsTableOptions = {}): Promise<TableAccountsRead> {
  const builder = config.accountsTable;
  if (builder === undefined) throw new Error('readAccountsTable: the config does not read the accounts table');
  const snapshot = await table.list();
  const { accounts, refused } = builder(snapshot.accounts);
  const rows = new Map(snapshot.accounts.map((row) => [row.name, JSON.stringify(row.account)]));
  const read = new Map<string, ReadAccount>();
  const usable: AccountConfig[] = [];
  const wanted = (account: AccountConfig) => (options.names?.length ? options.names.includes(account.name) : account.enabled);
  await Promise.all(
    accounts.map(async (account) => {
      const row = rows.get(account.name) ?? '';
      const before = options.previous?.get(account.name);
      if (before !== undefined && before.row === row && before.builder === builder) {
        read.set(account.name, before);
        return;
      }
      if (options.resolveSecrets !== false && wanted(account)) {
        const problem = await resolveSecretsOf(account, options.env, config.secrets);
        if (problem !== undefined) {
          refused.push({ account: account.name, problems: problem });
          return;
        }
      }
      read.set(account.name, { row, builder, account });
    }),
  );
  for (const account of accounts) {
    const kept = read.get(account.name);
    if (kept !== undefined) usable.push(kept.account);
  }
  refused.sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0));
  return { revision: snapshot.revision, accounts: usable, refused, read };
}

/** The account's secrets resolved in place; the problem lines when a source gives none. */
async function resolveSecretsOf(account: AccountConfig, env: NodeJS.ProcessEnv | undefined, secrets: SecretsLocation | undefined): Promise<string[] | undefined> {
  try {
    await resolvePasswords([account], { env, secrets });
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}
