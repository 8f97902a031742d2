import { formatListenAddress, parseListenAddress, type ListenAddress } from '../../config/listen.js';
import { loadConfig } from '../../config/load.js';
import { selectAccounts } from '../../config/select.js';
import type { Config } from '../../config/types.js';
import { parseDuration } from '../../duration.js';
import { describeError, type ExitCode, UsageError } from '../../errors.js';
import { startWatchMonitor, type WatchMonitor } from '../../watch/monitor.js';
import { parseUntil } from '../../watch/until.js';
import { idleOverCapWarnings } from '../../watch/hosts.js';
import { runWatch, type AccountState } from '../../watch/watch.js';
import type { AccountsFeed } from '../../watch/worker-loop.js';
import { insecureTlsWarnings } from '../insecure-tls.js';
import { createOutput } from '../output.js';
import { openCliStore } from '../store.js';
import { hasWorkers } from '../../store/workers.js';
import { createAccountsFeed, type WatchAccountsFeed } from '../accounts-feed.js';
import { recordedCommandLine } from '../command-line.js';

export interface WatchCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  account?: string[] | undefined;
  script?: string | undefined;
  json?: boolean | undefined;
  quiet?: boolean | undefined;
  verbose?: boolean | undefined;
  interval?: string | undefined;
  until?: string | undefined;
  /** `HOST:PORT` or a port: serve /healthz, /readyz and /metrics (overrides `listen:`). */
  listen?: string | undefined;
}

/**
 * `mailpoll watch` / `mailpoll --watch`: run until stopped. SIGHUP reloads the config between
 * cycles (an invalid new config is reported and the old one kept).
 */
export async function watchCommand(options: WatchCommandOptions, signal: AbortSignal): Promise<ExitCode> {
  const output = createOutput(options);
  const interval = options.interval === undefined ? undefined : parseDuration(options.interval);
  if (options.interval !== undefined && (interval === undefined || interval <= 0)) {
    throw new UsageError(`--interval: expected a duration like 30s, 5m or 1h, got "${options.interval}"`);
  }
  const listenOption = parseListenOption(options.listen);
  const load = () => loadConfig({ configFile: options.config, accounts: options.account, script: options.script, store: options.store });
  let config: Config = await load();
  const started = Date.now();
  const until =
    options.until !== undefined ? parseUntil(options.until, started) : config.expiresAfter !== undefined ? started + config.expiresAfter : undefined;
  const store = await openCliStore({ store: options.store, config });
  // A worker takes changes to its accounts without stopping: the table's, and a SIGHUP's that changes only accounts.
  const feed = hasWorkers(store) ? createAccountsFeed(config, store, options.account) : undefined;
  const states = new Map<string, AccountState>();
  let monitor: WatchMonitor | undefined;
  const onStop = (): void => void monitor?.stopping('signal received');
  try {
    // The address is read once: a reload that changes `listen:` takes effect at the next start.
    monitor = await startWatchMonitor({ listen: listenOption ?? config.listen, env: process.env, warn: output.err });
    if (monitor.address !== undefined) {
      output.err(`mailpoll: serving /healthz, /readyz and /metrics at http://${formatListenAddress(monitor.address)}/`);
    }
    signal.addEventListener('abort', onStop, { once: true });
    const reporter = monitor.reporter(output.reporter);
    for (;;) {
      const reload = new AbortController();
      // A worker's SIGHUP: the new config in place when only accounts changed, else a restart with it.
      let restartWith: Config | undefined;
      const reloadWorker = async (worker: WatchAccountsFeed): Promise<void> => {
        try {
          const next = await load();
          if (sameWatchSettings(config, next)) {
            config = next;
            const count = worker.useConfig(next);
            reporter.report({ type: 'watch', state: 'reloaded', accounts: count, reason: 'SIGHUP; accounts whose settings did not change keep running', exitCode: null });
          } else {
            restartWith = next;
            reload.abort();
          }
        } catch (error) {
          output.lines(`mailpoll: SIGHUP: the new config was not loaded, the previous one stays in use: ${describeError(error)}`);
        }
      };
      const onHangup = (): void => (feed === undefined ? reload.abort() : void reloadWorker(feed));
      process.on('SIGHUP', onHangup);
      const start = await feed?.start();
      const accounts = start?.accounts ?? selectAccounts(config, options.account);
      for (const line of [...insecureTlsWarnings(accounts), ...idleOverCapWarnings(accounts, config.maxConnections)]) output.err(line);
      monitor.watching(accounts, interval);
      // Health and metrics follow a worker's accounts as they change.
      const watched = monitor;
      const followed: AccountsFeed | undefined =
        feed === undefined
          ? undefined
          : {
              async poll() {
                const update = await feed.poll();
                if (update !== undefined) watched.watching(update.accounts, interval);
                return update;
              },
            };
      const result = await runWatch({
        accounts,
        reporter,
        store,
        retention: { retentionDays: config.retentionDays, ledgerDays: config.ledgerDays },
        concurrency: config.concurrency,
        maxConnections: config.maxConnections,
        interval,
        until,
        signal,
        reload: reload.signal,
        command: recordedCommandLine(),
        logger: output.logger,
        states,
        onLease: monitor.onLease,
        leaseTtl: config.leaseTtl,
        accountsFeed: followed,
        refused: start?.refused,
      }).finally(() => process.off('SIGHUP', onHangup));
      if (result.reason !== 'reload') {
        await monitor.stopping(result.reason === 'signal' ? 'signal received' : result.reason === 'until' ? 'expiration reached' : 'every account gave up');
        return result.exitCode;
      }
      if (restartWith !== undefined) {
        config = restartWith;
        const count = feed?.useConfig(config) ?? selectAccounts(config, options.account).length;
        reporter.report({ type: 'watch', state: 'reloaded', accounts: count, reason: 'SIGHUP', exitCode: null });
        continue;
      }
      try {
        config = await load();
        reporter.report({ type: 'watch', state: 'reloaded', accounts: selectAccounts(config, options.account).length, reason: 'SIGHUP', exitCode: null });
      } catch (error) {
        output.lines(`mailpoll: SIGHUP: the new config was not loaded, the previous one stays in use: ${describeError(error)}`);
      }
    }
  } finally {
    signal.removeEventListener('abort', onStop);
    await monitor?.close();
    await store.close();
  }
}

/**
 * Whether a reloaded config leaves what the whole watch runs by as it was (the limits, the
 * retention, the lease TTL): then a worker applies its accounts in place.
 */
function sameWatchSettings(before: Config, after: Config): boolean {
  const keys = ['retentionDays', 'ledgerDays', 'concurrency', 'maxConnections', 'leaseTtl', 'expiresAfter'] as const;
  return keys.every((key) => before[key] === after[key]) && (before.accountsTable === undefined) === (after.accountsTable === undefined);
}

/** `--listen`, checked before anything starts; undefined when not given. */
function parseListenOption(value: string | undefined): ListenAddress | undefined {
  if (value === undefined) return undefined;
  const address = parseListenAddress(value);
  if (typeof address === 'string') throw new UsageError(`--listen: ${address}, got "${value}"`);
  return address;
}
