import { loadConfig } from '../../config/load.js';
import { selectAccounts } from '../../config/select.js';
import type { ExitCode } from '../../errors.js';
import { checkAccounts } from '../../poll/check.js';
import { createOutput } from '../output.js';

export interface CheckCommandOptions {
  config?: string | undefined;
  account?: string[] | undefined;
  json?: boolean | undefined;
  verbose?: boolean | undefined;
}

/** `mailpoll check`: log in to each account and show its counts; exit 3 if any fails. */
export async function checkCommand(options: CheckCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const config = await loadConfig({ configFile: options.config, accounts: options.account });
  const accounts = selectAccounts(config, options.account);
  return checkAccounts({ accounts, reporter: output.reporter, debug: output.debug });
}
