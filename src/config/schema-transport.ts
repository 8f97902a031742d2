/**
 * The account keys about how a connection reaches its server (TLS versions, a pinned
 * certificate, a client certificate, a proxy, logging in at all, a named connection) and
 * the `connections:` map: their docs and their zod fields. `schema.ts` spreads both into the
 * account's; kept apart so that neither file grows past what one reader holds.
 */
import * as z from 'zod';
import type { Protocol } from '../domain.js';
import { registerSecret } from '../redact.js';
import { TRANSPORT_DEFAULTS } from './defaults.js';

const SERVER: readonly Protocol[] = ['imap', 'pop3'];

/** The TLS versions `tlsMinVersion` accepts, oldest first (Node's names). */
export const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/** Every key a connection may hold: the account keys about reaching and logging in to the server. */
export const CONNECTION_KEYS = [
  'protocol',
  'host',
  'port',
  'tls',
  'tlsRejectUnauthorized',
  'tlsMinVersion',
  'tlsFingerprint',
  'tlsCert',
  'tlsKey',
  'ca',
  'proxy',
  'proxyPasswordEnv',
  'proxyPasswordFile',
  'proxyPasswordCommand',
  'proxyPasswordSecret',
  'user',
  'login',
  'password',
  'passwordEnv',
  'passwordFile',
  'passwordCommand',
  'passwordSecret',
  'auth',
  'oauth2',
  'requireAuth',
  'connectTimeout',
] as const;
export type ConnectionKey = (typeof CONNECTION_KEYS)[number];

export const TRANSPORT_KEY_DOCS = {
  tlsMinVersion: {
    description:
      'The oldest TLS version accepted: `TLSv1.2`, `TLSv1.3`, or for an old server `TLSv1.1`/`TLSv1` (insecure; also allows the weak ciphers such servers need).',
    default: TRANSPORT_DEFAULTS.tlsMinVersion,
    protocols: SERVER,
  },
  tlsFingerprint: {
    description:
      'Pin the server certificate: `sha256/` and its SHA-256 fingerprint in base64 or hex (colons allowed), as `mailpoll check` prints it. Any other certificate is refused before logging in. Checked in addition to `ca`/the system CAs; with `tlsRejectUnauthorized: false` the pin is the only check (README, "TLS").',
    protocols: SERVER,
  },
  tlsCert: {
    description: 'PEM file with a client certificate (and its chain) for servers that ask for one (relative to the config file, `~/` allowed). Needs `tlsKey`.',
    protocols: SERVER,
  },
  tlsKey: {
    description: 'PEM file with the private key of `tlsCert` (unencrypted). Needs `tlsCert`.',
    protocols: SERVER,
  },
  proxy: {
    description:
      'Connect through a proxy: `socks5://host:port` or `http://host:port` (HTTP CONNECT), credentials as `socks5://user:${PROXY_PASSWORD}@host:port`. The password is masked in all output. `ALL_PROXY`/`HTTPS_PROXY` are never read (README, "Proxies").',
    protocols: SERVER,
  },
  proxyPasswordEnv: {
    description: 'Environment variable holding the proxy password (for the user named in the `proxy` URL, which then carries no password of its own).',
    protocols: SERVER,
  },
  proxyPasswordFile: {
    description: 'File whose first line is the proxy password (relative to the config file, `~/` allowed).',
    protocols: SERVER,
  },
  proxyPasswordCommand: {
    description: 'Shell command whose first output line is the proxy password (run in the config file\'s folder).',
    protocols: SERVER,
  },
  proxyPasswordSecret: {
    description: 'Name of a stored secret (`mailpoll secret set NAME`) holding the proxy password.',
    protocols: SERVER,
  },
  requireAuth: {
    description:
      '`false`: do not log in, for an IMAP server that pre-authenticates the connection (a `PREAUTH` greeting); no password is needed then. POP3 always logs in, so it does not apply there.',
    default: String(TRANSPORT_DEFAULTS.requireAuth),
    protocols: ['imap'],
  },
  connection: {
    description: 'Name of an entry of `connections` (or of `connectionsFile`) whose keys this account inherits; the account\'s own keys win (README, "Named connections").',
    protocols: SERVER,
  },
} as const;

/** The top-level keys of named connections. */
export const CONNECTIONS_KEY_DOCS = {
  connections: {
    description: `Named connections, \`{name: {host, port, tls, user, password..., proxy}}\`: the keys an account with \`connection: name\` inherits (${CONNECTION_KEYS.length} keys: ${CONNECTION_KEYS.join(', ')}).`,
  },
  connectionsFile: {
    description:
      'A YAML or JSON file holding more named connections (a map like `connections`), so that credentials can live apart from the config (relative to the config file, `~/` allowed). Held to the same permission rule.',
  },
} as const;

const text = () => z.string().min(1, { error: 'expected a non-empty string' });

/** `sha256/` + 32 bytes as base64 or hex (colons allowed), as lowercase hex; or the expectation. */
export function parseFingerprint(value: string): string | undefined {
  const match = /^sha256\/(.+)$/i.exec(value.trim());
  if (!match) return undefined;
  const body = match[1]!;
  const hex = body.replace(/:/g, '');
  if (/^[0-9a-f]{64}$/i.test(hex)) return hex.toLowerCase();
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(body)) return undefined;
  const bytes = Buffer.from(body, 'base64');
  return bytes.length === 32 ? bytes.toString('hex') : undefined;
}

const PROXY_URL = /^(socks5h?|http):\/\/[^/]+\/?$/i;

/** The zod fields of the keys above, spread into the account's. */
export const transportFields = {
  tlsMinVersion: z.enum(TLS_VERSIONS).optional().describe(TRANSPORT_KEY_DOCS.tlsMinVersion.description),
  tlsFingerprint: text()
    .refine((value) => parseFingerprint(value) !== undefined, { error: 'expected sha256/ and a SHA-256 fingerprint in base64 or hex (as mailpoll check prints it)' })
    .optional()
    .describe(TRANSPORT_KEY_DOCS.tlsFingerprint.description),
  tlsCert: text().optional().describe(TRANSPORT_KEY_DOCS.tlsCert.description),
  tlsKey: text().optional().describe(TRANSPORT_KEY_DOCS.tlsKey.description),
  proxy: text()
    .refine((value) => PROXY_URL.test(value) && proxyPort(value) !== undefined, { error: 'expected socks5://host:port or http://host:port' })
    .optional()
    .describe(TRANSPORT_KEY_DOCS.proxy.description),
  proxyPasswordEnv: text().optional().describe(TRANSPORT_KEY_DOCS.proxyPasswordEnv.description),
  proxyPasswordFile: text().optional().describe(TRANSPORT_KEY_DOCS.proxyPasswordFile.description),
  proxyPasswordCommand: text().optional().describe(TRANSPORT_KEY_DOCS.proxyPasswordCommand.description),
  proxyPasswordSecret: text().optional().describe(TRANSPORT_KEY_DOCS.proxyPasswordSecret.description),
  requireAuth: z
    .unknown()
    .transform((value, ctx): boolean => {
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      ctx.addIssue({ code: 'custom', message: 'expected true or false', input: value });
      return z.NEVER;
    })
    .optional()
    .describe(TRANSPORT_KEY_DOCS.requireAuth.description),
  connection: text().optional().describe(TRANSPORT_KEY_DOCS.connection.description),
};

/** The port of a proxy URL (explicit, or 1080 for SOCKS); undefined when it has none usable. */
function proxyPort(value: string): number | undefined {
  try {
    const url = new URL(value);
    if (url.hostname === '') return undefined;
    const port = url.port === '' ? (url.protocol.startsWith('socks') ? 1080 : undefined) : Number(url.port);
    return port !== undefined && port >= 1 && port <= 65535 ? port : undefined;
  } catch {
    return undefined;
  }
}

/** A proxy URL as the adapters use it; `password` is registered with `redact` by the loader. */
export interface ProxySpec {
  protocol: 'socks5' | 'http';
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  /** The URL without its password, for messages: `socks5://me@proxy.example:1080`. */
  display: string;
}

/** A `proxy` value the schema accepted, resolved. */
export function parseProxy(value: string): ProxySpec {
  const url = new URL(value);
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const username = url.username === '' ? undefined : decode(url.username);
  const password = url.password === '' ? undefined : decode(url.password);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const protocol = url.protocol.startsWith('socks') ? 'socks5' : 'http';
  const port = proxyPort(value)!;
  const display = `${protocol}://${username === undefined ? '' : `${encodeURIComponent(username)}@`}${url.port !== '' ? url.host : `${url.host}:${port}`}`;
  return { protocol, host, port, username, password, display };
}

/**
 * Whether a `proxy` value, as written (before `${VARS}`), holds a literal password: one that
 * is not wholly a `${NAME}` reference.
 */
export function proxyHasLiteralPassword(value: string): boolean {
  const match = /^[a-z0-9]+:\/\/[^:@/]*:([^@/]*)@/i.exec(value);
  return match !== null && isLiteral(match[1]!);
}

/** True when `value` holds text other than `${NAME}` references (which come from the environment). */
export function isLiteral(value: string): boolean {
  return value.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*\}/g, '') !== '';
}

/** The proxy password's sources besides `${VAR}` in the URL, each with the password source it reads like. */
export const PROXY_PASSWORD_SOURCES = [
  ['proxyPasswordEnv', 'passwordEnv'],
  ['proxyPasswordFile', 'passwordFile'],
  ['proxyPasswordCommand', 'passwordCommand'],
  ['proxyPasswordSecret', 'passwordSecret'],
] as const;

type ProxyPasswordKey = (typeof PROXY_PASSWORD_SOURCES)[number][0];

/**
 * What is wrong with an account's proxy password keys: more than one, one without `proxy`,
 * one beside a password in the URL, or one for a URL that names no user.
 */
export function proxyPasswordProblems(merged: Partial<Record<ProxyPasswordKey, string>> & { proxy?: string | undefined }, at: (key: string) => string): string[] {
  const given = PROXY_PASSWORD_SOURCES.map(([key]) => key).filter((key) => merged[key] !== undefined);
  if (given.length === 0) return [];
  if (given.length > 1) return [`${at(given[1]!)}: only one proxy password source, not ${given.join(' and ')}`];
  const key = given[0]!;
  if (merged.proxy === undefined) return [`${at(key)}: needs proxy (the proxy it is the password of)`];
  const url = parseProxy(merged.proxy);
  if (url.password !== undefined) return [`${at(key)}: the proxy URL has a password already; keep one of them`];
  if (url.username === undefined) return [`${at(key)}: the proxy URL names no user: socks5://USER@host:port`];
  return [];
}

/** The keys above as a parsed account holds them. */
interface TransportInput {
  tlsMinVersion?: TlsVersion | undefined;
  tlsFingerprint?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  proxy?: string | undefined;
  requireAuth?: boolean | undefined;
}

/** The resolved transport keys of an account (paths absolute); the proxy's password registered with `redact`. */
export function resolveTransport(merged: TransportInput, optionalPath: (value: string | undefined) => string | undefined) {
  const proxy = merged.proxy === undefined ? undefined : parseProxy(merged.proxy);
  registerSecret(proxy?.password);
  if (proxy?.password !== undefined) registerSecret(encodeURIComponent(proxy.password));
  return {
    tlsMinVersion: merged.tlsMinVersion ?? TRANSPORT_DEFAULTS.tlsMinVersion,
    tlsFingerprint: merged.tlsFingerprint === undefined ? undefined : parseFingerprint(merged.tlsFingerprint),
    tlsCert: optionalPath(merged.tlsCert),
    tlsKey: optionalPath(merged.tlsKey),
    proxy,
    requireAuth: merged.requireAuth ?? TRANSPORT_DEFAULTS.requireAuth,
  };
}
