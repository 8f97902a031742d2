/**
 * Resolving every secret an account names but the config does not hold: its password, an
 * OAuth2 client secret, a proxy password (environment, file, command or stored secret).
 * Apart from `load.ts` because it runs later: `validate` never resolves, a run does.
 */
import { ConfigError } from '../errors.js';
import { registerSecret } from '../redact.js';
import type { SecretsLocation } from '../secrets/store.js';
import { resolvePassword } from './secrets.js';
import type { AccountConfig } from './types.js';


export interface ResolvePasswordsOptions {
  /** Source of `passwordEnv` and the environment of `passwordCommand`. Default process.env. */
  env?: NodeJS.ProcessEnv | undefined;
  /** Where `passwordSecret` and `clientSecretSecret` read stored secrets. */
  secrets?: SecretsLocation | undefined;
}

/**
 * Fill in `password` for `accounts` from their `passwordSpec` (`passwordEnv`,
 * `passwordFile` or `passwordCommand`), in parallel, registering each value with `redact`.
 * Accounts that have a password already are skipped. Throws one ConfigError listing every
 * source that failed.
 */
export async function resolvePasswords(accounts: readonly AccountConfig[], options: ResolvePasswordsOptions = {}): Promise<void> {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  await Promise.all(
    accounts.map(async (account) => {
      const spec = account.passwordSpec;
      const oauth2 = account.oauth2;
      const clientSecret = oauth2?.clientSecretSpec;
      if (oauth2 !== undefined && clientSecret !== undefined && oauth2.clientSecret === undefined) {
        const result = await resolvePassword(clientSecret, { cwd: clientSecret.cwd, env, secrets: options.secrets });
        if (result.password !== undefined) oauth2.clientSecret = result.password;
        else problems.push(`${clientSecret.where}: ${result.problem}`);
      }
      const proxySpec = account.proxyPasswordSpec;
      if (proxySpec !== undefined && account.proxy !== undefined && account.proxy.password === undefined) {
        const result = await resolvePassword(proxySpec, { cwd: proxySpec.cwd, env, secrets: options.secrets });
        if (result.password === undefined) problems.push(`${proxySpec.where}: ${result.problem}`);
        else {
          // As a URL would carry it, too: a proxy's error may quote the encoded form.
          registerSecret(encodeURIComponent(result.password));
          account.proxy = { ...account.proxy, password: result.password };
        }
      }
      if (spec === undefined || account.password !== undefined) return;
      const result = await resolvePassword(spec, { cwd: spec.cwd, env, secrets: options.secrets });
      if (result.password !== undefined) account.password = result.password;
      else problems.push(`${spec.where}: ${result.problem}`);
    }),
  );
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
}
