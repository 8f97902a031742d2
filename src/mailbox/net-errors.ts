/**
 * Node's socket, DNS and TLS errors as mailpoll errors, for every network adapter (IMAP,
 * POP3). One line each: account, where, why, and what to change.
 */
import { ConnectionError, TimeoutError, TlsError, type MailpollError } from '../errors.js';
import type { GreetingProtocol } from './connection-utils.js';

export interface NetworkErrorContext {
  /** Account name, the first word of every message. */
  account: string;
  host: string;
  port: number;
}

/** Why a connection could not be made, in words a user recognises. */
const CONNECT_CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed temporarily',
  EAI_FAIL: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EHOSTDOWN: 'host down',
  EADDRNOTAVAIL: 'address not available',
};

/** Why an open connection ended. */
const LOST_CAUSES: Record<string, string> = {
  ECONNRESET: 'reset by the server',
  EPIPE: 'closed by the server',
  ECONNABORTED: 'aborted',
};

/** Certificate verification failures: the server is reachable but not trusted. */
const UNTRUSTED_CERTIFICATE = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
]);

const EXPIRED_CERTIFICATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

const TRUST_FIX = "Set ca: to the server's CA file, or tlsRejectUnauthorized: false (insecure).";

/** The `code` of an error or of what it wraps (`cause`, imapflow's `_err`). */
export function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 4; depth += 1) {
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    const next = current as { cause?: unknown; _err?: unknown };
    current = next.cause ?? next._err;
  }
  return undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A mailpoll error for a socket/DNS/TLS failure, or undefined when `error` is something
 * else (a protocol answer, a bug) and the caller has to describe it.
 */
export function describeNetworkError(error: unknown, context: NetworkErrorContext): MailpollError | undefined {
  const { account, host, port } = context;
  const where = `${host}:${port}`;
  const options = { account, cause: error };
  const code = errorCode(error);

  if (code !== undefined && Object.hasOwn(CONNECT_CAUSES, code)) {
    const fix = code.startsWith('EAI_') || code === 'ENOTFOUND' ? 'Check host.' : 'Check host and port.';
    return new ConnectionError(`${account}: cannot connect to ${where} (${CONNECT_CAUSES[code]}). ${fix}`, options);
  }
  if (code !== undefined && Object.hasOwn(LOST_CAUSES, code)) {
    return new ConnectionError(
      `${account}: connection to ${where} lost (${LOST_CAUSES[code]}). Try again; if it persists, check port and tls: and the server's log.`,
      options,
    );
  }
  if (code === 'ETIMEDOUT') {
    return new TimeoutError(`${account}: connecting to ${where} timed out (no answer from the network). Check host, port and firewall.`, options);
  }
  if (code !== undefined && UNTRUSTED_CERTIFICATE.has(code)) {
    return new TlsError(`${account} (${where}): TLS certificate not trusted (${code}). ${TRUST_FIX}`, options);
  }
  if (code !== undefined && EXPIRED_CERTIFICATE.has(code)) {
    const fix = "Renew the server certificate, check this machine's clock, or set tlsRejectUnauthorized: false (insecure).";
    return new TlsError(`${account} (${where}): TLS certificate not valid now (${code}). ${fix}`, options);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const reason = (error as { reason?: unknown }).reason;
    const detail = typeof reason === 'string' ? reason.replace(/\.$/, '') : 'host name not in the certificate';
    const fix = 'Set host: to a name the certificate lists, or tlsRejectUnauthorized: false (insecure).';
    return new TlsError(`${account} (${where}): TLS certificate does not match the host name (${detail}). ${fix}`, options);
  }
  // Implicit TLS against a plaintext port: the server's plaintext greeting arrives where
  // the TLS ServerHello should, and OpenSSL reads it as a bad record.
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|unknown protocol/i.test(errorText(error))) {
    const fix = "Set tls: starttls (or tls: none) for this port, or use the server's implicit-TLS port (IMAP 993, POP3 995).";
    return new TlsError(`${account} (${where}): TLS handshake failed: the server answered in plain text (tls: implicit on a plaintext port). ${fix}`, options);
  }
  // The server speaks only a TLS version older than the oldest one accepted (tlsMinVersion).
  if (code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' || code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || /no protocols available/i.test(errorText(error))) {
    const fix = "Upgrade the server's TLS; if you cannot, set tlsMinVersion: TLSv1.1 or TLSv1 for this account (insecure).";
    return new TlsError(`${account} (${where}): TLS handshake failed: the server offers only TLS versions older than tlsMinVersion allows (TLS 1.2 unless set). ${fix}`, options);
  }
  const tlsCode = code !== undefined && (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'));
  if (tlsCode || /SSL routines|alert handshake failure/i.test(errorText(error))) {
    return new TlsError(`${account} (${where}): TLS handshake failed (${oneLine(errorText(error))}). Check tls: and port.`, options);
  }
  return undefined;
}

/** OpenSSL messages carry the library path and a trailing newline: keep the reason. */
function oneLine(text: string): string {
  const reason = /:([^:]+):[^:]*\.c:\d+/.exec(text)?.[1];
  return (reason ?? text).replace(/\s+/g, ' ').trim();
}

const PROTOCOL_NAMES = { imap: 'IMAP', pop3: 'POP3' } as const;
const USUAL_PORTS = {
  imap: 'the IMAP port (993 with tls: implicit, 143 with tls: starttls)',
  pop3: 'the POP3 port (995 with tls: implicit, 110 with tls: starttls)',
} as const;

/**
 * The server's first line is another protocol's greeting (or a TLS record): said at once,
 * with the fix, instead of waiting out the connect timeout.
 */
export function wrongProtocolError(
  spoken: GreetingProtocol,
  expected: 'imap' | 'pop3',
  first: Buffer,
  context: NetworkErrorContext,
): MailpollError {
  const { account, host, port } = context;
  const where = `${host}:${port}`;
  if (spoken === 'tls') {
    return new TlsError(`${account} (${where}): the server sent a TLS handshake where a greeting was expected. Set tls: implicit for this port.`, { account });
  }
  if (spoken === expected) throw new TypeError('wrongProtocolError: the greeting is the expected protocol');
  // Server text, before any login: one line, no control characters, short.
  const said = first.toString('latin1', 0, 200).split(/\r?\n/)[0]!.replace(/[\x00-\x1f\x7f-\x9f]/g, '?').slice(0, 60).trim();
  return new ConnectionError(
    `${account} (${where}): this port speaks ${PROTOCOL_NAMES[spoken]}, not ${PROTOCOL_NAMES[expected]} (it greeted "${said}"). ` +
      `Set port: to ${USUAL_PORTS[expected]}, or protocol: ${spoken}.`,
    { account },
  );
}

/** A plaintext or STARTTLS account on a port that waits for a TLS handshake (found by `silentPortProbe`). */
export function implicitTlsPortError(protocol: 'imap' | 'pop3', context: NetworkErrorContext): MailpollError {
  const { account, host, port } = context;
  const plain = protocol === 'imap' ? 143 : 110;
  return new TlsError(
    `${account} (${host}:${port}): this port expects TLS from the first byte (no greeting in plain text, and a TLS handshake succeeds). ` +
      `Set tls: implicit, or use the plaintext/STARTTLS port (${PROTOCOL_NAMES[protocol]} ${plain}).`,
    { account },
  );
}
