/**
 * The config file's schema: what each key accepts, its default and what it means. No I/O
 * here: `${VARS}` are substituted before parsing and paths are resolved after (see
 * `load.ts`); cross-field checks live in `rules.ts`.
 *
 * The schema parses the file as written: every account key is optional because `defaults`
 * may supply it; `rules.ts` checks what each protocol needs after inheritance, and
 * `load.ts` turns the parsed object into the resolved `Config` of `types.ts`.
 */
import * as z from 'zod';
import { DURATION_JSON_PATTERN, parseDuration } from '../duration.js';
import { SECRET_PLACEHOLDER } from '../redact.js';
import { folderNameProblem } from '../mailbox/folder-name.js';
import { checkCron } from './cron.js';
import { LISTEN_EXPECTATION, parseListenAddress, type ListenAddress } from './listen.js';
import { OAUTH2_KEY_DOCS, oauth2Schema } from './oauth2.js';
import { SEARCH_KEY_DOCS, searchSchema } from './search.js';
import { startFrom } from './start-from.js';
import { closest } from './did-you-mean.js';

import { SAVE_ATTACHMENTS_KEY_DOCS, deliverFields } from './schema-deliver.js';
import { CONNECTION_KEYS, transportFields } from './schema-transport.js';
import { storePasswordFields } from './store-password.js';
import { afterSchema, skipKeywordSchema } from './after.js';
import { ACCOUNT_KEY_DOCS, BACKOFF_KEY_DOCS, TOP_LEVEL_KEY_DOCS, WEBHOOK_KEY_DOCS, SECRET_KEYS, type AccountKey } from './schema-docs.js';

// One parse per run: zod's compiled fast path (`new Function`) costs more to build than it saves.
z.config({ jitless: true });

// The key docs live in schema-docs.ts (pure data); importers of the schema find them here too.
export * from './schema-docs.js';

// ---------------------------------------------------------------------------------------
// Value schemas. Every message we write starts with "expected ", and `formatIssue` adds
// ", got <value>"; zod's own messages never start that way.

/**
 * A value checked by `parse`, which returns the parsed value or, to reject it, the
 * expectation as a string, e.g. `expected an integer 1-65535`. `accepts`: what it takes as
 * JSON Schema alternatives (`mailpoll schema`; zod cannot see into `parse`), and a `${NAME}`.
 */
function checked<T extends number | boolean>(parse: (value: unknown) => T | string, accepts: readonly object[]) {
  return z.unknown().meta({ anyOf: [...accepts, { type: 'string', pattern: '\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}' }] }).transform((value, ctx): T => {
    const result = parse(value);
    if (typeof result === 'string') {
      ctx.addIssue({ code: 'custom', message: result, input: value });
      return z.NEVER;
    }
    return result;
  });
}

const text = () =>
  z.string().min(1, { error: 'expected a non-empty string' });

/** `--watch`'s HTTP endpoints: `HOST:PORT` or a port. */
const listenAddress = () =>
  z.union([z.number(), z.string()], { error: LISTEN_EXPECTATION }).transform((value, ctx): ListenAddress => {
    const address = parseListenAddress(value);
    if (typeof address === 'string') {
      ctx.addIssue({ code: 'custom', message: address, input: value });
      return z.NEVER;
    }
    return address;
  });

/** A folder mailpoll moves messages to: one that can never work is refused here, not by the server run after run. */
const folderName = () =>
  text().superRefine((value, ctx) => {
    const problem = folderNameProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `expected a folder name without ${problem}`, input: value });
  });

const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;
const name = () =>
  text().regex(NAME_PATTERN, { error: 'expected a name made of letters, digits, ".", "_" and "-"' });

/** true/false; the strings "true"/"false" too, since `${VARS}` always give strings. */
const flag = () =>
  checked<boolean>((value) => {
    if (typeof value === 'boolean') return value;
    if (value === 'true') return true;
    if (value === 'false') return false;
    return 'expected true or false';
  }, [{ type: 'boolean' }, { enum: ['true', 'false'] }]);

/** An integer in [min, max]; a string of digits too (from `${VARS}`). */
function integer(min: number, max: number, expectation: string) {
  return checked<number>((value) => {
    const number = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(number) || number < min || number > max) return expectation;
    return number;
  }, [{ type: 'integer', minimum: min, maximum: max }, { type: 'string', pattern: '^\\s*\\d+\\s*$' }]);
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** A size in bytes, from a number of bytes or `500KB`, `25MB`, `1GB` (binary units); at least `min`. */
const size = (min = 1, expectation = 'expected a size like 500KB, 25MB or a number of bytes') =>
  checked<number>((value) => {
    const match = typeof value === 'number' ? [String(value), String(value), ''] : typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)\s*$/i.exec(value) : null;
    const unit = SIZE_UNITS[(match?.[2] ?? '').toLowerCase()];
    const bytes = match && unit !== undefined ? Math.round(Number(match[1]) * unit) : NaN;
    if (!Number.isFinite(bytes) || bytes < min) return expectation;
    return bytes;
  }, [{ type: 'number', ...(min > 1 ? { minimum: min } : { exclusiveMinimum: 0 }) }, { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgG]?[bB]?)\\s*$' }]);

/** A duration in milliseconds, from `30s`, `2m`, `1h`, `500ms` or a number of seconds. */
const duration = () =>
  checked<number>((value) => {
    const ms = typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : undefined;
    if (ms === undefined) return 'expected a duration like 30s, 2m or 1h';
    if (ms <= 0) return 'expected a duration longer than 0, like 30s, 2m or 1h';
    return ms;
  }, [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string', pattern: DURATION_JSON_PATTERN }]);

/** A cron expression `checkCron` accepts (croner itself is not loaded here); it reports "" too. */
const cron = () =>
  z.string().superRefine((value, ctx) => {
    const reason = checkCron(value);
    if (reason !== undefined) ctx.addIssue({ code: 'custom', message: `expected a cron expression like "*/5 * * * *" (${reason})`, input: value });
  });

const doc = (key: AccountKey): string => ACCOUNT_KEY_DOCS[key].description;

/** An account's `backoff` object. */
const backoff = () =>
  z.strictObject({
    initial: duration().optional().describe(BACKOFF_KEY_DOCS.initial.description),
    max: duration().optional().describe(BACKOFF_KEY_DOCS.max.description),
  });

/** An account's `webhook` object. */
const webhook = () =>
  z.strictObject({
    url: text()
      .refine((value) => /^https?:\/\/[^/]/i.test(value), { error: 'expected an http:// or https:// URL' })
      .describe(WEBHOOK_KEY_DOCS.url.description),
    method: z.enum(['POST', 'PUT', 'PATCH']).optional().describe(WEBHOOK_KEY_DOCS.method.description),
    headers: z.record(z.string(), z.string()).optional().describe(WEBHOOK_KEY_DOCS.headers.description),
    body: z.enum(['raw', 'json']).optional().describe(WEBHOOK_KEY_DOCS.body.description),
    timeout: duration().optional().describe(WEBHOOK_KEY_DOCS.timeout.description),
    secret: text().optional().describe(WEBHOOK_KEY_DOCS.secret.description),
    ca: text().optional().describe(WEBHOOK_KEY_DOCS.ca.description),
  });

/** The account keys other than `name`: what `defaults` may hold. */
const accountFields = {
  enabled: flag().optional().describe(doc('enabled')),
  protocol: z.enum(['imap', 'pop3', 'maildir']).optional().describe(doc('protocol')),
  host: text().optional().describe(doc('host')),
  port: integer(1, 65535, 'expected an integer 1-65535').optional().describe(doc('port')),
  tls: z.enum(['implicit', 'starttls', 'none']).optional().describe(doc('tls')),
  tlsRejectUnauthorized: flag().optional().describe(doc('tlsRejectUnauthorized')),
  ca: text().optional().describe(doc('ca')),
  user: text().optional().describe(doc('user')),
  login: text().optional().describe(doc('login')),
  password: text().optional().describe(doc('password')),
  passwordEnv: text().optional().describe(doc('passwordEnv')),
  passwordFile: text().optional().describe(doc('passwordFile')),
  passwordCommand: text().optional().describe(doc('passwordCommand')),
  passwordSecret: text().optional().describe(doc('passwordSecret')),
  auth: z.enum(['password', 'oauth2']).optional().describe(doc('auth')),
  oauth2: oauth2Schema().optional().describe(doc('oauth2')),
  folder: text().optional().describe(doc('folder')),
  folders: z
    .union([z.literal('all'), z.array(text()).min(1, { error: 'expected at least one folder or pattern' })], {
      error: 'expected all or a list of folders and IMAP LIST patterns (* and %)',
    })
    .optional()
    .describe(doc('folders')),
  path: text().optional().describe(doc('path')),
  onlyUnseen: flag().optional().describe(doc('onlyUnseen')),
  search: searchSchema(size, flag).optional().describe(doc('search')),
  startFrom: startFrom().optional().describe(doc('startFrom')),
  skipKeyword: skipKeywordSchema().optional().describe(doc('skipKeyword')),
  after: afterSchema().optional().describe(doc('after')),
  moveTo: folderName().optional().describe(doc('moveTo')),
  maxMessages: integer(1, Number.MAX_SAFE_INTEGER, 'expected a positive integer').optional().describe(doc('maxMessages')),
  connectTimeout: duration().optional().describe(doc('connectTimeout')),
  fetchTimeout: duration().optional().describe(doc('fetchTimeout')),
  handlerTimeout: duration().optional().describe(doc('handlerTimeout')),
  handlerConcurrency: integer(1, 256, 'expected an integer 1-256').optional().describe(doc('handlerConcurrency')),
  handlerMemoryLimit: size(64 * 1024 ** 2, 'expected a size of at least 64MB, like 512MB or 2GB').optional().describe(doc('handlerMemoryLimit')),
  script: text().optional().describe(doc('script')),
  command: z.union([text(), z.array(text()).min(1, 'expected a non-empty list: the program and its arguments')]).optional().describe(doc('command')),
  webhook: webhook().optional().describe(doc('webhook')),
  reprocess: flag().optional().describe(doc('reprocess')),
  maxAttempts: integer(1, 1000, 'expected an integer 1-1000').optional().describe(doc('maxAttempts')),
  retryDelay: duration().optional().describe(doc('retryDelay')),
  deleteAfter: duration().optional().describe(doc('deleteAfter')),
  quarantineFolder: folderName().optional().describe(doc('quarantineFolder')),
  maxMessageSize: size().optional().describe(doc('maxMessageSize')),
  interval: duration().optional().describe(doc('interval')),
  schedule: cron().optional().describe(doc('schedule')),
  idle: flag().optional().describe(doc('idle')),
  idleHealthCheck: duration().optional().describe(doc('idleHealthCheck')),
  backoff: backoff().optional().describe(doc('backoff')),
  ...transportFields,
  ...deliverFields(size, flag),
};

/** One entry of `accounts`, as written (before `defaults` are applied). */
export const accountSchema = z.strictObject({ name: name().describe(doc('name')), ...accountFields });

/** The `defaults` object: any account key except `name`. */
export const defaultsSchema = z.strictObject(accountFields);

/** One entry of `connections`: the connection keys of an account. */
export const connectionSchema = z.strictObject(Object.fromEntries(CONNECTION_KEYS.map((key) => [key, accountFields[key]])) as Pick<typeof accountFields, (typeof CONNECTION_KEYS)[number]>);

/** The whole config file. */
export const configSchema = z.strictObject({
  // At least one, unless accountsTable is on: checked by validateConfig, which knows both.
  accounts: z.array(accountSchema).optional().describe(TOP_LEVEL_KEY_DOCS.accounts.description),
  defaults: defaultsSchema.optional().describe(TOP_LEVEL_KEY_DOCS.defaults.description),
  script: text().optional().describe(TOP_LEVEL_KEY_DOCS.script.description),
  store: text().optional().describe(TOP_LEVEL_KEY_DOCS.store.description),
  ...storePasswordFields,
  retentionDays: integer(0, 36500, 'expected a whole number of days, 0 or more').optional().describe(TOP_LEVEL_KEY_DOCS.retentionDays.description),
  ledgerDays: integer(1, 36500, 'expected a whole number of days, 1 or more').optional().describe(TOP_LEVEL_KEY_DOCS.ledgerDays.description),
  concurrency: integer(1, 64, 'expected an integer 1-64').optional().describe(TOP_LEVEL_KEY_DOCS.concurrency.description),
  maxConnections: integer(1, 64, 'expected an integer 1-64').optional().describe(TOP_LEVEL_KEY_DOCS.maxConnections.description),
  expiresAfter: duration().optional().describe(TOP_LEVEL_KEY_DOCS.expiresAfter.description),
  leaseTtl: duration().optional().describe(TOP_LEVEL_KEY_DOCS.leaseTtl.description),
  accountsTable: flag().optional().describe(TOP_LEVEL_KEY_DOCS.accountsTable.description),
  workers: flag().optional().describe(TOP_LEVEL_KEY_DOCS.workers.description),
  listen: listenAddress().optional().describe(TOP_LEVEL_KEY_DOCS.listen.description),
  connections: z.record(name(), connectionSchema).optional().describe(TOP_LEVEL_KEY_DOCS.connections.description),
  connectionsFile: text().optional().describe(TOP_LEVEL_KEY_DOCS.connectionsFile.description),
});

export type ParsedAccount = z.output<typeof accountSchema>;
export type ParsedDefaults = z.output<typeof defaultsSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type ParsedConnection = z.output<typeof connectionSchema>;

// ---------------------------------------------------------------------------------------
// Messages

export { closest, editDistance } from './did-you-mean.js';

/** `accounts[1].port` from `['accounts', 1, 'port']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

const MAX_SHOWN = 40;

/** A received value for a message: JSON, truncated; `***` under a secret key. */
export function showValue(value: unknown, path: readonly PropertyKey[]): string {
  const key = path.at(-1);
  if (typeof key === 'string' && SECRET_KEYS.has(key)) return SECRET_PLACEHOLDER;
  if (value === undefined) return 'nothing';
  let shown: string;
  try {
    // Hide secrets nested in a shown object, too (`accounts: {work: {password: …}}`).
    shown = JSON.stringify(value, (name: string, item: unknown) => (SECRET_KEYS.has(name) && item !== undefined ? SECRET_PLACEHOLDER : item)) ?? String(value);
  } catch {
    shown = String(value);
  }
  return shown.length > MAX_SHOWN ? `${shown.slice(0, MAX_SHOWN - 1)}…` : shown;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object (key: value)',
};

/** The value at `path` in `root`, or undefined. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

/** The keys allowed in the object at `path` (for unknown-key hints). */
function allowedKeys(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return Object.keys(TOP_LEVEL_KEY_DOCS);
  if (path.at(-1) === 'backoff') return Object.keys(BACKOFF_KEY_DOCS);
  if (path.includes('search')) return Object.keys(SEARCH_KEY_DOCS);
  if (path.at(-1) === 'webhook') return Object.keys(WEBHOOK_KEY_DOCS);
  if (path.at(-1) === 'saveAttachments') return Object.keys(SAVE_ATTACHMENTS_KEY_DOCS);
  if (path.at(-1) === 'oauth2') return Object.keys(OAUTH2_KEY_DOCS);
  if (path[0] === 'connections') return CONNECTION_KEYS;
  if (path[0] === 'defaults') return Object.keys(ACCOUNT_KEY_DOCS).filter((key) => key !== 'name');
  return Object.keys(ACCOUNT_KEY_DOCS);
}

function unknownKeyMessage(key: string, path: readonly PropertyKey[]): string {
  if (path[0] === 'defaults' && path.length === 1 && key === 'name') {
    return 'not allowed in defaults: every account needs its own name';
  }
  const suggestion = closest(key, allowedKeys(path));
  if (suggestion !== undefined) return `unknown key (did you mean "${suggestion}"?)`;
  if (path.length === 0 && key in ACCOUNT_KEY_DOCS) {
    return 'unknown key (account keys go in an entry of accounts, or in defaults)';
  }
  return `unknown key (allowed: ${allowedKeys(path).join(', ')})`;
}

/** The parts of a zod issue `formatIssue` reads (zod's own type is a wide union). */
export interface IssueLike {
  code?: string | undefined;
  path: readonly PropertyKey[];
  message: string;
  expected?: unknown;
  values?: readonly unknown[];
  keys?: readonly string[];
  origin?: unknown;
  minimum?: unknown;
}

/**
 * Problem lines (`path.to.key: message`, no file name) for one zod issue. `root` is the
 * parsed input, used to show the received value.
 */
export function formatIssue(issue: IssueLike, root: unknown): string[] {
  const path = issue.path;
  const where = (at: readonly PropertyKey[]) => (at.length === 0 ? '' : `${formatPath(at)}: `);
  if (issue.code === 'unrecognized_keys') {
    return (issue.keys ?? []).map((key) => `${where([...path, key])}${unknownKeyMessage(key, path)}`);
  }
  const value = valueAt(root, path);
  const got = showValue(value, path);
  const parent = path.length === 0 ? undefined : valueAt(root, path.slice(0, -1));
  const present =
    path.length === 0 || (value !== undefined && parent !== null && typeof parent === 'object' && Object.hasOwn(parent, path.at(-1)!));
  if (!present) return [`${where(path)}is required`];

  let expectation: string;
  if (issue.message.startsWith('expected ')) {
    expectation = issue.message;
  } else if (issue.code === 'invalid_type') {
    const expected = String(issue.expected);
    if (path.length === 0) expectation = 'expected an object with an accounts list';
    else expectation = `expected ${TYPE_NAMES[expected] ?? expected}`;
    if ((typeof value === 'number' || typeof value === 'boolean') && expected === 'string') {
      return [`${where(path)}${expectation}, got ${got} (put it in quotes)`];
    }
  } else if (issue.code === 'invalid_value') {
    const values = (issue.values ?? []).map(String);
    expectation = `expected one of ${values.join(', ')}`;
    const suggestion = typeof value === 'string' ? closest(value, values) : undefined;
    if (suggestion !== undefined) return [`${where(path)}${expectation}, got ${got} (did you mean "${suggestion}"?)`];
  } else if (issue.code === 'too_small' && issue.origin === 'array') {
    expectation = path.at(-1) === 'accounts' ? 'expected at least one account' : `expected at least ${String(issue.minimum)} entries`;
  } else {
    expectation = `expected a valid value (${issue.message})`;
  }
  return [`${where(path)}${expectation}, got ${got}`];
}
