/**
 * Loading the config: read the file (read-file.ts), substitute `${VARS}`,
 * validate (schema + rules), resolve paths and password sources. Every problem found is
 * reported at once, in one ConfigError, each line `FILE: path.to.key: message`.
 */
import { homedir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { secretsBeside } from '../secrets/store.js';
import { chooseStore } from '../store/path.js';
import { isPostgresUrl } from '../store/postgres/store-url.js';
import { tableAccountsBuilder } from './accounts-table.js';
import { buildAccountEntry, type AccountBuildContext } from './build-account.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { checkReadable, displayNameOf, readConfigFile } from './read-file.js';
import { checkRules, type RulesInput } from './rules.js';
import { readConnectionsFile, type ConnectionsFile } from './connections-file.js';
import type { ConnectionSet, ParsedConnection } from './connections.js';
import { exposedSecretsProblem, literalSecrets } from './permissions.js';
import { resolvePasswords } from './resolve-passwords.js';
import { SECRET_KEYS, accountSchema, configSchema, connectionSchema, defaultsSchema, formatIssue, formatPath, type ParsedConfig } from './schema.js';
import { secretProblem } from './secrets.js';
import { selectAccounts } from './select.js';
import { storePasswordProblems, storePasswordSpecOf } from './store-password.js';
import type { AccountConfig, Config } from './types.js';

export interface LoadConfigOptions {
  /** Explicit config file (-c). */
  configFile?: string | undefined;
  /** Where the search starts and what explicit relative paths resolve against. Default process.cwd(). */
  cwd?: string;
  /** Source of `${VARS}`, `passwordEnv` and the environment of `passwordCommand`. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Resolve password sources (may run passwordCommand). Default true. When false, only
   * literal `password` values are filled in; `passwordSpec` is always set, for a later
   * `resolvePasswords`.
   */
  resolveSecrets?: boolean;
  /** Only resolve secrets of these account names (default: every enabled account). */
  accounts?: string[] | undefined;
  /** A handler given with -s: overrides every account's script; resolved against cwd. */
  script?: string | undefined;
  /** `--store PATH` (against cwd): stored secrets are beside the store, so this moves them too. */
  store?: string | undefined;
}

export interface ValidateConfigContext {
  /** Absolute path of the config file; undefined for an inline object. */
  file: string | undefined;
  /** Folder relative paths resolve against (the config file's folder). */
  dir: string;
  /** Source of `${VARS}`. */
  env: NodeJS.ProcessEnv;
  /** How problems name the file, e.g. `mailpoll.yaml`. */
  displayName: string;
  /** What `~/` expands to. Default `env.HOME`, else the user's home folder. */
  home?: string | undefined;
  /**
   * Checks that a file (`ca`) exists and is readable: undefined when it is, else the
   * reason. Without it, files are not checked (keeps `validateConfig` free of I/O).
   */
  checkReadable?: ((file: string) => string | undefined) | undefined;
  /** The named connections of `connectionsFile`, as written (`loadConfig` reads the file). */
  connectionsFile?: ConnectionsFile | undefined;
}

export interface ValidateConfigResult {
  /** The resolved config, only when there are no problems. */
  config?: Config;
  /** Every problem, `FILE: path.to.key: message`, grouped by account in file order. */
  problems: string[];
}


// ---------------------------------------------------------------------------------------
// ${VARS}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REFERENCE = /\$\$\{|\$\{([^}]*)(\}?)/g;

/**
 * `value` with `${NAME}` replaced from `env` in every string (not in keys); `$${` is a
 * literal `${`. Problems go to `problems` (as `path: message`) and the paths of the
 * values that had one to `failed`, so the schema does not complain about them again.
 */
function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, at: PropertyKey[], problems: string[], failed: Set<string>): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const where = formatPath(at);
    return value.replace(REFERENCE, (match, name: string | undefined, close: string | undefined) => {
      if (match === '$${') return '${';
      if (close !== '}' || name === undefined || !VARIABLE_NAME.test(name)) {
        const key = at.at(-1);
        const shown = typeof key === 'string' && SECRET_KEYS.has(key) ? 'an invalid variable reference' : `"${match}", an invalid variable reference`;
        problems.push(`${where}: contains ${shown}; write \${NAME}, or $\${ for a literal \${`);
        failed.add(where);
        return '';
      }
      const replacement = env[name];
      if (replacement === undefined) {
        problems.push(`${where}: environment variable ${name} is not set`);
        failed.add(where);
        return '';
      }
      // A webhook's `${VARS}` hold its tokens (headers, secret, a key in the URL): never shown.
      if (at.includes('webhook')) registerSecret(replacement);
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => substituteEnv(item, env, [...at, index], problems, failed));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = substituteEnv(item, env, [...at, key], problems, failed);
    return out;
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

// ---------------------------------------------------------------------------------------
// Validation

/** Sort key of a problem line: top-level keys and `defaults` first, then accounts in order. */
function accountIndex(line: string): number {
  const match = /^accounts\[(\d+)\]/.exec(line);
  return match ? Number(match[1]) : -1;
}

/** Each account and `defaults` parsed on their own, so the rules can check the valid ones. */
function parseParts(data: unknown): RulesInput {
  const object = isPlainObject(data) ? data : {};
  const defaults = object.defaults === undefined ? undefined : defaultsSchema.safeParse(object.defaults);
  const accounts = Array.isArray(object.accounts) ? object.accounts : [];
  const names = accounts.map((account) => {
    const name = isPlainObject(account) ? accountSchema.shape.name.safeParse(account.name) : undefined;
    return name?.success ? name.data : undefined;
  });
  // Without valid defaults, every account's rules would be guesses: check only the names.
  if (defaults !== undefined && !defaults.success) return { accounts: [], names };
  return {
    names,
    defaults: defaults?.data,
    accounts: accounts.map((account) => {
      const result = accountSchema.safeParse(account);
      return result.success ? result.data : undefined;
    }),
  };
}

/**
 * Validate a config object as read from a file: substitute `${VARS}`, check the schema and
 * the rules, apply defaults and resolve paths. Collects every problem rather than stopping
 * at the first. Does no I/O unless `context.checkReadable` does; runs no password command.
 */
export function validateConfig(raw: unknown, context: ValidateConfigContext): ValidateConfigResult {
  const problems: string[] = [];
  const failed = new Set<string>();
  const data = substituteEnv(raw, context.env, [], problems, failed);

  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    const isFailed = (at: string) => [...failed].some((prefix) => at === prefix || at.startsWith(`${prefix}.`) || at.startsWith(`${prefix}[`));
    for (const issue of parsed.error.issues) {
      if (isFailed(formatPath(issue.path))) continue;
      problems.push(...formatIssue(issue, data));
    }
  }
  const parts: RulesInput = parsed.success ? parsed.data : parseParts(data);
  const fileProblems: string[] = [];
  const namedConnections = collectConnections(data, context, problems, fileProblems);
  const noAccounts = accountsProblem(data);
  if (noAccounts !== undefined) problems.push(noAccounts);
  problems.push(...checkRules({ ...parts, namedConnections }), ...checkLiteralPasswords(parts), ...storePasswordProblems(data));

  const home = context.home ?? (context.env.HOME || homedir());
  const resolvePath = (value: string) => expandPath(value, context.dir, home);
  if (context.checkReadable !== undefined) problems.push(...checkFiles(parts, resolvePath, context.checkReadable));

  if (problems.length > 0 || fileProblems.length > 0 || !parsed.success || noAccounts !== undefined) {
    const sorted = problems
      .map((line, order) => ({ line, order, index: accountIndex(line) }))
      .sort((a, b) => a.index - b.index || a.order - b.order);
    return { problems: [...new Set([...sorted.map(({ line }) => `${context.displayName}: ${line}`), ...fileProblems])] };
  }
  return { config: buildConfig(parsed.data, context, resolvePath, namedConnections), problems: [] };
}

/**
 * The named connections of the config's `connections` and of `connectionsFile` (its `${VARS}`
 * substituted, each entry checked by the schema: problems in `fileProblems`, naming that file).
 * A name in both is a problem: which one wins would be a guess.
 */
function collectConnections(data: unknown, context: ValidateConfigContext, problems: string[], fileProblems: string[]): ConnectionSet {
  const entries = new Map<string, ParsedConnection>();
  const own = isPlainObject(data) && isPlainObject(data.connections) ? data.connections : {};
  for (const [name, value] of Object.entries(own)) {
    const result = connectionSchema.safeParse(value);
    if (result.success) entries.set(name, result.data);
  }
  const file = context.connectionsFile;
  if (file === undefined) return entries;
  const failed = new Set<string>();
  const local: string[] = [];
  const raw = substituteEnv(file.raw, context.env, [], local, failed) as Record<string, unknown>;
  for (const [name, value] of Object.entries(raw)) {
    const result = connectionSchema.safeParse(value);
    if (!result.success) {
      for (const issue of result.error.issues) local.push(...formatIssue({ ...issue, path: [name, ...issue.path] }, raw));
      continue;
    }
    if (entries.has(name)) problems.push(`connections.${name}: is also defined in ${file.shown}; keep one of the two`);
    else entries.set(name, result.data);
  }
  fileProblems.push(...local.map((line) => `${file.shown}: ${line}`));
  return entries;
}

/** Literal `password` values no password can be (too long, control characters); never quoted. */
function checkLiteralPasswords(parts: RulesInput): string[] {
  const problems: string[] = [];
  const check = (value: string | undefined, at: PropertyKey[]) => {
    const problem = value === undefined ? undefined : secretProblem(value);
    if (problem !== undefined) problems.push(`${formatPath(at)}: ${problem}`);
  };
  check(parts.defaults?.password, ['defaults', 'password']);
  (parts.accounts ?? []).forEach((account, index) => check(account?.password, ['accounts', index, 'password']));
  return problems;
}

/** `~/x` from the home folder, relative paths from `dir`. */
function expandPath(value: string, dir: string, home: string): string {
  if (value === '~') return home;
  if (value.startsWith('~/')) return path.join(home, value.slice(2));
  return path.resolve(dir, value);
}

/** `ca` files that cannot be read: `defaults.ca` once, each account's own `ca`. */
function checkFiles(parts: RulesInput, resolvePath: (value: string) => string, checkReadable: (file: string) => string | undefined): string[] {
  const problems: string[] = [];
  const check = (value: string | undefined, at: PropertyKey[]) => {
    if (value === undefined) return;
    const file = resolvePath(value);
    const reason = checkReadable(file);
    if (reason !== undefined) problems.push(`${formatPath(at)}: cannot read ${file}: ${reason}`);
  };
  const tlsFiles = (object: { ca?: string | undefined; tlsCert?: string | undefined; tlsKey?: string | undefined } | undefined, at: PropertyKey[]) => {
    for (const key of ['ca', 'tlsCert', 'tlsKey'] as const) check(object?.[key], [...at, key]);
  };
  tlsFiles(parts.defaults, ['defaults']);
  check(parts.defaults?.webhook?.ca, ['defaults', 'webhook', 'ca']);
  for (const [name, connection] of Object.entries((parts as { connections?: Record<string, ParsedConnection> }).connections ?? {})) tlsFiles(connection, ['connections', name]);
  (parts.accounts ?? []).forEach((account, index) => {
    tlsFiles(account, ['accounts', index]);
    check(account?.webhook?.ca, ['accounts', index, 'webhook', 'ca']);
  });
  return problems;
}

function buildConfig(parsed: ParsedConfig, context: ValidateConfigContext, resolvePath: (value: string) => string, connections: ConnectionSet): Config {
  const accountContext: AccountBuildContext = {
    displayName: context.displayName,
    dir: context.dir,
    resolvePath,
    topScript: parsed.script === undefined ? undefined : resolvePath(parsed.script),
    defaults: parsed.defaults,
    connections,
  };
  const entries = parsed.accounts ?? [];
  const fileAccounts = entries.map((entry) => entry.name);
  return {
    file: context.file,
    dir: context.dir,
    accounts: entries.map((entry, index) => buildAccountEntry(entry, ['accounts', index], accountContext)),
    store: parsed.store === undefined ? undefined : isPostgresUrl(parsed.store) ? parsed.store : resolvePath(parsed.store),
    storePasswordSpec: storePasswordSpecOf(parsed, context.displayName, context.dir, resolvePath),
    retentionDays: parsed.retentionDays ?? CONFIG_DEFAULTS.retentionDays,
    ledgerDays: parsed.ledgerDays ?? CONFIG_DEFAULTS.ledgerDays,
    concurrency: parsed.concurrency ?? CONFIG_DEFAULTS.concurrency,
    maxConnections: parsed.maxConnections ?? CONFIG_DEFAULTS.maxConnections,
    expiresAfter: parsed.expiresAfter,
    leaseTtl: parsed.leaseTtl ?? CONFIG_DEFAULTS.leaseTtl,
    workers: parsed.workers ?? CONFIG_DEFAULTS.workers,
    listen: parsed.listen,
    connectionsFile: parsed.connectionsFile === undefined ? undefined : resolvePath(parsed.connectionsFile),
    accountsTable: parsed.accountsTable === true ? tableAccountsBuilder({ ...accountContext, fileAccounts, checkReadable: context.checkReadable }) : undefined,
  };
}

/** `accountsTable: true` with a store that has no accounts table (a SQLite file). */
export function accountsTableNeedsPostgres(displayName: string, store: string): string {
  return `${displayName}: accountsTable: expected a PostgreSQL store (store: postgres://..., --store URL or MAILPOLL_STORE), which holds the accounts table; the store is the SQLite file ${store}`;
}

/** `accounts` may be empty or left out only when the accounts come from the table too. */
function accountsProblem(data: unknown): string | undefined {
  if (!isPlainObject(data) || data.accountsTable === true || data.accountsTable === 'true') return undefined;
  if (data.accounts === undefined) return 'accounts: is required (or accountsTable: true, to read the accounts from the store)';
  if (Array.isArray(data.accounts) && data.accounts.length === 0) return 'accounts: expected at least one account, got []';
  return undefined;
}

// Passwords are resolved later, by a run: resolve-passwords.ts.
export { resolvePasswords, type ResolvePasswordsOptions } from './resolve-passwords.js';

/**
 * Find, read, validate and resolve the config. Throws one ConfigError with every problem;
 * runs password commands only after the config is valid, and only for the accounts that
 * will be used.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<Config> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const env = options.env ?? process.env;
  const { file, raw, displayName } = await readConfigFile(cwd, options.configFile);
  const dir = path.dirname(file);
  const named = (raw as { connectionsFile?: unknown } | null)?.connectionsFile;
  const connectionsFile =
    typeof named === 'string' && named !== ''
      ? await readConnectionsFile(expandPath(named, dir, env.HOME || homedir()), displayNameOf(expandPath(named, dir, env.HOME || homedir()), cwd), `${displayName}: connectionsFile`)
      : undefined;
  const { config, problems } = validateConfig(raw, { file, dir, env, displayName, checkReadable, connectionsFile });
  // Listed with the file's other problems (all at once), first.
  const exposed = exposedSecretsProblem(file, displayName, literalSecrets(raw));
  if (exposed !== undefined) throw new ConfigError([exposed, ...problems]);
  if (config === undefined) throw new ConfigError(problems);

  for (const account of config.accounts) registerSecret(account.password);
  const storeAt = chooseStore({ flag: options.store, configured: config.store }, env, cwd);
  if (config.accountsTable !== undefined && !isPostgresUrl(storeAt)) throw new ConfigError([accountsTableNeedsPostgres(displayName, storeAt)]);
  const secrets = secretsBeside(storeAt);
  config.secrets = secrets;
  const script = options.script === undefined ? undefined : expandPath(options.script, cwd, env.HOME || homedir());
  // What a run needs of every account beyond the config itself; the table's accounts too, as they are read.
  const finish = (account: AccountConfig): void => {
    if (account.oauth2 !== undefined) account.oauth2.secrets = secrets;
    if (script !== undefined) Object.assign(account, { script, command: undefined, webhook: undefined, deliver: undefined });
  };
  config.accounts.forEach(finish);
  const build = config.accountsTable;
  if (build !== undefined) {
    config.accountsTable = (rows) => {
      const built = build(rows);
      built.accounts.forEach(finish);
      return built;
    };
  }
  // With the table, a name the file lacks may be one of its rows: checked once the table is read.
  const selected =
    config.accountsTable === undefined
      ? selectAccounts(config, options.accounts)
      : config.accounts.filter((account) => (options.accounts?.length ? options.accounts.includes(account.name) : account.enabled));
  if (options.resolveSecrets !== false) await resolvePasswords(selected, { env, secrets });
  return config;
}

