/**
 * The `auth: oauth2` login and its `oauth2:` block: the keys and their docs, the schema, the
 * cross-field rules and the resolved `OAuth2Config`, with the endpoints and scopes the named
 * providers fill in. No I/O: tokens are fetched by `src/oauth2/`.
 */
import * as z from 'zod';
import type { Protocol } from '../domain.js';
import type { SecretsLocation } from '../secrets/store.js';
import type { PasswordSource, PasswordSpec } from './secrets.js';

export type OAuth2Provider = 'microsoft' | 'google' | 'generic';
export type OAuth2Grant = 'refresh_token' | 'client_credentials';

/** An account's OAuth2 login, resolved: the named provider's endpoints and scope filled in. */
export interface OAuth2Config {
  provider: OAuth2Provider;
  /** Default `refresh_token`. */
  grant: OAuth2Grant;
  clientId: string | undefined;
  /** Where the client secret comes from (any password source); undefined for a public client. */
  clientSecretSpec: PasswordSpec | undefined;
  /** The resolved client secret (`resolvePasswords` fills it in). Never printed. */
  clientSecret: string | undefined;
  /** Microsoft's directory (tenant id or domain). Default `common` for delegated access. */
  tenant: string | undefined;
  tokenUrl: string | undefined;
  deviceAuthorizationUrl: string | undefined;
  authorizationUrl: string | undefined;
  scope: string | undefined;
  /** A command printing an access token, instead of the token endpoint. */
  accessTokenCommand: PasswordSpec | undefined;
  /** The stored secret that holds the refresh token and the cached access token: `oauth2:<account>`. */
  tokenSecret: string;
  /** Where stored secrets are (beside the store); set by `loadConfig`. */
  secrets: SecretsLocation | undefined;
}

const SERVER: readonly Protocol[] = ['imap', 'pop3'];

/** The account keys this file adds. */
export const OAUTH2_ACCOUNT_KEY_DOCS = {
  passwordSecret: {
    description: 'Name of a stored secret holding the password (`mailpoll secret set NAME`; README, "Stored secrets").',
    protocols: SERVER,
  },
  auth: {
    description: '`password` (USER/PASS, LOGIN) or `oauth2` (SASL OAUTHBEARER or XOAUTH2 with a token from `oauth2:`; no password source then).',
    default: 'password',
    protocols: SERVER,
  },
  oauth2: {
    description: 'The OAuth2 login of `auth: oauth2`: `{provider, clientId, clientSecret…, tenant, grant, scope, tokenUrl…}` or `{accessTokenCommand}` (README, "OAuth2"). An account\'s own block replaces the one in `defaults`.',
    protocols: SERVER,
  },
} as const;

/** The keys of the `oauth2` object. */
export const OAUTH2_KEY_DOCS = {
  provider: { description: '`microsoft`, `google` or `generic`: the first two fill in the endpoints and the scope.' },
  grant: { description: '`refresh_token` (a user signed in once with `mailpoll auth login`) or `client_credentials` (app-only: the client secret alone).', default: 'refresh_token' },
  clientId: { description: 'The application (client) id of the app registration. Required unless `accessTokenCommand` is set.' },
  clientSecret: { description: 'The client secret, literally (prefer one of the other sources). Required for `client_credentials`; public clients have none.' },
  clientSecretEnv: { description: 'Name of an environment variable holding the client secret.' },
  clientSecretFile: { description: 'File whose first line is the client secret (relative to the config file, `~/` allowed).' },
  clientSecretCommand: { description: 'Shell command printing the client secret on its first line.' },
  clientSecretSecret: { description: 'Name of a stored secret holding the client secret (`mailpoll secret set NAME`).' },
  tenant: { description: 'Microsoft: the directory (tenant) id or domain. Required for `client_credentials`.', default: 'common' },
  tokenUrl: { description: 'The token endpoint. Required for `generic`; overrides the named provider\'s.' },
  deviceAuthorizationUrl: { description: 'The device authorization endpoint (`mailpoll auth login` uses the device-code flow when there is one).' },
  authorizationUrl: { description: 'The authorization endpoint of the browser sign-in (`mailpoll auth login` without a device endpoint).' },
  scope: { description: 'Space-separated scopes. Required for `generic`; the named providers fill in the mail scope (README, "OAuth2").' },
  accessTokenCommand: { description: 'Shell command printing an access token on its first line (e.g. `oauth2.py`), instead of the keys above; run again when the server refuses its token.' },
} as const;

type OAuth2Key = keyof typeof OAUTH2_KEY_DOCS;

/** The client secret's sources, as password sources. */
export const CLIENT_SECRET_KEYS = {
  clientSecret: 'password',
  clientSecretEnv: 'passwordEnv',
  clientSecretFile: 'passwordFile',
  clientSecretCommand: 'passwordCommand',
  clientSecretSecret: 'passwordSecret',
} as const satisfies Record<string, PasswordSource>;
type ClientSecretKey = keyof typeof CLIENT_SECRET_KEYS;

const text = () => z.string().min(1, { error: 'expected a non-empty string' });
const url = () => text().refine((value) => /^https?:\/\/[^/]/i.test(value), { error: 'expected an http:// or https:// URL' });

/** The `oauth2` object as written. */
export const oauth2Schema = () =>
  z.strictObject({
    provider: z.enum(['microsoft', 'google', 'generic']).optional().describe(OAUTH2_KEY_DOCS.provider.description),
    grant: z.enum(['refresh_token', 'client_credentials']).optional().describe(OAUTH2_KEY_DOCS.grant.description),
    clientId: text().optional().describe(OAUTH2_KEY_DOCS.clientId.description),
    clientSecret: text().optional().describe(OAUTH2_KEY_DOCS.clientSecret.description),
    clientSecretEnv: text().optional().describe(OAUTH2_KEY_DOCS.clientSecretEnv.description),
    clientSecretFile: text().optional().describe(OAUTH2_KEY_DOCS.clientSecretFile.description),
    clientSecretCommand: text().optional().describe(OAUTH2_KEY_DOCS.clientSecretCommand.description),
    clientSecretSecret: text().optional().describe(OAUTH2_KEY_DOCS.clientSecretSecret.description),
    tenant: text().optional().describe(OAUTH2_KEY_DOCS.tenant.description),
    tokenUrl: url().optional().describe(OAUTH2_KEY_DOCS.tokenUrl.description),
    deviceAuthorizationUrl: url().optional().describe(OAUTH2_KEY_DOCS.deviceAuthorizationUrl.description),
    authorizationUrl: url().optional().describe(OAUTH2_KEY_DOCS.authorizationUrl.description),
    scope: text().optional().describe(OAUTH2_KEY_DOCS.scope.description),
    accessTokenCommand: text().optional().describe(OAUTH2_KEY_DOCS.accessTokenCommand.description),
  });

export type ParsedOAuth2 = z.output<ReturnType<typeof oauth2Schema>>;

/** The account keys the rules look at. */
export interface OAuth2Account {
  auth?: 'password' | 'oauth2' | undefined;
  oauth2?: ParsedOAuth2 | undefined;
  protocol?: Protocol | undefined;
}

const MICROSOFT_SPECIAL_TENANTS = new Set(['common', 'organizations', 'consumers']);

/**
 * Problem lines (`path: message`) of one account's OAuth2 settings; `where(keys)` is the path
 * of a key below the account; `own` the password keys it sets itself, which `auth: oauth2`
 * does not use.
 */
export function checkOAuth2(merged: OAuth2Account, own: readonly string[], where: (...keys: string[]) => string): string[] {
  const problems: string[] = [];
  const block = merged.oauth2;
  if (merged.auth !== 'oauth2') {
    if (block !== undefined) problems.push(`${where('oauth2')}: is used only with auth: oauth2; set auth: oauth2, or remove oauth2`);
    return problems;
  }
  for (const key of own) problems.push(`${where(key)}: auth: oauth2 logs in with a token, not a password; remove ${key}`);
  if (block === undefined) return [...problems, `${where('oauth2')}: is required with auth: oauth2 ({provider, clientId, …} or {accessTokenCommand})`];
  const set = (Object.keys(block) as OAuth2Key[]).filter((key) => block[key] !== undefined);
  const secrets = set.filter((key): key is ClientSecretKey => key in CLIENT_SECRET_KEYS);
  for (const key of secrets.slice(1)) problems.push(`${where('oauth2', key)}: conflicts with ${secrets[0]}; set only one client secret source`);
  if (block.accessTokenCommand !== undefined) {
    for (const key of set) {
      if (key !== 'accessTokenCommand' && key !== 'provider') problems.push(`${where('oauth2', key)}: not used with accessTokenCommand (the command gets the token); remove it`);
    }
    return problems;
  }
  if (block.provider === undefined) problems.push(`${where('oauth2', 'provider')}: is required (microsoft, google or generic), or set accessTokenCommand`);
  if (block.clientId === undefined) problems.push(`${where('oauth2', 'clientId')}: is required: the application (client) id of your app registration`);
  if (block.provider === 'generic') {
    if (block.tokenUrl === undefined) problems.push(`${where('oauth2', 'tokenUrl')}: is required with provider: generic`);
    if (block.scope === undefined) problems.push(`${where('oauth2', 'scope')}: is required with provider: generic`);
  }
  if (block.grant === 'client_credentials') {
    if (secrets.length === 0) problems.push(`${where('oauth2', 'clientSecret')}: grant: client_credentials needs a client secret (clientSecret, clientSecretEnv, clientSecretFile, clientSecretCommand or clientSecretSecret)`);
    if (block.provider === 'microsoft' && (block.tenant === undefined || MICROSOFT_SPECIAL_TENANTS.has(block.tenant.toLowerCase()))) {
      problems.push(`${where('oauth2', 'tenant')}: app-only access (client_credentials) needs your directory's tenant id or domain, not ${block.tenant ?? 'the default common'}`);
    }
  }
  if (block.tenant !== undefined && block.provider !== 'microsoft') problems.push(`${where('oauth2', 'tenant')}: applies to provider: microsoft only; remove it`);
  return problems;
}

interface Endpoints {
  tokenUrl: string | undefined;
  deviceAuthorizationUrl: string | undefined;
  authorizationUrl: string | undefined;
  scope: string | undefined;
}

/** The endpoints and scope of a named provider for `protocol` and `grant`. */
function providerEndpoints(provider: OAuth2Provider, tenant: string, protocol: Protocol, grant: OAuth2Grant): Endpoints {
  switch (provider) {
    case 'microsoft': {
      const base = `https://login.microsoftonline.com/${encodeURIComponent(tenant)}/oauth2/v2.0`;
      const delegated = protocol === 'pop3' ? 'https://outlook.office.com/POP.AccessAsUser.All' : 'https://outlook.office.com/IMAP.AccessAsUser.All';
      return {
        tokenUrl: `${base}/token`,
        deviceAuthorizationUrl: `${base}/devicecode`,
        authorizationUrl: `${base}/authorize`,
        scope: grant === 'client_credentials' ? 'https://outlook.office365.com/.default' : `${delegated} offline_access`,
      };
    }
    case 'google':
      // Google refuses the mail scope on its device flow: sign-in goes through the browser.
      return { tokenUrl: 'https://oauth2.googleapis.com/token', deviceAuthorizationUrl: undefined, authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth', scope: 'https://mail.google.com/' };
    case 'generic':
      return { tokenUrl: undefined, deviceAuthorizationUrl: undefined, authorizationUrl: undefined, scope: undefined };
  }
}

/**
 * The resolved OAuth2 login of account `name` (rules passed). `specOf` turns a source key's
 * value into a `PasswordSpec` naming where it was written.
 */
export function buildOAuth2(
  name: string,
  protocol: Protocol,
  block: ParsedOAuth2,
  specOf: (source: PasswordSource, value: string, key: string) => PasswordSpec,
): OAuth2Config {
  const provider = block.provider ?? 'generic';
  const grant = block.grant ?? 'refresh_token';
  const tenant = block.tenant ?? 'common';
  const endpoints = providerEndpoints(provider, tenant, protocol, grant);
  const secretKey = (Object.keys(CLIENT_SECRET_KEYS) as ClientSecretKey[]).find((key) => block[key] !== undefined);
  return {
    provider,
    grant,
    clientId: block.clientId,
    clientSecretSpec: secretKey === undefined ? undefined : specOf(CLIENT_SECRET_KEYS[secretKey], block[secretKey]!, secretKey),
    clientSecret: undefined,
    tenant: provider === 'microsoft' ? tenant : undefined,
    tokenUrl: block.tokenUrl ?? endpoints.tokenUrl,
    deviceAuthorizationUrl: block.deviceAuthorizationUrl ?? endpoints.deviceAuthorizationUrl,
    authorizationUrl: block.authorizationUrl ?? endpoints.authorizationUrl,
    scope: block.scope ?? endpoints.scope,
    accessTokenCommand: block.accessTokenCommand === undefined ? undefined : specOf('passwordCommand', block.accessTokenCommand, 'accessTokenCommand'),
    tokenSecret: `oauth2:${name}`,
    secrets: undefined,
  };
}
