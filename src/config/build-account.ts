/**
 * One `accounts` entry resolved into the AccountConfig a run uses: its named connection and
 * `defaults` applied, paths made absolute, each password source named by the key that gave it,
 * the handler, OAuth2 and proxy resolved. The config file's accounts and the rows of the
 * accounts table (`accountsTable: true`) go through here alike; `base` is where the entry is
 * written (`['accounts', 0]`, `['accountsTable', 'sales']`).
 */
import { registerSecret } from '../redact.js';
import { resolveAfter } from './after.js';
import type { ConnectionSet } from './connections.js';
import { withConnection } from './connections.js';
import { accountDefaults, defaultPort, WEBHOOK_DEFAULTS } from './defaults.js';
import { buildOAuth2 } from './oauth2.js';
import { mergeDefaults, type MergedAccount } from './rules.js';
import { resolveDeliver } from './schema-deliver.js';
import { PROXY_PASSWORD_SOURCES, resolveTransport } from './schema-transport.js';
import { PASSWORD_KEYS, formatPath, type ParsedAccount, type ParsedDefaults } from './schema.js';
import type { PasswordSource, PasswordSpec } from './secrets.js';
import type { AccountConfig, CommandSpec, WebhookConfig } from './types.js';

/** What every account of one config is resolved against. */
export interface AccountBuildContext {
  /** How problems name the config file, e.g. `mailpoll.yaml`. */
  displayName: string;
  /** The config file's folder: relative paths, password commands. */
  dir: string;
  resolvePath: (value: string) => string;
  /** The top-level `script`, resolved. */
  topScript: string | undefined;
  defaults: ParsedDefaults | undefined;
  connections: ConnectionSet;
}

/** The resolved account of one entry that passed the schema and the rules. */
export function buildAccountEntry(parsedAccount: ParsedAccount, base: readonly PropertyKey[], context: AccountBuildContext): AccountConfig {
  const { resolvePath } = context;
  const named = withConnection(parsedAccount, context.defaults, context.connections);
  const merged = mergeDefaults(named.account, context.defaults);
  const from = (key: string) => (named.inherited.has(key) ? ['connections', named.name!, key] : undefined);
  const account = buildAccount(merged, context.topScript, resolvePath, passwordSpecOf(merged, base, context, from), context.dir);
  if (merged.auth === 'oauth2' && merged.oauth2 !== undefined) {
    const at = merged.inherited.has('oauth2') ? ['defaults', 'oauth2'] : [...base, 'oauth2'];
    const specOf = (source: PasswordSource, value: string, key: string): PasswordSpec => ({
      source,
      value: source === 'passwordFile' ? resolvePath(value) : value,
      where: placeOf([...at, key], context),
      cwd: context.dir,
    });
    account.oauth2 = buildOAuth2(account.name, account.protocol, merged.oauth2, specOf);
  }
  const proxySource = PROXY_PASSWORD_SOURCES.find(([key]) => merged[key] !== undefined);
  if (proxySource !== undefined && account.proxy !== undefined) {
    const [key, source] = proxySource;
    const at = from(key) ?? (merged.inherited.has(key) ? ['defaults', key] : [...base, key]);
    const value = merged[key]!;
    account.proxyPasswordSpec = { source, value: source === 'passwordFile' ? resolvePath(value) : value, where: placeOf(at, context), cwd: context.dir };
  }
  return account;
}

/** Where a key is, for problems: `mailpoll.yaml: defaults.passwordEnv`; a table row's own keys are not in the file (`accountsTable.sales.passwordEnv`). */
function placeOf(at: readonly PropertyKey[], context: AccountBuildContext): string {
  return at[0] === 'accountsTable' ? formatPath(at) : `${context.displayName}: ${formatPath(at)}`;
}

/** The account's password source, naming the key that gave it (`defaults.passwordEnv` when inherited). */
function passwordSpecOf(merged: MergedAccount, base: readonly PropertyKey[], context: AccountBuildContext, fromConnection: (key: string) => PropertyKey[] | undefined): PasswordSpec | undefined {
  // An OAuth2 account ignores a password inherited from defaults (its own is refused by the rules).
  if (merged.auth === 'oauth2') return undefined;
  const source = PASSWORD_KEYS.find((key) => merged[key] !== undefined);
  if (source === undefined) return undefined;
  const value = merged[source]!;
  const at = fromConnection(source) ?? (merged.inherited.has(source) ? ['defaults', source] : [...base, source]);
  return {
    source,
    value: source === 'passwordFile' ? context.resolvePath(value) : value,
    where: placeOf(at, context),
    cwd: context.dir,
  };
}

/** `command:` resolved: a program named by a path (`./handle.py`, `~/bin/x`) made absolute; a bare name is looked up in PATH. */
function commandSpecOf(command: string | string[] | undefined, resolvePath: (value: string) => string, dir: string): CommandSpec | undefined {
  if (command === undefined) return undefined;
  if (typeof command === 'string') return { argv: ['/bin/sh', '-c', command], shell: true, cwd: dir };
  const [program, ...args] = command as [string, ...string[]];
  const named = program.includes('/') || program === '~';
  return { argv: [named ? resolvePath(program) : program, ...args], shell: false, cwd: dir };
}

/** One resolved account. The rules have passed, so the protocol's required keys are set. */
function buildAccount(
  merged: MergedAccount,
  topScript: string | undefined,
  resolvePath: (value: string) => string,
  passwordSpec: PasswordSpec | undefined,
  dir: string,
): AccountConfig {
  const protocol = merged.protocol!;
  const defaults = accountDefaults(protocol);
  const tls = merged.tls ?? defaults.tls;
  const server = protocol === 'imap' || protocol === 'pop3' ? protocol : undefined;
  const optionalPath = (value: string | undefined) => (value === undefined ? undefined : resolvePath(value));
  return {
    name: merged.name,
    enabled: merged.enabled ?? defaults.enabled,
    protocol,
    host: merged.host,
    port: server === undefined ? undefined : (merged.port ?? defaultPort(server, tls)),
    tls,
    tlsRejectUnauthorized: merged.tlsRejectUnauthorized ?? defaults.tlsRejectUnauthorized,
    ca: optionalPath(merged.ca),
    user: merged.user,
    login: merged.login,
    password: passwordSpec?.source === 'password' ? passwordSpec.value : undefined,
    passwordSpec,
    auth: merged.auth ?? defaults.auth,
    oauth2: undefined,
    folder: merged.folder ?? defaults.folder,
    folders: merged.folders ?? defaults.folders,
    path: optionalPath(merged.path),
    // POP3 has no seen flag: its default lists every message, and the rules refuse onlyUnseen there.
    onlyUnseen: merged.onlyUnseen ?? defaults.onlyUnseen,
    search: merged.search ?? defaults.search,
    startFrom: merged.startFrom ?? defaults.startFrom,
    ...resolveAfter(merged.after, defaults.after),
    skipKeyword: merged.skipKeyword,
    moveTo: merged.moveTo,
    maxMessages: merged.maxMessages,
    connectTimeout: merged.connectTimeout ?? defaults.connectTimeout,
    fetchTimeout: merged.fetchTimeout ?? defaults.fetchTimeout,
    handlerTimeout: merged.handlerTimeout ?? defaults.handlerTimeout,
    handlerConcurrency: merged.handlerConcurrency ?? defaults.handlerConcurrency,
    handlerMemoryLimit: merged.handlerMemoryLimit ?? defaults.handlerMemoryLimit,
    // An account with a command or a webhook names its handler: the top-level script is for accounts that name none.
    script: optionalPath(merged.script) ?? (merged.webhook === undefined && merged.command === undefined && merged.deliver === undefined ? topScript : undefined),
    command: commandSpecOf(merged.command, resolvePath, dir),
    webhook: buildWebhook(merged.webhook, optionalPath),
    reprocess: merged.reprocess ?? defaults.reprocess,
    maxAttempts: merged.maxAttempts ?? defaults.maxAttempts,
    retryDelay: merged.retryDelay ?? defaults.retryDelay,
    deleteAfter: merged.deleteAfter,
    quarantineFolder: merged.quarantineFolder,
    maxMessageSize: merged.maxMessageSize,
    interval: merged.interval ?? defaults.interval,
    schedule: merged.schedule,
    idle: merged.idle ?? defaults.idle,
    idleHealthCheck: merged.idleHealthCheck ?? defaults.idleHealthCheck,
    backoff: { initialMs: merged.backoff?.initial ?? defaults.backoff.initialMs, maxMs: merged.backoff?.max ?? defaults.backoff.maxMs },
    ...resolveTransport(merged, optionalPath),
    ...resolveDeliver(merged, resolvePath),
  };
}

/** The resolved `webhook` object; its `Authorization` header and secret are registered with `redact`. */
function buildWebhook(parsed: MergedAccount['webhook'], optionalPath: (value: string | undefined) => string | undefined): WebhookConfig | undefined {
  if (parsed === undefined) return undefined;
  const headers = parsed.headers ?? {};
  for (const [name, value] of Object.entries(headers)) {
    if (SECRET_HEADER.test(name)) registerSecret(value);
  }
  registerSecret(parsed.secret);
  return {
    url: parsed.url,
    method: parsed.method ?? WEBHOOK_DEFAULTS.method,
    headers,
    body: parsed.body ?? WEBHOOK_DEFAULTS.body,
    timeout: parsed.timeout ?? WEBHOOK_DEFAULTS.timeout,
    secret: parsed.secret,
    ca: optionalPath(parsed.ca),
  };
}

/** Header names whose values are credentials whether or not they came from `${VARS}`. */
const SECRET_HEADER = /^(proxy-)?authorization$|^cookie$/i;