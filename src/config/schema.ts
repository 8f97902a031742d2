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
import type { Protocol } from '../domain.js';
import { DURATION_JSON_PATTERN, formatDuration, parseDuration } from '../duration.js';
import { SECRET_PLACEHOLDER } from '../redact.js';
import { folderNameProblem } from '../mailbox/folder-name.js';
import { checkCron } from './cron.js';
import { SEARCH_KEY_DOCS, searchSchema } from './search.js';
import { startFrom } from './start-from.js';
import { OAUTH2_ACCOUNT_KEY_DOCS, OAUTH2_KEY_DOCS, oauth2Schema } from './oauth2.js';
import { closest } from './did-you-mean.js';
import { CONNECTIONS_KEY_DOCS, CONNECTION_KEYS, TRANSPORT_KEY_DOCS, transportFields } from './schema-transport.js';
import { ACCOUNT_DEFAULTS, CONFIG_DEFAULTS, IMPLICIT_TLS_PORT, PLAIN_PORT, POP3_DEFAULTS, WEBHOOK_DEFAULTS } from './defaults.js';

/** Documentation of one config key; the README's config reference is written from these. */
export interface KeyDoc {
  /** One or two sentences for the reference. */
  description: string;
  /** The default as a user would write it, when there is one. */
  default?: string;
  /** The protocols the key applies to (account keys only). */
  protocols: readonly Protocol[];
}

const { backoff: BACKOFF } = ACCOUNT_DEFAULTS;

const ALL: readonly Protocol[] = ['imap', 'pop3', 'maildir'];
const SERVER: readonly Protocol[] = ['imap', 'pop3'];

/** Every key an account (or `defaults`, except `name`) accepts. */
export const ACCOUNT_KEY_DOCS = {
  name: {
    description: 'Unique name of the account, used in reports and `-a NAME`. Letters, digits, `.`, `_` and `-`. Required; not allowed in `defaults`.',
    protocols: ALL,
  },
  enabled: {
    description: 'Accounts with `enabled: false` are skipped unless named with `-a`.',
    default: String(ACCOUNT_DEFAULTS.enabled),
    protocols: ALL,
  },
  protocol: {
    description: '`imap`, `pop3` or `maildir`. Required (here or in `defaults`).',
    protocols: ALL,
  },
  host: {
    description: 'Server host name. Required for imap and pop3.',
    protocols: SERVER,
  },
  port: {
    description: 'Server port, an integer 1-65535.',
    default: `imap: ${IMPLICIT_TLS_PORT.imap} with \`tls: implicit\`, else ${PLAIN_PORT.imap}; pop3: ${IMPLICIT_TLS_PORT.pop3} with \`tls: implicit\`, else ${PLAIN_PORT.pop3}`,
    protocols: SERVER,
  },
  tls: {
    description: '`implicit` (TLS from the first byte, ports 993/995), `starttls` (upgrade a plain connection) or `none` (plaintext, strongly discouraged).',
    default: ACCOUNT_DEFAULTS.tls,
    protocols: SERVER,
  },
  tlsRejectUnauthorized: {
    description: 'Verify the server certificate. Turn off only for testing.',
    default: String(ACCOUNT_DEFAULTS.tlsRejectUnauthorized),
    protocols: SERVER,
  },
  ca: {
    description: 'PEM file with CA certificates to trust in addition to the system ones (relative to the config file, `~/` allowed). Must exist.',
    protocols: SERVER,
  },
  user: {
    description: 'The mailbox address or user name. Required for imap and pop3.',
    protocols: SERVER,
  },
  login: {
    description: 'Login name, when it differs from `user`.',
    default: 'the value of `user`',
    protocols: SERVER,
  },
  password: {
    description: 'The password, literally (prefer `passwordEnv`, `passwordFile` or `passwordCommand`). Set exactly one password source for imap and pop3.',
    protocols: SERVER,
  },
  passwordEnv: {
    description: 'Name of an environment variable holding the password.',
    protocols: SERVER,
  },
  passwordFile: {
    description: 'File whose first line is the password (relative to the config file, `~/` allowed).',
    protocols: SERVER,
  },
  passwordCommand: {
    description: 'Shell command printing the password on its first line of output, e.g. `pass show mail/work`. Runs with `/bin/sh -c` in the config file\'s folder, for at most 30 s.',
    protocols: SERVER,
  },
  ...OAUTH2_ACCOUNT_KEY_DOCS,
  folder: {
    description: 'IMAP folder to poll, `/`-separated (`Inbox/Incidents`).',
    default: ACCOUNT_DEFAULTS.folder,
    protocols: ['imap'],
  },
  path: {
    description: 'The Maildir folder (relative to the config file, `~/` allowed). Required for maildir.',
    protocols: ['maildir'],
  },
  onlyUnseen: {
    description: 'Only work on messages not yet marked as read. POP3 has no flags, so it does not apply there.',
    default: String(ACCOUNT_DEFAULTS.onlyUnseen),
    protocols: ['imap', 'maildir'],
  },
  search: {
    description:
      'Which messages are candidates at all: `{from, to, cc, subject, body, header, since, before, larger, smaller, keyword, unkeyword, seen, flagged}`, every key set must match, with `or: [...]` and `not: {...}` for the rest, or `raw:` for a literal IMAP SEARCH string (README, "Choosing messages"). IMAP searches on the server; POP3 and Maildir filter locally on the headers and size. Messages that do not match are neither handed over nor recorded.',
    default: 'every message (unread ones with `onlyUnseen`)',
    protocols: ALL,
  },
  startFrom: {
    description:
      'A baseline on the first run (no ledger rows for the mailbox yet): `now` records every message already there as `skipped`, an ISO date or time (`2026-01-31`, `2026-01-31T08:00:00Z`) only those that arrived before it. Skipped messages are never handed over and left untouched on the server; `mailpoll baseline` does the same on demand (README, "First run: a baseline").',
    default: 'no baseline: the first run hands over what is there',
    protocols: ALL,
  },
  after: {
    description: 'What to do with a message when the handler returns nothing: `markSeen`, `delete`, `move` (to `moveTo`) or `keep`. POP3 allows only `keep` and `delete`.',
    default: `${ACCOUNT_DEFAULTS.after} (imap, maildir), ${POP3_DEFAULTS.after} (pop3)`,
    protocols: ALL,
  },
  moveTo: {
    description: 'Target folder of `after: move` and of a handler\'s `move`. Required when `after` is `move`.',
    protocols: ['imap', 'maildir'],
  },
  maxMessages: {
    description: 'At most this many messages per cycle (a positive integer); the rest wait for the next run.',
    default: 'no limit',
    protocols: ALL,
  },
  connectTimeout: {
    description: 'Time allowed for connecting, TLS, greeting and login: `30s`, `2m`, `1h`, `500ms` or a number of seconds.',
    default: formatDuration(ACCOUNT_DEFAULTS.connectTimeout),
    protocols: SERVER,
  },
  fetchTimeout: {
    description: 'Time allowed for fetching one batch of messages.',
    default: formatDuration(ACCOUNT_DEFAULTS.fetchTimeout),
    protocols: ALL,
  },
  handlerTimeout: {
    description: 'Time a handler may run for one message.',
    default: formatDuration(ACCOUNT_DEFAULTS.handlerTimeout),
    protocols: ALL,
  },
  handlerConcurrency: {
    description: 'How many messages of this account may be in their handlers at once (a positive integer). Handlers still see messages in mailbox order, each decision is recorded before its server action, and the report keeps mailbox order.',
    default: String(ACCOUNT_DEFAULTS.handlerConcurrency),
    protocols: ALL,
  },
  script: {
    description: 'The handler module for this account (relative to the config file, `~/` allowed). Falls back to `defaults.script`, then the top-level `script`; `-s FILE` overrides all of them.',
    protocols: ALL,
  },
  command: {
    description:
      'A program run per message instead of a `script`: a list (`["./handle.py", "--queue", "support"]`) run without a shell, or a string run by `/bin/sh -c`, in the config file\'s folder (a relative program path resolves against it). It reads the message source on stdin and prints its decision (README, "Command handlers"). An account names one handler kind: `script`, `command` or `webhook`.',
    protocols: ALL,
  },
  webhook: {
    description:
      'A handler that is an HTTP endpoint instead of a module: `{url, method, headers, body, timeout, secret, ca}` (README, "Webhook handlers"). An account names one handler kind: `script`, `command` or `webhook`.',
    protocols: ALL,
  },
  reprocess: {
    description: 'Hand a message to the handler again although the ledger has it as done: with IMAP, a message set back to unseen is processed again; with `after: keep`, every run sees every message again.',
    default: String(ACCOUNT_DEFAULTS.reprocess),
    protocols: ALL,
  },
  maxAttempts: {
    description: 'Failed attempts (handler failures and refused server actions) before a message is quarantined (skipped by later runs until `mailpoll retry`).',
    default: String(ACCOUNT_DEFAULTS.maxAttempts),
    protocols: ALL,
  },
  retryDelay: {
    description:
      'Wait before a failed message (handler or server action) is tried again: each failure doubles the wait, up to 6 hours, so `maxAttempts` is a span of time, not a number of runs. Until then runs leave the message alone and count it as deferred.',
    default: formatDuration(ACCOUNT_DEFAULTS.retryDelay),
    protocols: ALL,
  },
  quarantineFolder: {
    description: 'IMAP folder a quarantined message is moved to (created if missing). Without it, the message stays where it is and is skipped.',
    protocols: ['imap'],
  },
  maxMessageSize: {
    description: 'Messages larger than this are reported and skipped, never downloaded or deleted: a number of bytes or `500KB`, `25MB`, `1GB`.',
    default: 'no limit',
    protocols: ALL,
  },
  interval: {
    description:
      'Watch mode: time from the start of one cycle of the account to the start of the next; a cycle that runs longer delays the next, they never overlap. `--interval` overrides it. In `defaults` it applies to every account.',
    default: formatDuration(ACCOUNT_DEFAULTS.interval),
    protocols: ALL,
  },
  schedule: {
    description:
      'Watch mode: a cron expression for when cycles start, instead of `interval` (set one of the two): 5 fields `minute hour day-of-month month weekday` (`*/5 * * * *`, `0 8-18 * * MON-FRI`), 6 with seconds first, or `@hourly`/`@daily`; local time unless it starts with `TZ=Area/City `.',
    protocols: ALL,
  },
  idle: {
    description:
      'Watch mode: keep the connection open and process new mail as soon as the server announces it (IMAP IDLE, re-issued well within 29 minutes). A server without IDLE is polled every `interval` instead.',
    default: String(ACCOUNT_DEFAULTS.idle),
    protocols: ['imap'],
  },
  idleHealthCheck: {
    description: 'With `idle`: a dead connection is noticed (NOOP) and reconnected within this time.',
    default: formatDuration(ACCOUNT_DEFAULTS.idleHealthCheck),
    protocols: ['imap'],
  },
  backoff: {
    description:
      'Watch mode: waits between reconnect attempts after a failure, `{initial, max}`, each twice the last, from `initial` up to `max`. An account that has not connected once since mailpoll started gives up when the wait reaches `max`; one that has keeps retrying every `max`.',
    default: `{initial: ${formatDuration(BACKOFF.initialMs)}, max: ${formatDuration(BACKOFF.maxMs)}}`,
    protocols: ALL,
  },
  ...TRANSPORT_KEY_DOCS,
} as const satisfies Record<string, KeyDoc>;

export type AccountKey = keyof typeof ACCOUNT_KEY_DOCS;

/** The top-level keys of the config file. */
export const TOP_LEVEL_KEY_DOCS = {
  accounts: { description: 'The mailboxes to poll, a non-empty list. Required.' },
  defaults: { description: 'Account keys (any but `name`) every account inherits; an account\'s own value wins.' },
  script: { description: 'The handler module of accounts that name none (relative to the config file, `~/` allowed).' },
  store: {
    description: 'The SQLite file of the ledger, archive and history (relative to the config file, `~/` allowed). `--store PATH` overrides it.',
    default: '$XDG_STATE_HOME/mailpoll/mailpoll.db, else ~/.local/state/mailpoll/mailpoll.db',
  },
  retentionDays: {
    description: 'Days the raw copy of each fetched message is kept in the store (`mailpoll show REF --raw`); 0 keeps none.',
    default: String(CONFIG_DEFAULTS.retentionDays),
  },
  ledgerDays: {
    description: 'Days ledger rows of messages no longer on the server are kept (for history and dedupe); rows of messages still on the server are never purged.',
    default: String(CONFIG_DEFAULTS.ledgerDays),
  },
  concurrency: {
    description: 'Watch mode: accounts worked on at the same time, one connection each; an integer 1-64.',
    default: String(CONFIG_DEFAULTS.concurrency),
  },
  maxConnections: {
    description: 'Watch mode: connections to the same server host at once (IDLE connections included); an integer 1-64.',
    default: String(CONFIG_DEFAULTS.maxConnections),
  },
  expiresAfter: {
    description: 'Watch mode: end the watch cleanly this long after it started (`8h`, `30m`). `--until` gives an end time on the command line.',
    default: 'never',
  },
  ...CONNECTIONS_KEY_DOCS,
} as const satisfies Record<string, Omit<KeyDoc, 'protocols'>>;

/** The keys of an account's `backoff` object. */
export const BACKOFF_KEY_DOCS = {
  initial: { description: 'The wait after the first failed attempt.', default: formatDuration(BACKOFF.initialMs) },
  max: { description: 'The longest wait; where an account that never connected gives up.', default: formatDuration(BACKOFF.maxMs) },
} as const satisfies Record<string, Omit<KeyDoc, 'protocols'>>;

/** The ways to give a password; at most one per account (or per `defaults`). */
export const PASSWORD_KEYS = ['password', 'passwordEnv', 'passwordFile', 'passwordCommand', 'passwordSecret'] as const;
export type PasswordKey = (typeof PASSWORD_KEYS)[number];

/** The kinds of handler an account may name; at most one per account (or per `defaults`). */
export const HANDLER_KEYS = ['script', 'command', 'webhook'] as const;
export type HandlerKey = (typeof HANDLER_KEYS)[number];

/** The keys of an account's `webhook` object. */
export const WEBHOOK_KEY_DOCS = {
  url: { description: 'The endpoint, `http://` or `https://`. Required.' },
  method: { description: '`POST`, `PUT` or `PATCH`.', default: WEBHOOK_DEFAULTS.method },
  headers: { description: 'Extra request headers, `{Name: value}`. Values from `${VARS}` and `Authorization` are masked in all output.' },
  body: { description: '`raw` (the RFC 822 source as `message/rfc822`) or `json` (metadata, text, html and attachments as one JSON document).', default: WEBHOOK_DEFAULTS.body },
  timeout: { description: 'Time allowed for one request; capped by `handlerTimeout`.', default: formatDuration(WEBHOOK_DEFAULTS.timeout) },
  secret: { description: 'Signs each request: `X-Mailpoll-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>">` with `X-Mailpoll-Timestamp`.' },
  ca: { description: 'PEM file with CA certificates to trust for the endpoint, in addition to the system ones (relative to the config file, `~/` allowed).' },
} as const satisfies Record<string, Omit<KeyDoc, 'protocols'>>;

/** Keys whose values are never shown in an error message. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'passwordCommand', 'secret', 'headers', 'proxy', 'clientSecret', 'clientSecretCommand', 'accessTokenCommand']);

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

/** A size in bytes, from a number of bytes or `500KB`, `25MB`, `1GB` (binary units). */
const size = () =>
  checked<number>((value) => {
    const match = typeof value === 'number' ? [String(value), String(value), ''] : typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)\s*$/i.exec(value) : null;
    const unit = SIZE_UNITS[(match?.[2] ?? '').toLowerCase()];
    const bytes = match && unit !== undefined ? Math.round(Number(match[1]) * unit) : NaN;
    if (!Number.isFinite(bytes) || bytes < 1) return 'expected a size like 500KB, 25MB or a number of bytes';
    return bytes;
  }, [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgG]?[bB]?)\\s*$' }]);

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
  path: text().optional().describe(doc('path')),
  onlyUnseen: flag().optional().describe(doc('onlyUnseen')),
  search: searchSchema(size, flag).optional().describe(doc('search')),
  startFrom: startFrom().optional().describe(doc('startFrom')),
  after: z.enum(['markSeen', 'delete', 'move', 'keep']).optional().describe(doc('after')),
  moveTo: folderName().optional().describe(doc('moveTo')),
  maxMessages: integer(1, Number.MAX_SAFE_INTEGER, 'expected a positive integer').optional().describe(doc('maxMessages')),
  connectTimeout: duration().optional().describe(doc('connectTimeout')),
  fetchTimeout: duration().optional().describe(doc('fetchTimeout')),
  handlerTimeout: duration().optional().describe(doc('handlerTimeout')),
  handlerConcurrency: integer(1, 256, 'expected an integer 1-256').optional().describe(doc('handlerConcurrency')),
  script: text().optional().describe(doc('script')),
  command: z.union([text(), z.array(text()).min(1, 'expected a non-empty list: the program and its arguments')]).optional().describe(doc('command')),
  webhook: webhook().optional().describe(doc('webhook')),
  reprocess: flag().optional().describe(doc('reprocess')),
  maxAttempts: integer(1, 1000, 'expected an integer 1-1000').optional().describe(doc('maxAttempts')),
  retryDelay: duration().optional().describe(doc('retryDelay')),
  quarantineFolder: folderName().optional().describe(doc('quarantineFolder')),
  maxMessageSize: size().optional().describe(doc('maxMessageSize')),
  interval: duration().optional().describe(doc('interval')),
  schedule: cron().optional().describe(doc('schedule')),
  idle: flag().optional().describe(doc('idle')),
  idleHealthCheck: duration().optional().describe(doc('idleHealthCheck')),
  backoff: backoff().optional().describe(doc('backoff')),
  ...transportFields,
};

/** One entry of `accounts`, as written (before `defaults` are applied). */
export const accountSchema = z.strictObject({ name: name().describe(doc('name')), ...accountFields });

/** The `defaults` object: any account key except `name`. */
export const defaultsSchema = z.strictObject(accountFields);

/** One entry of `connections`: the connection keys of an account. */
export const connectionSchema = z.strictObject(Object.fromEntries(CONNECTION_KEYS.map((key) => [key, accountFields[key]])) as Pick<typeof accountFields, (typeof CONNECTION_KEYS)[number]>);

/** The whole config file. */
export const configSchema = z.strictObject({
  accounts: z.array(accountSchema).min(1).describe(TOP_LEVEL_KEY_DOCS.accounts.description),
  defaults: defaultsSchema.optional().describe(TOP_LEVEL_KEY_DOCS.defaults.description),
  script: text().optional().describe(TOP_LEVEL_KEY_DOCS.script.description),
  store: text().optional().describe(TOP_LEVEL_KEY_DOCS.store.description),
  retentionDays: integer(0, 36500, 'expected a whole number of days, 0 or more').optional().describe(TOP_LEVEL_KEY_DOCS.retentionDays.description),
  ledgerDays: integer(1, 36500, 'expected a whole number of days, 1 or more').optional().describe(TOP_LEVEL_KEY_DOCS.ledgerDays.description),
  concurrency: integer(1, 64, 'expected an integer 1-64').optional().describe(TOP_LEVEL_KEY_DOCS.concurrency.description),
  maxConnections: integer(1, 64, 'expected an integer 1-64').optional().describe(TOP_LEVEL_KEY_DOCS.maxConnections.description),
  expiresAfter: duration().optional().describe(TOP_LEVEL_KEY_DOCS.expiresAfter.description),
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
