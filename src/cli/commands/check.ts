import { existsSync } from 'node:fs';
import { loadConfig } from '../../config/load.js';
import { selectAccounts } from '../../config/select.js';
import type { AccountConfig } from '../../config/types.js';
import { ExitCode, worstExitCode } from '../../errors.js';
import { mailboxIdentity } from '../../mailbox/identity.js';
import { checkAccounts } from '../../poll/check.js';
import type { Store } from '../../store/types.js';
import { insecureTlsWarnings } from '../insecure-tls.js';
import { createOutput } from '../output.js';
import { openExistingCliStore } from '../store.js';
import { joinAccountsTable } from '../accounts-table.js';

export interface CheckCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  account?: string[] | undefined;
  json?: boolean | undefined;
  verbose?: boolean | undefined;
}

/**
 * `mailpoll check`: log in to each account and show its counts, and how many of its messages
 * the store has quarantined; exit 3 if any fails. A store that does not exist yet is not created.
 */
export async function checkCommand(options: CheckCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const config = await loadConfig({ configFile: options.config, accounts: options.account, store: options.store });
  if (config.accountsTable === undefined) selectAccounts(config, options.account);
  const location = { store: options.store, config };
  const store: Store | undefined = await openExistingCliStore(location);
  try {
    // A refused row of the accounts table fails its account, as a login that fails would.
    const table = store === undefined ? undefined : await joinAccountsTable(config, store, options.account);
    for (const refused of table?.refused ?? []) for (const line of refused.problems) output.err(`${refused.account}: ${line}`);
    const accounts = selectAccounts(config, options.account);
    for (const line of insecureTlsWarnings(accounts)) output.err(line);
    const quarantined = store === undefined ? undefined : (account: AccountConfig) => store.quarantinedCount(mailboxIdentity(account));
    const exitCode = await checkAccounts({ accounts, reporter: output.reporter, logger: output.logger, quarantined });
    return table !== undefined && table.refused.length > 0 ? worstExitCode([exitCode, ExitCode.accountFailed]) : exitCode;
  } finally {
    await store?.close();
  }
}
