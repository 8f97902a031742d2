/**
 * An account's access token: from `accessTokenCommand`, or from the token endpoint with the
 * refresh token (or the client secret, for `client_credentials`). Tokens are kept until a
 * minute before they expire: in memory for the process, and in the stored secret
 * `oauth2:<account>` across runs. A rotated refresh token is stored durably (fsync'd and
 * renamed into place) before the new access token is handed out, so a crash right after a
 * refresh never leaves the account with only the old, now revoked, refresh token.
 */
import type { AccountConfig } from '../config/types.js';
import { resolvePassword } from '../config/secrets.js';
import { AuthError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { SecretStore } from '../secrets/store.js';
import { describeRefusal, OAuth2Error, postForm, readTokenAnswer, type TokenAnswer } from './token-endpoint.js';

/** What the stored secret `oauth2:<account>` holds (JSON). A plain string is taken for a refresh token. */
export interface TokenRecord {
  refreshToken?: string | undefined;
  accessToken?: string | undefined;
  /** Milliseconds since the epoch. */
  expiresAt?: number | undefined;
  /** ISO time of the last successful token request. */
  lastRefresh?: string | undefined;
  grant?: string | undefined;
}

/** A token this close to its expiry is not used any more. */
export const EXPIRY_MARGIN_MS = 60_000;

interface Cached {
  token: string;
  expiresAt: number | undefined;
}

const cache = new Map<string, Cached>();
/** The token last handed out per account: the one a refused login refused. */
const lastIssued = new Map<string, string>();
/** Tokens a server refused in this process: never offered again. */
const refused = new Set<string>();

export interface AccessTokenOptions {
  env?: NodeJS.ProcessEnv | undefined;
  now?: () => number;
}

/** The hint every "sign in again" error ends with. */
export function loginHint(account: string): string {
  return `Run \`mailpoll auth login ${account}\` to sign in again.`;
}

/** `oauth2:<account>` parsed (a bare value: a refresh token stored with `mailpoll secret set`). */
export function parseTokenRecord(value: string | undefined): TokenRecord {
  if (value === undefined) return {};
  let record: TokenRecord;
  if (value.trimStart().startsWith('{')) {
    try {
      record = JSON.parse(value) as TokenRecord;
    } catch {
      record = {};
    }
  } else {
    record = { refreshToken: value.trim() };
  }
  registerSecret(record.refreshToken);
  registerSecret(record.accessToken);
  return record;
}

function usable(expiresAt: number | undefined, now: number): boolean {
  return expiresAt === undefined || expiresAt - EXPIRY_MARGIN_MS > now;
}

/** The server refused the token last handed out for `account`: the next `getAccessToken` gets a new one. */
export function invalidateAccessToken(account: AccountConfig): void {
  const token = lastIssued.get(account.name);
  if (token === undefined) return;
  refused.add(token);
  if (cache.get(account.name)?.token === token) cache.delete(account.name);
}

/** `getAccessToken`, remembering what it handed out for `invalidateAccessToken`. */
export async function getAccessToken(account: AccountConfig, options: AccessTokenOptions = {}): Promise<string> {
  const token = await obtainAccessToken(account, options);
  lastIssued.set(account.name, token);
  return token;
}

/** The account's secret store; an error when loadConfig did not say where it is. */
export function tokenStore(account: AccountConfig, env: NodeJS.ProcessEnv): SecretStore {
  const location = account.oauth2?.secrets;
  if (location === undefined) throw new AuthError(`${account.name}: the stored secrets' location is unknown (the config was not loaded with loadConfig)`, { account: account.name });
  return new SecretStore(location, env);
}

/** An access token for `account` (`auth: oauth2`): cached, stored, or fetched now. */
async function obtainAccessToken(account: AccountConfig, options: AccessTokenOptions = {}): Promise<string> {
  const oauth2 = account.oauth2;
  const name = account.name;
  if (oauth2 === undefined) throw new AuthError(`${name}: auth: oauth2 needs an oauth2: block`, { account: name });
  const env = options.env ?? process.env;
  const now = (options.now ?? Date.now)();
  const cached = cache.get(name);
  if (cached !== undefined && usable(cached.expiresAt, now) && !refused.has(cached.token)) return cached.token;

  if (oauth2.accessTokenCommand !== undefined) {
    const spec = oauth2.accessTokenCommand;
    const result = await resolvePassword(spec, { cwd: spec.cwd, env });
    if (result.password === undefined) throw new OAuth2Error(`${spec.where}: ${result.problem}`, { account: name });
    if (refused.has(result.password)) throw new OAuth2Error(`${name}: accessTokenCommand printed the token the server just refused. Check the command.`, { account: name });
    // Not cached: the command keeps its own cache and knows the expiry.
    return result.password;
  }

  const store = tokenStore(account, env);
  const record = parseTokenRecord(await store.get(oauth2.tokenSecret));
  if (record.accessToken !== undefined && usable(record.expiresAt, now) && !refused.has(record.accessToken)) {
    cache.set(name, { token: record.accessToken, expiresAt: record.expiresAt });
    return record.accessToken;
  }
  const url = oauth2.tokenUrl!;
  const form: Record<string, string | undefined> = { client_id: oauth2.clientId, client_secret: oauth2.clientSecret, scope: oauth2.scope };
  if (oauth2.grant === 'client_credentials') {
    form.grant_type = 'client_credentials';
  } else {
    if (record.refreshToken === undefined) {
      throw new OAuth2Error(`${name}: no refresh token is stored for this account (${oauth2.tokenSecret}). Run \`mailpoll auth login ${name}\` to sign in.`, { account: name });
    }
    form.grant_type = 'refresh_token';
    form.refresh_token = record.refreshToken;
  }
  const answer = await postForm(name, url, form);
  if (!answer.ok) {
    const why = describeRefusal(answer.refusal);
    if (oauth2.grant === 'client_credentials' || answer.refusal.error === 'invalid_client' || answer.refusal.error === 'unauthorized_client') {
      throw new OAuth2Error(`${name}: the token endpoint ${url} refused the client (${why}). Check clientId, the client secret and the app registration.`, { account: name });
    }
    throw new OAuth2Error(`${name}: the token endpoint ${url} refused the refresh token (${why}). ${loginHint(name)}`, { account: name });
  }
  const token = readTokenAnswer(name, url, answer.body, now);
  // Durable before use: the endpoint may have revoked the old refresh token already.
  await store.set(
    oauth2.tokenSecret,
    JSON.stringify({
      refreshToken: token.refreshToken ?? record.refreshToken,
      accessToken: token.accessToken,
      expiresAt: token.expiresAt,
      lastRefresh: new Date(now).toISOString(),
      grant: oauth2.grant,
    } satisfies TokenRecord),
  );
  cache.set(name, { token: token.accessToken, expiresAt: token.expiresAt });
  return token.accessToken;
}

/** Store what a sign-in (`mailpoll auth login`) returned; a sign-in without a refresh token is an error. */
export async function storeSignIn(account: AccountConfig, answer: TokenAnswer, env: NodeJS.ProcessEnv, now = Date.now()): Promise<void> {
  const oauth2 = account.oauth2!;
  if (answer.refreshToken === undefined) {
    throw new OAuth2Error(`${account.name}: the sign-in returned no refresh token, so mailpoll could not log in again later. Check that the scope includes offline access (Microsoft: offline_access).`, { account: account.name });
  }
  const record: TokenRecord = { refreshToken: answer.refreshToken, accessToken: answer.accessToken, expiresAt: answer.expiresAt, lastRefresh: new Date(now).toISOString(), grant: oauth2.grant };
  await tokenStore(account, env).set(oauth2.tokenSecret, JSON.stringify(record));
  cache.set(account.name, { token: answer.accessToken, expiresAt: answer.expiresAt });
}

/** What `mailpoll auth status` shows of an account: never a token. */
export interface TokenStatus {
  account: string;
  grant: string;
  /** `accessTokenCommand`, `stored` (a refresh token or app-only token record) or `missing`. */
  source: 'accessTokenCommand' | 'stored' | 'missing';
  hasRefreshToken: boolean;
  accessTokenExpires: string | undefined;
  lastRefresh: string | undefined;
  /** When the stored secret was last written. */
  updated: string | undefined;
}

export async function readTokenStatus(account: AccountConfig, env: NodeJS.ProcessEnv): Promise<TokenStatus> {
  const oauth2 = account.oauth2!;
  const base = { account: account.name, grant: oauth2.grant };
  if (oauth2.accessTokenCommand !== undefined) {
    return { ...base, source: 'accessTokenCommand', hasRefreshToken: false, accessTokenExpires: undefined, lastRefresh: undefined, updated: undefined };
  }
  const store = tokenStore(account, env);
  const value = await store.get(oauth2.tokenSecret);
  const entry = (await store.list()).find((item) => item.name === oauth2.tokenSecret);
  const record = parseTokenRecord(value);
  return {
    ...base,
    source: value === undefined ? 'missing' : 'stored',
    hasRefreshToken: record.refreshToken !== undefined,
    accessTokenExpires: record.expiresAt === undefined ? undefined : new Date(record.expiresAt).toISOString(),
    lastRefresh: record.lastRefresh,
    updated: entry?.updated,
  };
}
