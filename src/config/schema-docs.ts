/**
 * What each config key means, its default and where it applies: the documentation the
 * schema's `describe()`, the README's config reference, `validate`'s hints and
 * `mailpoll schema` are written from. Pure data.
 */
import type { Protocol } from '../domain.js';
import { DURATION_JSON_PATTERN, formatDuration, parseDuration } from '../duration.js';
import { OAUTH2_ACCOUNT_KEY_DOCS, OAUTH2_KEY_DOCS, oauth2Schema } from './oauth2.js';
import { DELIVER_KEY_DOCS, SAVE_ATTACHMENTS_KEY_DOCS, deliverFields } from './schema-deliver.js';
import { STORE_PASSWORD_KEY_DOCS } from './store-password.js';
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
    description: '`implicit` (TLS from the first byte, ports 993/995), `starttls` (upgrade a plain connection with STARTTLS, on POP3 STLS; refused if the server does not offer it) or `none` (plaintext, strongly discouraged).',
    default: ACCOUNT_DEFAULTS.tls,
    protocols: SERVER,
  },
  tlsRejectUnauthorized: {
    description: 'Verify the server certificate. `false` accepts any certificate (insecure; prefer `ca` or `tlsFingerprint`), and every run, check and watch start then prints a warning on stderr.',
    default: String(ACCOUNT_DEFAULTS.tlsRejectUnauthorized),
    protocols: SERVER,
  },
  ca: {
    description: 'PEM file with CA certificates to trust in addition to the system ones, for a private CA or a self-signed server (relative to the config file, `~/` allowed). Must exist.',
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
    description: 'The password, literally (prefer `passwordEnv`, `passwordFile`, `passwordCommand` or `passwordSecret`). Set exactly one password source for imap and pop3 (none with `auth: oauth2`). A password is never printed; from any source it must be at most 8192 bytes with no control character but tab (NUL, CR, LF, ESC...), else it is refused with exit 2.',
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
    description: 'Shell command printing the password on its first line of output, e.g. `pass show mail/work`. Runs with `/bin/sh -c` in the config file\'s folder, in its own process group and without a terminal (use an agent, not a prompt); if it fails or runs 30 s, the whole group, background children included, gets SIGTERM, then SIGKILL 1 s later.',
    protocols: SERVER,
  },
  ...OAUTH2_ACCOUNT_KEY_DOCS,
  folder: {
    description: 'IMAP folder to poll, named as a mail client shows it: `/` separates sub-folders (`Support/Incidents`) and is mapped to the server\'s delimiter, the server\'s personal prefix is added (README, "Config").',
    default: ACCOUNT_DEFAULTS.folder,
    protocols: ['imap'],
  },
  folders: {
    description:
      'Several IMAP folders read one after another over one connection: a list of names and LIST patterns (`[INBOX, Support, "Projects/*"]`; `*` matches any depth, `%` one level), or `all` (every selectable folder except those the server marks `\\Trash`, `\\Junk`, `\\Sent`, `\\Drafts`, and the account\'s `moveTo`/`quarantineFolder`). Not together with `folder` (README, "Several folders").',
    default: 'one folder (`folder`)',
    protocols: ['imap'],
  },
  path: {
    description: 'The Maildir folder, with `cur/ new/ tmp/` (relative to the config file, `~/` allowed). Required for maildir. Only regular files in `new/` and `cur/` are messages: a symlink (never followed), a FIFO, a folder or a device there is skipped with a warning on stderr naming it and left untouched; it is not a failure.',
    protocols: ['maildir'],
  },
  onlyUnseen: {
    description: 'Only work on messages not yet marked as read (IMAP: without `\\Seen`; Maildir: in `new/`, or in `cur/` without `S`). POP3 has no flags, so it does not apply there.',
    default: String(ACCOUNT_DEFAULTS.onlyUnseen),
    protocols: ['imap', 'maildir'],
  },
  skipKeyword: {
    description: 'Leave out messages that carry this keyword (`$Processed`), as `onlyUnseen` leaves out read ones: IMAP searches `UNKEYWORD`; a Maildir can only look for `\\Flagged` or `\\Seen`.',
    protocols: ['imap', 'maildir'],
  },
  search: {
    description:
      'Which messages are candidates at all: `{from, to, cc, subject, body, header, since, before, larger, smaller, keyword, unkeyword, seen, flagged}`, every key set must match, with `or: [...]` and `not: {...}` for the rest, or `raw:` for a literal IMAP SEARCH string (README, "Choosing messages"). IMAP searches on the server (one `UID SEARCH`); POP3 and Maildir filter locally on the headers and size. With `onlyUnseen` only unread matches count, unless the search sets `seen` itself. Messages that do not match are neither handed over nor recorded.',
    default: 'every message (unread ones with `onlyUnseen`)',
    protocols: ALL,
  },
  startFrom: {
    description:
      'A baseline on the first run (no ledger rows for the mailbox yet): `now` records every message already there as `skipped`, an ISO date or time (`2026-01-31`, `2026-01-31T08:00:00Z`) only those that arrived before it. Skipped messages are never handed over and left untouched on the server; `mailpoll baseline` does the same on demand (README, "First run: a baseline"). POP3 takes only `now`.',
    default: 'no baseline: the first run hands over what is there',
    protocols: ALL,
  },
  after: {
    description: 'What to do with a message when the handler returns nothing: `markSeen`, `delete`, `move` (to `moveTo`) or `keep`; `copy:<Folder>`, `flag:<keyword>` or `unflag:<keyword>` (keep it, and do that); or `{ action, flags, unflags, copyTo }`. POP3 allows only `keep` and `delete`; a Maildir only the flags `\\Seen` and `\\Flagged` (README, "Copy and keywords").',
    default: `${ACCOUNT_DEFAULTS.after} (imap, maildir), ${POP3_DEFAULTS.after} (pop3)`,
    protocols: ALL,
  },
  moveTo: {
    description: 'Target folder of `after: move` and of a handler\'s `move`, created if missing. Required when `after` is `move`. Not the polled folder; no `*`, `%`, `..` or control characters.',
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
    description: 'Time allowed for fetching one batch of messages; a stalled server is cut off and the account reported.',
    default: formatDuration(ACCOUNT_DEFAULTS.fetchTimeout),
    protocols: ALL,
  },
  handlerTimeout: {
    description: 'Time a handler may run for one message; then it is a failure and the message stays untouched (a JS handler\'s worker thread is stopped, even in a synchronous loop).',
    default: formatDuration(ACCOUNT_DEFAULTS.handlerTimeout),
    protocols: ALL,
  },
  handlerConcurrency: {
    description: 'How many messages of this account may be in their handlers at once, 1-256, for every handler kind (README, "Handlers side by side"). Handlers still see messages in mailbox order, each decision is recorded before its server action, and the report keeps mailbox order.',
    default: String(ACCOUNT_DEFAULTS.handlerConcurrency),
    protocols: ALL,
  },
  handlerMemoryLimit: {
    description:
      'The JavaScript heap a JS handler\'s worker thread may use (`512MB`, `2GB`; at least 64MB); beyond it the handler fails for that message, which stays untouched, and the worker is replaced. Buffers such as attachment contents are not counted. A smaller limit also makes V8 collect sooner, keeping the worker\'s memory close to what the handler really holds. Not for `command`, `webhook` or `deliver` handlers.',
    default: '1GB',
    protocols: ALL,
  },
  script: {
    description: 'The handler module for this account (relative to the config file, `~/` allowed). Falls back to `defaults.script`, then the top-level `script`; `-s FILE` overrides all of them.',
    protocols: ALL,
  },
  command: {
    description:
      'A program run per message instead of a `script`: a list (`["./handle.py", "--queue", "support"]`) run without a shell, or a string run by `/bin/sh -c`, in the config file\'s folder (a relative program path resolves against it). It reads the message source on stdin and prints its decision (README, "Command handlers"). An account names one handler kind: `script`, `command`, `webhook` or `deliver`.',
    protocols: ALL,
  },
  webhook: {
    description:
      'A handler that is an HTTP endpoint instead of a module: `{url, method, headers, body, timeout, secret, ca}` (README, "Webhook handlers"). An account names one handler kind: `script`, `command`, `webhook` or `deliver`.',
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
  deleteAfter: {
    description:
      'Delete kept mail (`keep`, `markSeen`, flags, a copy) from the server this long after it was handled (`30d`), in a later run, by the dates in the ledger. `--dry-run` lists what would be deleted (README, "Delete after N days").',
    default: 'never',
    protocols: ALL,
  },
  retryDelay: {
    description:
      'Wait before a failed message (handler or server action) is tried again: each failure doubles the wait, up to 6 hours, so `maxAttempts` is a span of time, not a number of runs. Until then runs leave the message alone and count it as deferred.',
    default: formatDuration(ACCOUNT_DEFAULTS.retryDelay),
    protocols: ALL,
  },
  quarantineFolder: {
    description: 'IMAP folder a quarantined message is moved to (created if missing). Without it, the message stays where it is and is skipped. Not the polled folder; no `*`, `%`, `..` or control characters.',
    protocols: ['imap'],
  },
  maxMessageSize: {
    description: 'Messages larger than this are reported (as quarantined) and skipped, never downloaded or deleted: a number of bytes or `500KB`, `25MB`, `1GB`.',
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
      'Watch mode: keep the connection open and process new mail as soon as the server announces it (IMAP IDLE, re-issued well within 29 minutes). A server without IDLE is polled every `interval` instead. The open connection counts against `maxConnections` all the time.',
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
  ...DELIVER_KEY_DOCS,
} as const satisfies Record<string, KeyDoc>;

export type AccountKey = keyof typeof ACCOUNT_KEY_DOCS;

/** The top-level keys of the config file. */
export const TOP_LEVEL_KEY_DOCS = {
  accounts: { description: 'The mailboxes to poll, a non-empty list. Required, unless `accountsTable: true` (then it may be empty or left out).' },
  defaults: { description: 'Account keys (any but `name`) every account inherits; an account\'s own value wins.' },
  script: { description: 'The handler module of accounts that name none (relative to the config file, `~/` allowed).' },
  store: {
    description:
      'Where the ledger, archive, run history and leases are: a SQLite file (relative to the config file, `~/` allowed) or a PostgreSQL database, `postgres://user@host:5432/db` (README, "The store"). `MAILPOLL_STORE` overrides it, and `--store PATH|URL` both.',
    default: '$XDG_STATE_HOME/mailpoll/mailpoll.db, else ~/.local/state/mailpoll/mailpoll.db',
  },
  ...STORE_PASSWORD_KEY_DOCS,
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
    description:
      'Watch mode: connections to the same server host (`host:port`) at once, per process; an integer 1-64. A session holds its slot until its sockets have closed; an IDLE connection holds it for as long as it waits, so more `idle` accounts on one host than this leave the rest waiting (the watch warns at start).',
    default: String(CONFIG_DEFAULTS.maxConnections),
  },
  expiresAfter: {
    description: 'Watch mode: end the watch cleanly this long after it started (`8h`, `30m`). `--until` gives an end time on the command line.',
    default: 'never',
  },
  leaseTtl: {
    description:
      'Watch mode, for workers (a PostgreSQL store, or `workers: true`): how long a worker\'s leases on its accounts last without a heartbeat (`60s`, `2m`); it beats every third of it, and takes over the accounts of a worker silent for longer (README, "Running on several hosts").',
    default: '60s',
  },
  accountsTable: {
    description:
      '`true`: the accounts of the PostgreSQL store\'s table `mailpoll.accounts` join those of this file (the same keys, `defaults` and `connections`, secrets only by reference), so that an application adds and removes mailboxes without a redeploy; workers see a change within one heartbeat. Needs a `postgres://` store (README, "Accounts in the database").',
    default: 'false',
  },
  workers: {
    description:
      'Watch mode on a SQLite store: `true` makes every `mailpoll --watch` on the file a worker, so that several processes on one host split the accounts between them (README, "Several watches on one host"). Without it, one watch works on every account. A PostgreSQL store always has workers.',
    default: 'false',
  },
  listen: {
    description:
      'Watch mode: serve `/healthz`, `/readyz` and `/metrics` (Prometheus) over HTTP at `HOST:PORT` (`127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464` for every interface) or a bare port (on 127.0.0.1). `--listen` overrides it (README, "Health and metrics").',
    default: 'off',
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
export const HANDLER_KEYS = ['script', 'command', 'webhook', 'deliver'] as const;
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
export const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'passwordCommand', 'secret', 'headers', 'proxy', 'clientSecret', 'clientSecretCommand', 'accessTokenCommand', 'proxyPasswordCommand', 'storePasswordCommand']);
