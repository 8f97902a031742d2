import { loadConfig } from '../../config/load.js';
import { selectAccounts } from '../../config/select.js';
import type { AccountConfig, Config } from '../../config/types.js';
import { ExitCode } from '../../errors.js';
import { checkCommand } from '../../handler/command.js';
import { loadHandler } from '../../handler/load.js';
import { SECRET_PLACEHOLDER } from '../../redact.js';
import { createOutput } from '../output.js';

export interface ValidateCommandOptions {
  config?: string | undefined;
  account?: string[] | undefined;
  script?: string | undefined;
  verbose?: boolean | undefined;
}

/**
 * `mailpoll validate`: load the config as a run would (password sources resolved, handler
 * modules loaded) and print it resolved, secrets shown as `***`. Contacts no server.
 */
export async function validateCommand(options: ValidateCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const config = await loadConfig({ configFile: options.config, accounts: options.account, script: options.script });
  const accounts = selectAccounts(config, options.account);
  for (const script of new Set(accounts.map((account) => account.script))) {
    if (script !== undefined) await loadHandler(script);
  }
  for (const account of accounts) {
    if (account.command !== undefined) await checkCommand(account.command);
  }
  // One line at a time: `out` escapes line breaks (JSON.stringify leaves none inside strings).
  for (const line of JSON.stringify(printable(config), null, 2).split('\n')) output.out(line);
  output.err(`${config.file ?? 'config'}: ok (${accounts.length} of ${config.accounts.length} accounts selected)`);
  return ExitCode.ok;
}

function printable(config: Config): unknown {
  return { file: config.file, accounts: config.accounts.map(printableAccount) };
}

/** The account in its own key order, the password as `***` and of its spec only the source (a literal password, a command line, a path stay out). */
function printableAccount(account: AccountConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(account)) {
    if (key === 'password') shown.password = value === undefined ? undefined : SECRET_PLACEHOLDER;
    else if (key === 'passwordSpec') shown.passwordSource = account.passwordSpec?.source;
    else if (key === 'proxy') shown.proxy = account.proxy?.display;
    else if (key === 'webhook' && account.webhook?.secret !== undefined) shown.webhook = { ...account.webhook, secret: SECRET_PLACEHOLDER };
    else shown[key] = value;
  }
  return shown;
}
