/**
 * The HTTP side of `--watch --listen`: `/healthz` (liveness: every account healthy, else 503
 * with the accounts that are not and why), `/readyz` (the watch has started; 503 before and
 * while it stops) and `/metrics` (Prometheus text). GET and HEAD only; anything else 404/405.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { formatListenAddress, type ListenAddress } from '../config/listen.js';
import { UsageError } from '../errors.js';
import { redact } from '../redact.js';
import { escapeControls } from '../report/sanitize.js';
import type { WatchHealth } from './health.js';
import type { WatchMetrics } from './metrics.js';

export interface HealthServer {
  /** Where it listens (the port the system chose, when 0 was asked). */
  address: ListenAddress;
  close(): Promise<void>;
}

/** Listen at `address`; rejects with a UsageError (exit 2: nothing was contacted yet) saying which address could not be used and why. */
export async function startHealthServer(address: ListenAddress, health: WatchHealth, metrics: WatchMetrics): Promise<HealthServer> {
  const server = createServer((request, response) => {
    answer(request, response, health, metrics).catch((error: unknown) => {
      send(response, 500, 'text/plain; charset=utf-8', `internal error: ${error instanceof Error ? error.message : String(error)}\n`, request.method === 'HEAD');
    });
  });
  // A scraper's idle keep-alive connection must not hold the watch open when it stops.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the address is in use' : error.code === 'EACCES' ? 'permission denied' : error.code === 'EADDRNOTAVAIL' ? 'no such local address' : error.message;
      reject(new UsageError(`--listen ${formatListenAddress(address)}: cannot listen: ${why}`));
    });
    server.listen(address.port, address.host, resolve);
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
  return { address: { host: address.host, port }, close: () => closeServer(server) };
}

async function answer(request: IncomingMessage, response: ServerResponse, health: WatchHealth, metrics: WatchMetrics): Promise<void> {
  const head = request.method === 'HEAD';
  const path = (request.url ?? '/').split('?')[0];
  if (path !== '/healthz' && path !== '/readyz' && path !== '/metrics') {
    send(response, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /readyz or /metrics\n', head);
    return;
  }
  if (request.method !== 'GET' && !head) {
    response.setHeader('Allow', 'GET, HEAD');
    send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n', head);
    return;
  }
  if (path === '/metrics') {
    send(response, 200, metrics.contentType, await metrics.render(), head);
    return;
  }
  if (path === '/readyz') {
    const ready = health.ready;
    send(response, ready ? 200 : 503, 'application/json', toJson({ ready }), head);
    return;
  }
  const report = health.report();
  const failing = report.accounts.filter((account) => !account.healthy);
  const body = report.healthy ? { healthy: true, accounts: report.accounts } : { healthy: false, failing, accounts: report.accounts };
  send(response, report.healthy ? 200 : 503, 'application/json', toJson(body), head);
}

/** As every line mailpoll writes: secrets masked, and a server's error text unable to drive a terminal that shows it. */
function toJson(body: object): string {
  return `${escapeControls(redact(JSON.stringify(body)))}\n`;
}

function send(response: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  response.end(head ? undefined : body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
