/**
 * Where `--watch` serves `/healthz`, `/readyz` and `/metrics`: `--listen` or `listen:`, as
 * `HOST:PORT`, `[IPv6]:PORT` or a bare port. A bare port binds to 127.0.0.1: the endpoints
 * say which accounts fail and why, so they stay on the machine unless a host is named.
 */

export interface ListenAddress {
  host: string;
  port: number;
}

export const DEFAULT_LISTEN_HOST = '127.0.0.1';

/** What `listen` accepts, for error messages. */
export const LISTEN_EXPECTATION = 'expected HOST:PORT (127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464) or a port (9464: on 127.0.0.1)';

/** The address from `9464`, `:9464`, `127.0.0.1:9464`, `[::1]:9464`; a string saying what is wrong otherwise. */
export function parseListenAddress(value: string | number): ListenAddress | string {
  const text = String(value).trim();
  const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(text);
  if (match === null) return LISTEN_EXPECTATION;
  const port = Number(match[2]);
  // 0: any free port, which the watch prints when it starts listening.
  if (port > 65535) return `expected a port 0-65535, got ${port}`;
  const host = match[1] === undefined || match[1] === '' ? DEFAULT_LISTEN_HOST : match[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

/** `127.0.0.1:9464`, `[::1]:9464`: as a URL's authority. */
export function formatListenAddress(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
