/**
 * A TCP tunnel to the mail server through a proxy: SOCKS5 (RFC 1928, username/password
 * RFC 1929) or HTTP CONNECT. The adapters then speak IMAP/POP3 (and TLS) over the returned
 * socket as over a direct connection. Written here rather than through the `socks` package
 * (imapflow's optional proxy dependency): both handshakes are a few bytes, and POP3 needs the
 * same tunnel as IMAP. The destination name is sent unresolved: resolving it is the proxy's job.
 */
import net from 'node:net';
import type { ProxySpec } from '../config/schema-transport.js';

/** A proxy that refused or broke the tunnel; the message says why, without credentials. */
export class ProxyError extends Error {
  override readonly name = 'ProxyError';
}

/** Largest HTTP answer header read before the tunnel starts. */
const MAX_HEADER_BYTES = 16 * 1024;

const SOCKS_REPLIES: Record<number, string> = {
  1: 'general failure',
  2: 'connection not allowed by its rules',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused by the destination',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

/**
 * Connect to `proxy` and ask it for a tunnel to `host:port`. Resolves with the socket once the
 * tunnel is up, paused, with any bytes the destination already sent put back. Rejects with a
 * ProxyError (the proxy said no) or the socket's error (it could not be reached); `signal`
 * aborts (the caller's deadline).
 */
export function openTunnel(proxy: ProxySpec, host: string, port: number, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: proxy.host, port: proxy.port });
    let buffered = Buffer.alloc(0);
    let step: (data: Buffer) => boolean;
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      socket.removeListener('data', onData);
      socket.removeListener('error', finish);
      socket.removeListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        socket.destroy();
        reject(error);
        return;
      }
      socket.pause();
      if (buffered.length > 0) socket.unshift(buffered);
      resolve(socket);
    };
    const onAbort = (): void => finish(signal?.reason instanceof Error ? signal.reason : new ProxyError('aborted'));
    const onClose = (): void => finish(new ProxyError(`${proxy.display} closed the connection before the tunnel was up`));
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      try {
        // A step consumes what it needs from `buffered` and says whether the tunnel is up.
        while (!settled && step(buffered)) {
          /* next step */
        }
      } catch (error) {
        finish(error instanceof Error ? error : new ProxyError(String(error)));
      }
    };
    const take = (count: number): Buffer => {
      const head = buffered.subarray(0, count);
      buffered = buffered.subarray(count);
      return head;
    };

    const socks = (): void => {
      const withPassword = proxy.username !== undefined;
      socket.write(Buffer.from(withPassword ? [5, 2, 0, 2] : [5, 1, 0]));
      step = (data) => {
        if (data.length < 2) return false;
        const [version, method] = take(2);
        if (version !== 5) throw new ProxyError(`${proxy.display} is not a SOCKS5 proxy`);
        if (method === 0xff) throw new ProxyError(`${proxy.display} accepts none of our login methods${withPassword ? '' : ' (it may need a user and password in the proxy URL)'}`);
        if (method === 2) {
          if (!withPassword) throw new ProxyError(`${proxy.display} asks for a user and password; put them in the proxy URL`);
          const user = Buffer.from(proxy.username ?? '');
          const pass = Buffer.from(proxy.password ?? '');
          if (user.length > 255 || pass.length > 255) throw new ProxyError('SOCKS5 user and password are limited to 255 bytes each');
          socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
          step = (reply) => {
            if (reply.length < 2) return false;
            const status = take(2)[1];
            if (status !== 0) throw new ProxyError(`${proxy.display} refused the proxy user and password`);
            request();
            return true;
          };
          return true;
        }
        request();
        return true;
      };
    };
    const request = (): void => {
      const ip = net.isIP(host);
      const address =
        ip === 4
          ? Buffer.from([1, ...host.split('.').map(Number)])
          : ip === 6
            ? Buffer.concat([Buffer.from([4]), ipv6Bytes(host)])
            : Buffer.concat([Buffer.from([3, Buffer.byteLength(host)]), Buffer.from(host)]);
      socket.write(Buffer.concat([Buffer.from([5, 1, 0]), address, Buffer.from([port >> 8, port & 0xff])]));
      step = (data) => {
        if (data.length < 5) return false;
        if (data[0] !== 5) throw new ProxyError(`${proxy.display} sent a malformed SOCKS5 answer`);
        if (data[1] !== 0) throw new ProxyError(`${proxy.display} could not reach ${host}:${port} (${SOCKS_REPLIES[data[1]!] ?? `SOCKS5 error ${data[1]}`})`);
        const kind = data[3];
        const length = kind === 1 ? 4 : kind === 4 ? 16 : 1 + data[4]!;
        if (data.length < 4 + length + 2) return false;
        take(4 + length + 2);
        finish();
        return false;
      };
    };
    const connect = (): void => {
      const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
      const headers = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
      if (proxy.username !== undefined) {
        headers.push(`Proxy-Authorization: Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ''}`).toString('base64')}`);
      }
      socket.write(`${headers.join('\r\n')}\r\n\r\n`);
      step = (data) => {
        const end = data.indexOf('\r\n\r\n');
        if (end === -1) {
          if (data.length > MAX_HEADER_BYTES) throw new ProxyError(`${proxy.display} sent an answer without an end of headers`);
          return false;
        }
        const status = /^HTTP\/\d(?:\.\d)? (\d{3})([^\r\n]*)/.exec(take(end + 4).toString('latin1'));
        if (!status) throw new ProxyError(`${proxy.display} is not an HTTP proxy (no HTTP status line)`);
        const code = Number(status[1]);
        if (code === 407) throw new ProxyError(`${proxy.display} needs proxy credentials, or refused the ones in the proxy URL (HTTP 407)`);
        if (code < 200 || code > 299) throw new ProxyError(`${proxy.display} refused the tunnel to ${authority} (HTTP ${code}${status[2]!.trim() ? ` ${status[2]!.trim().slice(0, 80)}` : ''})`);
        finish();
        return false;
      };
    };

    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.setNoDelay(true);
    socket.on('data', onData);
    socket.once('error', finish);
    socket.once('close', onClose);
    socket.once('connect', proxy.protocol === 'socks5' ? socks : connect);
  });
}

/** The 16 bytes of an IPv6 address. */
function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = address.includes('::') ? groups(tail) : [];
  const all = [...left, ...Array.from({ length: 8 - left.length - right.length }, () => '0'), ...right];
  const bytes = Buffer.alloc(16);
  all.forEach((group, index) => bytes.writeUInt16BE(parseInt(group, 16) || 0, index * 2));
  return bytes;
}
