/**
 * How a connection reaches its server, for both network adapters: the TLS options of an
 * account (trusted CA, client certificate, oldest TLS version), the pinned certificate
 * checked before a single protocol byte is sent over TLS, the certificate seen (for
 * `mailpoll check`), and the proxy tunnel. IMAP hands imapflow `imapTransport()`; POP3 uses
 * `connectTls` on its own sockets.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { ImapTransport } from 'imapflow';
import type { AccountConfig } from '../config/types.js';
import { ConfigError, ConnectionError, describeError, TlsError } from '../errors.js';
import type { ConnectionGuard } from './connection-utils.js';
import { errorCode } from './net-errors.js';
import type { OpenSockets } from './open-sockets.js';
import { openTunnel, ProxyError } from './proxy-tunnel.js';

/** What `mailpoll check` shows of the server's certificate. */
export interface ServerCertificate {
  subject: string;
  issuer: string;
  /** ISO time the certificate expires. */
  validTo: string;
  /** `sha256/<base64>`: what `tlsFingerprint` accepts. */
  fingerprint: string;
  /** The TLS version negotiated (`TLSv1.3`). */
  protocol: string | undefined;
}

/** The account's PEM files read: CA, client certificate and key. */
export interface TlsFiles {
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
}

/** Read the account's `ca`, `tlsCert` and `tlsKey`; one that cannot be read is a ConfigError. */
export async function readTlsFiles(account: Pick<AccountConfig, 'name' | 'ca' | 'tlsCert' | 'tlsKey'>): Promise<TlsFiles> {
  const read = async (key: 'ca' | 'tlsCert' | 'tlsKey'): Promise<Buffer | undefined> => {
    const file = account[key];
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (error) {
      throw new ConfigError(`${account.name}: ${key}: cannot read ${file} (${errorCode(error) ?? describeError(error)}). Check the path.`, {
        account: account.name,
        cause: error,
      });
    }
  };
  const [ca, cert, key] = await Promise.all([read('ca'), read('tlsCert'), read('tlsKey')]);
  return { ca, cert, key };
}

/** OpenSSL 3 refuses TLS 1.0/1.1 handshakes at its default security level: an account that allows them asks for level 0. */
const LEGACY_CIPHERS = 'DEFAULT:@SECLEVEL=0';

/** The `tls.connect` options of an account (without host, servername or socket). */
export function tlsOptionsOf(account: AccountConfig, files: TlsFiles): tls.ConnectionOptions {
  const legacy = account.tlsMinVersion === 'TLSv1' || account.tlsMinVersion === 'TLSv1.1';
  return {
    rejectUnauthorized: account.tlsRejectUnauthorized,
    minVersion: account.tlsMinVersion,
    ...(legacy ? { ciphers: LEGACY_CIPHERS } : {}),
    ...(files.ca ? { ca: files.ca } : {}),
    ...(files.cert ? { cert: files.cert } : {}),
    ...(files.key ? { key: files.key } : {}),
  };
}

function describeCertificate(socket: tls.TLSSocket): ServerCertificate | undefined {
  const raw = socket.getPeerX509Certificate();
  if (raw === undefined) return undefined;
  return {
    subject: raw.subject.replace(/\n/g, ', '),
    issuer: raw.issuer.replace(/\n/g, ', '),
    validTo: new Date(raw.validTo).toISOString(),
    fingerprint: `sha256/${Buffer.from(raw.fingerprint256.replace(/:/g, ''), 'hex').toString('base64')}`,
    protocol: socket.getProtocol() ?? undefined,
  };
}

/**
 * After a TLS handshake, before anything is sent over it: note the certificate (`seen`) and
 * check the pin. A mismatch is a TlsError naming both fingerprints, also latched as the
 * guard's failure (the library may wrap the socket error).
 */
export function checkPeer(guard: ConnectionGuard, socket: tls.TLSSocket, seen: { certificate?: ServerCertificate | undefined }): TlsError | undefined {
  const certificate = describeCertificate(socket);
  seen.certificate = certificate;
  const pin = guard.account.tlsFingerprint;
  if (pin === undefined) return undefined;
  const expected = `sha256/${Buffer.from(pin, 'hex').toString('base64')}`;
  if (certificate?.fingerprint === expected) return undefined;
  const error = new TlsError(
    `${guard.name} (${guard.where}): the server certificate is not the pinned one: it has ${certificate?.fingerprint ?? 'no certificate'}, tlsFingerprint is ${expected}. ` +
      'Nothing was sent. If the server changed its certificate, check the new one (mailpoll check shows it) and update tlsFingerprint.',
    { account: guard.name },
  );
  guard.failure ??= error;
  return error;
}

/** SNI for a host name, none for an IP address (Node's DEP0123). */
function servername(host: string): { servername?: string } {
  return net.isIP(host) === 0 ? { servername: host } : {};
}

/**
 * A TCP connection to the server: through the account's proxy (resolves once the tunnel is up,
 * unless `signal` aborted meanwhile), or undefined to let the caller connect directly. Proxy failures are ConnectionErrors naming
 * the proxy (never its password).
 */
export async function openProxyTunnel(guard: ConnectionGuard, signal?: AbortSignal): Promise<net.Socket | undefined> {
  const proxy = guard.account.proxy;
  if (proxy === undefined) return undefined;
  guard.log(`* connecting through ${proxy.display}`);
  let socket: net.Socket;
  try {
    socket = await openTunnel(proxy, guard.host, guard.port, signal);
  } catch (error) {
    if (error instanceof ProxyError) throw new ConnectionError(`${guard.name}: proxy: ${guard.clean(error.message)}. Check proxy:.`, { account: guard.name, cause: error });
    const code = errorCode(error);
    throw new ConnectionError(`${guard.name}: cannot reach the proxy ${proxy.display} (${code ?? guard.clean(describeError(error))}). Check proxy:.`, {
      account: guard.name,
      cause: error,
    });
  }
  // The caller's deadline passed as the tunnel came up: nothing more is connected.
  if (signal?.aborted) {
    socket.destroy();
    throw new ConnectionError(`${guard.name}: the tunnel through ${proxy.display} came up after the deadline.`, { account: guard.name });
  }
  guard.log(`* tunnel to ${guard.where} open through ${proxy.display}`);
  return socket;
}

/**
 * TLS on `socket` (a plaintext connection or a tunnel) or to host:port; `onSecure` runs after
 * the handshake and the pin check passed. Errors (the pin's included) are emitted on the socket.
 */
export function connectTls(
  guard: ConnectionGuard,
  options: tls.ConnectionOptions,
  socket: net.Socket | undefined,
  seen: { certificate?: ServerCertificate | undefined },
  onSecure: () => void,
): tls.TLSSocket {
  const secure = tls.connect({ host: guard.host, port: guard.port, ...servername(guard.host), ...options, ...(socket ? { socket } : {}) });
  secure.once('secureConnect', () => {
    const refused = checkPeer(guard, secure, seen);
    if (refused) secure.destroy(refused);
    else onSecure();
  });
  return secure;
}

/**
 * imapflow's `transport`: its sockets opened here, so that the pin is checked and the
 * certificate noted before imapflow sends anything, so that a proxy tunnel (`tunnel`,
 * opened beforehand) carries the session, and so that closing waits for every one of them
 * (`sockets`).
 */
export function imapTransport(
  guard: ConnectionGuard,
  options: tls.ConnectionOptions,
  tunnel: net.Socket | undefined,
  seen: { certificate?: ServerCertificate | undefined },
  sockets: OpenSockets,
): ImapTransport {
  // Kept from now on: closing before imapflow has taken it up still ends it.
  if (tunnel) sockets.add(tunnel);
  return {
    connect(target, onConnect) {
      if (target.secure) return sockets.add(connectTls(guard, options, tunnel, seen, onConnect));
      if (tunnel) {
        setImmediate(onConnect);
        return tunnel;
      }
      return sockets.add(net.connect({ host: guard.host, port: guard.port }, onConnect));
    },
    upgrade(socket, _target, onSecure) {
      return sockets.add(connectTls(guard, options, socket as net.Socket, seen, onSecure));
    },
  };
}
