/**
 * A watching worker's accounts while it runs: the config file's (replaced on a SIGHUP that
 * changes only accounts) and, with `accountsTable: true`, the table's, read again whenever its
 * revision moved (one small query per heartbeat). Each answer is the whole list, selected as
 * at the start (`-a NAME`); the worker loop works out what was added, removed or changed.
 */
import { readAccountsTable, type TableAccountsRead } from '../config/read-accounts-table.js';
import { selectAccounts } from '../config/select.js';
import type { AccountConfig, Config } from '../config/types.js';
import type { Store } from '../store/types.js';
import type { AccountsFeed, AccountsUpdate } from '../watch/worker-loop.js';
import { accountsTableOf, refuseWithoutHandler } from './accounts-table.js';

export interface WatchAccountsFeed extends AccountsFeed {
  /** The first list (the table read once): what the watch starts with. An unknown `-a NAME` is a ConfigError, as without the table. */
  start(): Promise<AccountsUpdate>;
  /**
   * A reloaded config whose other settings are unchanged: its accounts apply from the next
   * heartbeat. Returns how many accounts that will be (the table's as last read), for the line
   * that says the config was reloaded.
   */
  useConfig(config: Config): number;
}

export function createAccountsFeed(initial: Config, store: Store, names: readonly string[] | undefined): WatchAccountsFeed {
  let config = initial;
  // The file's accounts as loaded: `config.accounts` is never joined with the table here.
  let fileAccounts: readonly AccountConfig[] = initial.accounts.slice();
  let configChanged = false;
  let last: TableAccountsRead | undefined;

  const read = async (): Promise<AccountsUpdate> => {
    const table = accountsTableOf(config, store);
    let reason = 'SIGHUP';
    if (table === undefined) last = undefined;
    else {
      const before = last?.revision;
      const next = await readAccountsTable(config, table, { names, previous: last?.read });
      await refuseWithoutHandler(next, names);
      last = next;
      if (!configChanged) reason = `the accounts table changed (revision ${before ?? 0} to ${next.revision})`;
    }
    configChanged = false;
    return { accounts: selected(), refused: last?.refused ?? [], reason };
  };
  // The file's accounts and the table's as last read, as `-a NAME` or `enabled` select them.
  const selected = (): AccountConfig[] => {
    const all = [...fileAccounts, ...(last?.accounts ?? [])];
    return names?.length ? all.filter((account) => names.includes(account.name)) : all.filter((account) => account.enabled);
  };

  return {
    async start() {
      const first = await read();
      // As without the table: a name that is nowhere stops the watch before it starts.
      selectAccounts({ ...config, accounts: [...fileAccounts, ...(last?.accounts ?? [])] }, names);
      return first;
    },
    async poll() {
      if (!configChanged) {
        const table = accountsTableOf(config, store);
        if (table === undefined || (await table.revision()) === last?.revision) return undefined;
      }
      return read();
    },
    useConfig(next) {
      config = next;
      fileAccounts = next.accounts.slice();
      if (accountsTableOf(next, store) === undefined) last = undefined;
      configChanged = true;
      return selected().length;
    },
  };
}
