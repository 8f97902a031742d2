/**
 * The resolved configuration handed to the rest of mailpoll: defaults applied, `${VARS}`
 * substituted, relative paths made absolute, durations in milliseconds, passwords
 * resolved. The zod schema in `schema.ts` produces exactly these shapes; the defaults named
 * below are the values of `defaults.ts`.
 */
import type { Action, ActionExtras, Protocol } from '../domain.js';
import type { SecretsLocation } from '../secrets/store.js';
import type { ListenAddress } from './listen.js';
import type { OAuth2Config } from './oauth2.js';
import type { ProxySpec, TlsVersion } from './schema-transport.js';
import type { SearchCriteria } from './search.js';
import type { PasswordSpec } from './secrets.js';

/** `implicit`: TLS from the first byte (993/995). `starttls`: upgrade a plain connection. `none`: plaintext. */
export type TlsMode = 'implicit' | 'starttls' | 'none';

export interface AccountConfig {
  /** Unique name, used in reports and `-a NAME`. Required. */
  name: string;
  /** Accounts with `enabled: false` are skipped unless named with `-a`. Default `true`. */
  enabled: boolean;
  /** `imap`, `pop3` or `maildir`. Required. */
  protocol: Protocol;
  /** Server host name (imap, pop3). */
  host: string | undefined;
  /** Server port. Default from protocol and TLS: imap 993/143, pop3 995/110. */
  port: number | undefined;
  /** Default `implicit`. */
  tls: TlsMode;
  /** Verify the server certificate. Default `true`. */
  tlsRejectUnauthorized: boolean;
  /** Absolute path of a PEM file with CA certificates to trust, in addition to the system's. */
  ca: string | undefined;
  /** The oldest TLS version accepted. Default `TLSv1.2`. */
  tlsMinVersion: TlsVersion;
  /** The pinned SHA-256 fingerprint of the server certificate, lowercase hex; undefined: no pin. */
  tlsFingerprint: string | undefined;
  /** Absolute paths of the client certificate and its key (PEM), both or neither. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** The proxy the connection goes through; undefined: straight to the server. */
  proxy: ProxySpec | undefined;
  /** Log in (`true`, the default), or take the server's pre-authenticated session (IMAP PREAUTH). */
  requireAuth: boolean;
  /** The mailbox address / user name. */
  user: string | undefined;
  /** Login name, when it differs from `user`. */
  login: string | undefined;
  /**
   * The resolved password: a literal `password` at once, the other sources once
   * `resolvePasswords` has run (`loadConfig` runs it for the selected accounts). Never printed.
   */
  password: string | undefined;
  /**
   * Where the password comes from; `resolvePasswords` reads it. `validate` prints only its
   * `source`, never its value.
   */
  passwordSpec: PasswordSpec | undefined;
  /** Where the proxy's password comes from (`proxyPasswordFile` and the like), resolved into `proxy.password` by `resolvePasswords`. */
  proxyPasswordSpec?: PasswordSpec | undefined;
  /** `password` (USER/PASS, LOGIN) or `oauth2` (SASL OAUTHBEARER/XOAUTH2 with a token). Default `password`. */
  auth: 'password' | 'oauth2';
  /** The OAuth2 login of `auth: oauth2`; undefined otherwise. */
  oauth2: OAuth2Config | undefined;
  /** IMAP folder, `/`-separated (`Inbox/Incidents`). Default `INBOX`. */
  folder: string;
  /** Several folders (names and LIST patterns, or `all`), read one after another; undefined: `folder` alone. */
  folders: string[] | 'all' | undefined;
  /** Absolute path of the Maildir (maildir). */
  path: string | undefined;
  /** Only messages not yet read. Default `true`. */
  onlyUnseen: boolean;
  /** Which messages are candidates at all (`search:`), besides `onlyUnseen`; undefined: every message. */
  search: SearchCriteria | undefined;
  /**
   * The first run's baseline: `now` (everything already there), or a time in milliseconds
   * (what arrived before it) is recorded as skipped, never handed over. Undefined: none.
   */
  startFrom: 'now' | number | undefined;
  /** What to do with a message when the handler returns nothing. Default `markSeen`. */
  after: Action;
  /** Flags to set or clear and a copy to make besides `after` (its `copy:`/`flag:` forms, its object form). Undefined: none. */
  afterExtras?: ActionExtras | undefined;
  /** Messages carrying this keyword are left out of the listing (IMAP `UNKEYWORD`, Maildir its flag letter). Undefined: none. */
  skipKeyword?: string | undefined;
  /** Target folder of `after: move` and of a handler's bare `'move'`. */
  moveTo: string | undefined;
  /** At most this many messages per cycle; the rest wait for the next run. Default: no limit. */
  maxMessages: number | undefined;
  /** Milliseconds allowed for TCP + TLS + greeting + login. Default 30 s. */
  connectTimeout: number;
  /** Milliseconds allowed for fetching one batch of messages. Default 2 min. */
  fetchTimeout: number;
  /** Milliseconds a handler may run for one message. Default 5 min. */
  handlerTimeout: number;
  /** Messages of this account that may be in their handlers at once. Default 1. */
  handlerConcurrency: number;
  /** Bytes of V8 heap (old generation) a module handler's worker thread may use. Default 1 GiB. */
  handlerMemoryLimit: number;
  /** Absolute path of the handler module. Falls back to the top-level `script`. Undefined when `command` is set. */
  script: string | undefined;
  /** The command run per message instead of a module (`command:`); undefined when `script` is set. */
  command: CommandSpec | undefined;
  /** The account's webhook handler, instead of `script`. */
  webhook: WebhookConfig | undefined;
  /** Built-in delivery (`deliver:`) instead of a handler. */
  deliver: DeliverTarget | undefined;
  /** Attachments written to files before the handler runs (`saveAttachments:`). */
  saveAttachments: SaveAttachmentsConfig | undefined;
  /** Hand messages the ledger has as done to the handler again. Default `false`. */
  reprocess: boolean;
  /** Failed attempts (handler failures and refused server actions) before a message is quarantined. Default 5. */
  maxAttempts: number;
  /** Milliseconds before a failed message is tried again, doubling per failure up to 6 h. Default 10 min. */
  retryDelay: number;
  /** Milliseconds after its Decision was recorded that a kept message is deleted from the server (deleteAfter). Undefined: never. */
  deleteAfter?: number | undefined;
  /** IMAP folder quarantined messages are moved to; undefined: left in place and skipped. */
  quarantineFolder: string | undefined;
  /** Bytes; larger messages are reported and skipped, never downloaded. Default: no limit. */
  maxMessageSize: number | undefined;
  /**
   * Watch mode: milliseconds from the start of one cycle to the start of the next (cycles
   * never overlap). Default 60 s. Not used when `schedule` is set.
   */
  interval: number;
  /** Watch mode: a cron expression (checked by `checkCron`) for when cycles start, instead of `interval`. */
  schedule: string | undefined;
  /** Watch mode: keep the connection open and use IMAP IDLE (imap only; else always `false`). Default `false`. */
  idle: boolean;
  /** With `idle`: milliseconds within which a dead connection is noticed and reconnected. Default 5 min. */
  idleHealthCheck: number;
  /** Watch mode: reconnect waits double from `initialMs` up to `maxMs`. Default 1 s / 60 min. */
  backoff: { initialMs: number; maxMs: number };
}

/**
 * A command handler: `argv` run without a shell (its first element made absolute when it
 * names a path), or `['/bin/sh', '-c', line]` for the string form; run in the config file's folder.
 */
export interface CommandSpec {
  argv: string[];
  /** True for the string form (run by `/bin/sh -c`). */
  shell: boolean;
  /** Working folder: the config file's. */
  cwd: string;
}

/** A handler that is an HTTP endpoint (README, "Webhook handlers"). */
export interface WebhookConfig {
  url: string;
  /** Default `POST`. */
  method: 'POST' | 'PUT' | 'PATCH';
  /** Extra request headers; secret values are registered with `redact`. */
  headers: Record<string, string>;
  /** `raw`: the RFC 822 source; `json`: metadata, text, html and attachments. Default `raw`. */
  body: 'raw' | 'json';
  /** Milliseconds allowed for one request (capped by `handlerTimeout`). Default 30 s. */
  timeout: number;
  /** HMAC-SHA256 key of the `X-Mailpoll-Signature` header; undefined: unsigned. */
  secret: string | undefined;
  /** Absolute path of a PEM file with CA certificates to trust for the endpoint. */
  ca: string | undefined;
}

export interface Config {
  /** Absolute path of the file the config came from (undefined for an inline object). */
  file: string | undefined;
  /** Folder relative paths were resolved against. */
  dir: string;
  /** Every account, enabled or not, in file order. */
  accounts: AccountConfig[];
  /** Absolute path of the store file from `store:`; undefined: the default location. */
  store: string | undefined;
  /** The PostgreSQL store's password source (`storePasswordEnv`, ...), resolved when such a store is opened. */
  storePasswordSpec?: PasswordSpec | undefined;
  /** Days raw copies are kept. Default 7; 0 keeps none. */
  retentionDays: number;
  /** Days ledger rows of messages off the server are kept. Default 90. */
  ledgerDays: number;
  /** Watch mode: accounts worked on at once. Default 4. */
  concurrency: number;
  /** Watch mode: connections to one server host at once. Default 2. */
  maxConnections: number;
  /** Watch mode: milliseconds after its start at which the watch ends; undefined: never. */
  expiresAfter: number | undefined;
  /** Watch mode on a shared store: how long a worker's heartbeat and leases last, in milliseconds. Default 60 s. */
  leaseTtl?: number | undefined;
  /** Watch mode on a SQLite store: every watch on the file is a worker (`workers: true`). Default false. */
  workers?: boolean | undefined;
  /** Watch mode: where `/healthz`, `/readyz` and `/metrics` are served; undefined: nowhere. */
  listen?: ListenAddress | undefined;
  /** Where stored secrets are (beside the store); set by `loadConfig`, undefined from `validateConfig`. */
  secrets?: SecretsLocation | undefined;
  /** Absolute path of `connectionsFile`, when the config names one. */
  connectionsFile?: string | undefined;
  /**
   * `accountsTable: true`: how the rows of the store's accounts table become accounts beside
   * `accounts` (config/accounts-table.ts); undefined when the config does not read the table.
   */
  accountsTable?: TableAccountsBuilder | undefined;
}

/** One row of the accounts table as the config reads it: its name and its keys. */
export interface TableAccountRow {
  name: string;
  account: Record<string, unknown>;
}

/** A row of the accounts table that cannot be used, and why: `accountsTable.NAME.key: ...` lines. */
export interface RefusedTableAccount {
  account: string;
  problems: string[];
}

export interface TableAccounts {
  /** The usable rows, resolved as the file's accounts are (secrets not yet resolved), in the rows' order. */
  accounts: AccountConfig[];
  refused: RefusedTableAccount[];
}

/** The rows of the accounts table checked and resolved against the config's defaults and connections. */
export type TableAccountsBuilder = (rows: readonly TableAccountRow[]) => TableAccounts;

/** Where `deliver:` puts each message (README, "Built-in delivery"). */
export type DeliverTarget = FileDeliverTarget | ServerDeliverTarget;

/** `maildir:/path` or `mbox:/path`. */
export interface FileDeliverTarget {
  kind: 'maildir' | 'mbox';
  /** Absolute path. */
  path: string;
  /** As written, for messages. */
  display: string;
}

/** `smtp://`, `smtps://` or `lmtp://host:port`. */
export interface ServerDeliverTarget {
  kind: 'smtp' | 'lmtp';
  host: string;
  port: number;
  /** `smtps://`: TLS from the first byte. */
  secure: boolean;
  /** Refuse a server that does not offer STARTTLS (`requireTls`). */
  requireTls: boolean;
  /** Envelope recipients (`deliverTo`, else the account's user). */
  to: string[];
  /** `smtp://host:port`, for messages. */
  display: string;
}

/** `saveAttachments:` resolved. */
export interface SaveAttachmentsConfig {
  /** Absolute path of the folder files go under. */
  dir: string;
  /** File-name globs and MIME types; empty: every attachment. */
  match: string[];
  /** Bytes; larger attachments are not saved. */
  maxSize: number | undefined;
}
