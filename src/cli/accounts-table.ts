/**
 * A command's accounts with `accountsTable: true`: the table read from the command's store and
 * its usable rows appended to `config.accounts` (after the file's); the refused rows returned,
 * for the command to report as failed accounts. A store without the table is a config error.
 */
import { accountsTableNeedsPostgres } from '../config/load.js';
import { displayNameOf } from '../config/read-file.js';
import { readAccountsTable, type TableAccountsRead } from '../config/read-accounts-table.js';
import { formatPath } from '../config/schema.js';
import type { AccountConfig, Config, RefusedTableAccount } from '../config/types.js';
import { ConfigError, HandlerLoadError } from '../errors.js';
import { loadAccountHandler } from '../handler/load.js';
import type { RefusedAccount } from '../poll/account.js';
import { hasAccountsTable, type AccountsTable } from '../store/accounts-table.js';
import type { Store } from '../store/types.js';

/** The store's accounts table, for a config that reads it; undefined when it does not. */
export function accountsTableOf(config: Config, store: Store): AccountsTable | undefined {
  if (config.accountsTable === undefined) return undefined;
  if (!hasAccountsTable(store)) throw new ConfigError([accountsTableNeedsPostgres(config.file === undefined ? 'config' : displayNameOf(config.file, process.cwd()), store.path)]);
  return store.accountsTable();
}

/** Read the table and add its accounts to `config.accounts`; undefined when the config does not read it. `names`: `-a NAME`. */
export async function joinAccountsTable(config: Config, store: Store, names?: readonly string[]): Promise<TableAccountsRead | undefined> {
  const table = accountsTableOf(config, store);
  if (table === undefined) return undefined;
  const read = await readAccountsTable(config, table, { names });
  await refuseWithoutHandler(read, names);
  config.accounts.push(...read.accounts);
  read.refused = read.refused.filter((refused) => !names?.length || names.includes(refused.account));
  return read;
}

/**
 * Accounts of the table whose handler cannot be loaded (none named, a module that does not
 * load) are refused as their row's problem: in a run, a bad handler stops only that account.
 */
export async function refuseWithoutHandler(read: TableAccountsRead, names?: readonly string[]): Promise<void> {
  const usable: AccountConfig[] = [];
  for (const account of read.accounts) {
    const wanted = names?.length ? names.includes(account.name) : account.enabled;
    const problem = wanted ? await handlerProblem(account) : undefined;
    if (problem === undefined) usable.push(account);
    else {
      read.refused.push({ account: account.name, problems: [problem] });
      read.read.delete(account.name);
    }
  }
  read.accounts = usable;
}

async function handlerProblem(account: AccountConfig): Promise<string | undefined> {
  const at = formatPath(['accountsTable', account.name]);
  if (account.script === undefined && account.command === undefined && account.webhook === undefined && account.deliver === undefined) {
    return `${at}: no handler; set script, command, webhook or deliver in the row (or script at the top of the config)`;
  }
  try {
    await loadAccountHandler(account);
    return undefined;
  } catch (error) {
    if (error instanceof HandlerLoadError) return `${at}: ${[error.message, ...error.detail].join(' ')}`;
    throw error;
  }
}

/** A refused row as a failed account of a run: its name, the problems as one E_CONFIG error. */
export function refusedAccount(refused: RefusedTableAccount): RefusedAccount {
  return { account: refused.account, protocol: null, error: new ConfigError(`${refused.account}: ${refused.problems.join('; ')}`) };
}
