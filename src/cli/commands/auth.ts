/**
 * `mailpoll auth login ACCOUNT` (the first refresh token of an `auth: oauth2` account: the
 * device-code flow where the provider has one, else the browser with a loopback redirect)
 * and `mailpoll auth status [ACCOUNT]` (grant, expiry, last refresh; never a token).
 */
import { loadConfig } from '../../config/load.js';
import { selectAccounts } from '../../config/select.js';
import type { AccountConfig } from '../../config/types.js';
import { ExitCode, UsageError } from '../../errors.js';
import { signInWithDeviceCode } from '../../oauth2/device-login.js';
import { signInWithBrowser } from '../../oauth2/loopback-login.js';
import { readTokenStatus, storeSignIn } from '../../oauth2/tokens.js';
import { createOutput } from '../output.js';

export interface AuthCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  json?: boolean | undefined;
  /** `login`: the browser flow even when there is a device endpoint. */
  browser?: boolean | undefined;
}

function oauth2Accounts(accounts: AccountConfig[]): AccountConfig[] {
  return accounts.filter((account) => account.auth === 'oauth2' && account.oauth2 !== undefined);
}

/** `auth login ACCOUNT`. */
export async function authLoginCommand(name: string, options: AuthCommandOptions, signal: AbortSignal): Promise<ExitCode> {
  const output = createOutput({});
  const config = await loadConfig({ configFile: options.config, accounts: [name], store: options.store });
  const [account] = selectAccounts(config, [name]);
  const oauth2 = account?.oauth2;
  if (account === undefined || oauth2 === undefined || account.auth !== 'oauth2') throw new UsageError(`${name}: not an auth: oauth2 account; nothing to sign in`);
  if (oauth2.accessTokenCommand !== undefined) throw new UsageError(`${name}: gets its tokens from accessTokenCommand; sign in with that tool instead`);
  if (oauth2.grant === 'client_credentials') throw new UsageError(`${name}: grant: client_credentials signs in with the client secret alone; nothing to sign in (check it with mailpoll check -a ${name})`);
  const useDevice = oauth2.deviceAuthorizationUrl !== undefined && !options.browser;
  if (!useDevice && oauth2.authorizationUrl === undefined) {
    throw new UsageError(`${name}: neither oauth2.deviceAuthorizationUrl nor oauth2.authorizationUrl is set: mailpoll cannot sign in to this provider. Set one of them.`);
  }
  const flow = { tell: output.err, signal };
  const answer = useDevice ? await signInWithDeviceCode(name, oauth2, flow) : await signInWithBrowser(name, oauth2, flow);
  await storeSignIn(account, answer, process.env);
  output.err(`${name}: signed in; the refresh token is stored as ${oauth2.tokenSecret} in ${oauth2.secrets?.file}`);
  return ExitCode.ok;
}

/** `auth status [ACCOUNT]`. */
export async function authStatusCommand(name: string | undefined, options: AuthCommandOptions): Promise<ExitCode> {
  const output = createOutput({});
  const selected = name === undefined ? undefined : [name];
  const config = await loadConfig({ configFile: options.config, accounts: selected, store: options.store, resolveSecrets: false });
  const accounts = oauth2Accounts(name === undefined ? config.accounts : selectAccounts(config, selected));
  if (accounts.length === 0) {
    if (name !== undefined) throw new UsageError(`${name}: not an auth: oauth2 account`);
    output.err('no account uses auth: oauth2');
    return ExitCode.ok;
  }
  let missing = false;
  for (const account of accounts) {
    const status = await readTokenStatus(account, process.env);
    if (status.source === 'missing' && status.grant === 'refresh_token') missing = true;
    if (options.json) {
      output.json('auth-status', status);
      continue;
    }
    const parts = [`${status.account}: grant ${status.grant}`];
    if (status.source === 'accessTokenCommand') parts.push('tokens from accessTokenCommand');
    else if (status.source === 'missing') parts.push(status.grant === 'refresh_token' ? `not signed in (run mailpoll auth login ${status.account})` : 'no token fetched yet');
    else {
      if (status.grant === 'refresh_token') parts.push(status.hasRefreshToken ? 'refresh token stored' : `no refresh token (run mailpoll auth login ${status.account})`);
      parts.push(`access token expires ${status.accessTokenExpires ?? 'unknown'}`, `last refresh ${status.lastRefresh ?? 'never'}`);
    }
    output.out(parts.join(', '));
  }
  return missing ? ExitCode.accountFailed : ExitCode.ok;
}
