import { loadConfig } from '../../config/load.js';
import { selectAccounts } from '../../config/select.js';
import type { OAuth2Config } from '../../config/oauth2.js';
import type { AccountConfig, Config } from '../../config/types.js';
import { ExitCode, HandlerLoadError } from '../../errors.js';
import { loadAccountHandler } from '../../handler/load.js';
import { SECRET_PLACEHOLDER } from '../../redact.js';
import { createOutput } from '../output.js';
import { joinAccountsTable } from '../accounts-table.js';
import { openExistingCliStore } from '../store.js';

export interface ValidateCommandOptions {
  config?: string | undefined;
  account?: string[] | undefined;
  script?: string | undefined;
  verbose?: boolean | undefined;
}

/**
 * `mailpoll validate`: load the config as a run would (password sources resolved, every
 * handler loaded: modules imported, command programs checked, webhooks set up) and print it
 * resolved, secrets shown as `***`. Every handler problem is reported, each with the accounts
 * it belongs to, then exit 2. Contacts no mail server; with `accountsTable: true` it reads the
 * table from the store, and a refused row is a problem too.
 */
export async function validateCommand(options: ValidateCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const config = await loadConfig({ configFile: options.config, accounts: options.account, script: options.script });
  const refused = await readTableProblems(config, options.account);
  if (refused.length > 0) {
    for (const line of refused) output.err(line);
    output.err(`${config.file ?? 'config'}: ${refused.length} accounts table ${refused.length === 1 ? 'problem' : 'problems'}`);
    return ExitCode.usage;
  }
  const accounts = selectAccounts(config, options.account);
  const problems = await handlerProblems(accounts);
  if (problems.length > 0) {
    for (const { names, error } of problems) {
      output.err(`${names.join(', ')}: ${error.message}`);
      for (const line of error.detail) output.err(line);
    }
    output.err(`${config.file ?? 'config'}: ${problems.length} handler ${problems.length === 1 ? 'problem' : 'problems'}`);
    return ExitCode.usage;
  }
  // One line at a time: `out` escapes line breaks (JSON.stringify leaves none inside strings).
  for (const line of JSON.stringify(printable(config), null, 2).split('\n')) output.print(line);
  output.err(`${config.file ?? 'config'}: ok (${accounts.length} of ${config.accounts.length} accounts selected)`);
  return ExitCode.ok;
}

/**
 * With `accountsTable: true`: the table's accounts joined to the config's (from a store that
 * exists: validate creates none), and every problem of its refused rows, `accountsTable.NAME.key: ...`.
 */
async function readTableProblems(config: Config, names: readonly string[] | undefined): Promise<string[]> {
  if (config.accountsTable === undefined) return [];
  const store = await openExistingCliStore({ config });
  if (store === undefined) return [];
  try {
    const table = await joinAccountsTable(config, store, names);
    return table?.refused.flatMap((refused) => refused.problems) ?? [];
  } finally {
    await store.close();
  }
}

interface HandlerProblem {
  /** The accounts whose handler it is: a module shared by several is loaded and reported once. */
  names: string[];
  error: HandlerLoadError;
}

/** Load every account's handler, one after the other, and keep each load failure. */
async function handlerProblems(accounts: readonly AccountConfig[]): Promise<HandlerProblem[]> {
  const byHandler = new Map<string, HandlerProblem | undefined>();
  for (const account of accounts) {
    const key = account.command !== undefined || account.webhook !== undefined || account.deliver !== undefined ? `account:${account.name}` : `script:${account.script ?? ''}`;
    if (byHandler.has(key)) {
      byHandler.get(key)?.names.push(account.name);
      continue;
    }
    try {
      await loadAccountHandler(account);
      byHandler.set(key, undefined);
    } catch (error) {
      if (!(error instanceof HandlerLoadError)) throw error;
      byHandler.set(key, { names: [account.name], error });
    }
  }
  return [...byHandler.values()].filter((problem): problem is HandlerProblem => problem !== undefined);
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
    else if (key === 'oauth2' && account.oauth2 !== undefined) shown.oauth2 = printableOAuth2(account.oauth2);
    else if (key === 'proxy') shown.proxy = account.proxy?.display;
    else if (key === 'proxyPasswordSpec') shown.proxyPasswordSource = account.proxyPasswordSpec?.source;
    else if (key === 'webhook' && account.webhook?.secret !== undefined) shown.webhook = { ...account.webhook, secret: SECRET_PLACEHOLDER };
    else shown[key] = value;
  }
  return shown;
}

/** The OAuth2 login without its secrets: of the client secret and the token command only their source. */
function printableOAuth2(oauth2: OAuth2Config): Record<string, unknown> {
  const { clientSecretSpec, clientSecret: _secret, accessTokenCommand, secrets: _location, ...rest } = oauth2;
  return { ...rest, clientSecretSource: clientSecretSpec?.source, accessTokenCommand: accessTokenCommand === undefined ? undefined : SECRET_PLACEHOLDER };
}
