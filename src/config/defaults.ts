/**
 * What a config key is when the file leaves it out, in the resolved shapes of `types.ts`
 * (durations in milliseconds). The one place the defaults are written: the schema's key
 * docs, `buildAccount`, the rules and the test helpers read them here.
 */
import type { Protocol } from '../domain.js';
import type { AccountConfig, Config, TlsMode } from './types.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** The defaults of the connection keys of `schema-transport.ts`. */
export const TRANSPORT_DEFAULTS = Object.freeze({ tlsMinVersion: 'TLSv1.2', requireAuth: true } as const);

/** The resolved account keys a config may leave out; `undefined` where there is no default. */
export type AccountDefaults = Omit<AccountConfig, 'name' | 'protocol'>;

/**
 * Every account key but `name` and `protocol`, for IMAP and Maildir (`accountDefaults` adds
 * where POP3 differs). `port` is left to `defaultPort`, which needs the protocol and `tls`.
 */
export const ACCOUNT_DEFAULTS = Object.freeze({
  enabled: true,
  host: undefined,
  port: undefined,
  tls: 'implicit',
  tlsRejectUnauthorized: true,
  ca: undefined,
  user: undefined,
  login: undefined,
  password: undefined,
  passwordSpec: undefined,
  auth: 'password',
  oauth2: undefined,
  folder: 'INBOX',
  folders: undefined,
  path: undefined,
  onlyUnseen: true,
  search: undefined,
  startFrom: undefined,
  after: 'markSeen',
  moveTo: undefined,
  maxMessages: undefined,
  connectTimeout: 30 * SECOND,
  fetchTimeout: 2 * MINUTE,
  handlerTimeout: 5 * MINUTE,
  handlerConcurrency: 1,
  handlerMemoryLimit: 1024 ** 3,
  script: undefined,
  command: undefined,
  webhook: undefined,
  deliver: undefined,
  saveAttachments: undefined,
  reprocess: false,
  maxAttempts: 5,
  retryDelay: 10 * MINUTE,
  quarantineFolder: undefined,
  maxMessageSize: undefined,
  interval: 60 * SECOND,
  schedule: undefined,
  idle: false,
  idleHealthCheck: 5 * MINUTE,
  backoff: Object.freeze({ initialMs: SECOND, maxMs: HOUR }),
  ...TRANSPORT_DEFAULTS,
  tlsFingerprint: undefined,
  tlsCert: undefined,
  tlsKey: undefined,
  proxy: undefined,
} as const satisfies AccountDefaults);

/** The `webhook` keys a config may leave out. */
export const WEBHOOK_DEFAULTS = Object.freeze({ method: 'POST', body: 'raw', timeout: 30 * SECOND } as const);

/** POP3 has no seen flag and no folders: every message is listed, and kept unless deleted. */
export const POP3_DEFAULTS = Object.freeze({ onlyUnseen: false, after: 'keep' } as const satisfies Partial<AccountDefaults>);

/** A fresh copy of the defaults of a `protocol` account (nothing shared with another account). */
export function accountDefaults(protocol: Protocol): AccountDefaults {
  const defaults: AccountDefaults = { ...ACCOUNT_DEFAULTS, backoff: { ...ACCOUNT_DEFAULTS.backoff } };
  return protocol === 'pop3' ? { ...defaults, ...POP3_DEFAULTS } : defaults;
}

/** The port of implicit TLS and of plaintext/STARTTLS, per server protocol. */
export const IMPLICIT_TLS_PORT = { imap: 993, pop3: 995 } as const;
export const PLAIN_PORT = { imap: 143, pop3: 110 } as const;

/** The port of a server account that names none: 993/995 with implicit TLS, else 143/110. */
export function defaultPort(protocol: 'imap' | 'pop3', tls: TlsMode): number {
  return tls === 'implicit' ? IMPLICIT_TLS_PORT[protocol] : PLAIN_PORT[protocol];
}

/** The top-level keys with a default. */
export const CONFIG_DEFAULTS = Object.freeze({
  retentionDays: 7,
  ledgerDays: 90,
  concurrency: 4,
  maxConnections: 2,
  leaseTtl: 60_000,
  workers: false,
} as const satisfies Partial<Config>);
