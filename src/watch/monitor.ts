/**
 * What a watch tells the outside about itself, besides its output: `/healthz`, `/readyz` and
 * `/metrics` with `--listen` (health-server.ts, metrics.ts: prom-client is imported only
 * then), and systemd's notifications when NOTIFY_SOCKET is set (sd-notify.ts). Both read the
 * events the watch reports, through `reporter()`, and the lease changes, through `onLease`.
 */
import type { AccountConfig } from '../config/types.js';
import type { ListenAddress } from '../config/listen.js';
import type { Reporter } from '../report/types.js';
import { WatchHealth, type HealthReport } from './health.js';
import type { HealthServer } from './health-server.js';
import type { WatchMetrics } from './metrics.js';
import { createSystemdNotifier, type SystemdNotifier } from './sd-notify.js';

export interface WatchMonitorOptions {
  listen: ListenAddress | undefined;
  env: NodeJS.ProcessEnv;
  /** A line for stderr (the notifier's one warning). */
  warn: (line: string) => void;
}

export interface WatchMonitor {
  /** Where `/healthz` is served; undefined without --listen. */
  address: ListenAddress | undefined;
  /** `inner`, with every event also seen by the health, the metrics and the STATUS line. */
  reporter(inner: Reporter): Reporter;
  onLease(account: string, held: boolean): void;
  /** The accounts watched from now on (at the start and after each reload). */
  watching(accounts: readonly AccountConfig[], interval: number | undefined): void;
  /** The watch is stopping: `/readyz` 503, STOPPING=1. */
  stopping(reason: string): Promise<void>;
  /** Stops serving; call last. */
  close(): Promise<void>;
}

/** Starts the endpoints (rejects when the address cannot be used) and the notifier, as configured. */
export async function startWatchMonitor(options: WatchMonitorOptions): Promise<WatchMonitor> {
  const health = new WatchHealth();
  let metrics: WatchMetrics | undefined;
  let server: HealthServer | undefined;
  if (options.listen !== undefined) {
    const [{ createWatchMetrics }, { startHealthServer }] = await Promise.all([import('./metrics.js'), import('./health-server.js')]);
    metrics = createWatchMetrics();
    server = await startHealthServer(options.listen, health, metrics);
  }
  const notifier: SystemdNotifier | undefined = createSystemdNotifier({ env: options.env, warn: options.warn });
  let handled = 0;
  let announced = false;
  let stopping: Promise<void> | undefined;

  return {
    address: server?.address,
    reporter: (inner) => ({
      report(event) {
        inner.report(event);
        health.observe(event);
        metrics?.observe(event);
        if (notifier === undefined) return;
        if (event.type === 'message' && event.status !== 'failed') handled += 1;
        if (event.type === 'watch' && event.state !== 'stopped' && !announced) {
          announced = true;
          notifier.ready(describeStatus(health.report(), handled));
          // A hung loop (no progress, no backoff) is what a restart cures; a wrong password is not.
          notifier.startWatchdog(() => health.report().accounts.every((account) => account.state !== 'stale'));
        } else if (event.type === 'cycle' || event.type === 'backoff' || (event.type === 'watch' && event.state === 'reloaded')) {
          notifier.status(describeStatus(health.report(), handled));
        }
      },
    }),
    onLease: (account, held) => metrics?.leaseChanged(account, held),
    watching: (accounts, interval) => health.watch(accounts, interval),
    stopping(reason) {
      health.stopping();
      // A signal says it first, the end of the watch again: one STOPPING=1.
      stopping ??= notifier?.stopping(`stopping: ${reason}`) ?? Promise.resolve();
      return stopping;
    },
    close: async () => server?.close(),
  };
}

/** The STATUS= line systemctl status shows: how many accounts are fine, which are not. */
export function describeStatus(report: HealthReport, handled: number): string {
  const counts = { ok: 0, backoff: [] as string[], failing: [] as string[] };
  for (const account of report.accounts) {
    if (account.state === 'ok') counts.ok += 1;
    else if (account.state === 'backoff') counts.backoff.push(account.account);
    else counts.failing.push(`${account.account} (${account.state})`);
  }
  const parts = [`${report.accounts.length} account${report.accounts.length === 1 ? '' : 's'}: ${counts.ok} ok`];
  if (counts.backoff.length > 0) parts.push(`reconnecting: ${counts.backoff.join(', ')}`);
  if (counts.failing.length > 0) parts.push(`failing: ${counts.failing.join(', ')}`);
  return `${parts.join('; ')}; ${handled} message${handled === 1 ? '' : 's'} handled`;
}
