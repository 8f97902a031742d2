/**
 * Long-running mailpoll (`mailpoll --watch`): every account in its own loop
 * (`account-loop.ts`), all under one run in the history, sharing the limits on concurrent
 * polls and on connections per host.
 *
 * A failed connection waits before the next attempt (1 s, 2 s, 4 s ... capped at 60 min, per
 * account); an account that never connected gives up when the wait reaches the cap. The watch
 * ends on SIGINT/SIGTERM, at `--until`/`expiresAfter`, or on SIGHUP to reload the config: each
 * time after the message in hand, logged out, with a line saying why.
 */
import { setMaxListeners } from 'node:events';
import type { AccountConfig, RefusedTableAccount } from '../config/types.js';
import { ExitCode } from '../errors.js';
import { createHandlerThreads, handlerThreadCap } from '../handler/worker/threads.js';
import type { Logger } from '../logger.js';
import { loadHandlers } from '../poll/run.js';
import type { Reporter } from '../report/types.js';
import type { PurgeOptions, Store } from '../store/types.js';
import { watchAccount, type AccountState, type Watch } from './account-loop.js';
import { systemClock, type Clock } from './clock.js';
import { createLimiter } from './limiter.js';
import { runWorker, type AccountsFeed } from './worker-loop.js';
import { DEFAULT_LEASE_TTL_MS, hasWorkers } from '../store/workers.js';

export type { AccountState } from './account-loop.js';

export interface WatchOptions {
  accounts: AccountConfig[];
  reporter: Reporter;
  store: Store;
  retention: PurgeOptions;
  /** Accounts polled at once. */
  concurrency: number;
  /** Connections to one host at once (IDLE connections included). */
  maxConnections: number;
  /** `--interval`: every account's cycle interval, overriding `interval:` and `schedule:`. */
  interval?: number | undefined;
  /** Stop cleanly at this time (epoch ms): `--until` or `expiresAfter`. */
  until?: number | undefined;
  /** SIGINT/SIGTERM: stop after the message in hand. */
  signal: AbortSignal;
  /** SIGHUP: stop after the message in hand and return `reload`. */
  reload?: AbortSignal | undefined;
  command?: string | undefined;
  /** `debug`: the protocol log and notes under --verbose; `info`: handler `context.log` lines (both stderr). */
  logger?: Logger | undefined;
  /** The time the loops run by, and their waits. Default: the system clock. */
  clock?: Clock | undefined;
  /** Backoff states by account name, carried across reloads. */
  states?: Map<string, AccountState> | undefined;
  /** Told when this process takes and releases an account's lease (the metrics). */
  onLease?: ((account: string, held: boolean) => void) | undefined;
  /** On a store with workers: how long a worker's leases last without a heartbeat (`leaseTtl`). Default 60 s. */
  leaseTtl?: number | undefined;
  /** On a store with workers: where changes to the accounts come from while it runs (the accounts table, a SIGHUP). */
  accountsFeed?: AccountsFeed | undefined;
  /** Rows of the accounts table refused at the start: said, not worked on. */
  refused?: readonly RefusedTableAccount[] | undefined;
}

export interface WatchResult {
  exitCode: ExitCode;
  /** Why the loop ended. */
  reason: 'signal' | 'until' | 'reload' | 'gave-up';
}

export async function runWatch(options: WatchOptions): Promise<WatchResult> {
  const clock = options.clock ?? systemClock;
  const handlers = await loadHandlers(options.accounts);
  const handlerThreads = createHandlerThreads(handlerThreadCap(options.accounts.map((account) => account.handlerConcurrency)));
  const stopper = new AbortController();
  // Every account's loop waits on this signal between its cycles (one listener each), plus the
  // watch's own waits: Node's default of 10 would warn of a leak from the 11th account on.
  // A listener that leaked per cycle would still pass this bound soon and be reported.
  setMaxListeners(options.accounts.length + 10, stopper.signal);
  const stopped: { reason: WatchResult['reason'] } = { reason: 'signal' };
  const stopWith = (why: WatchResult['reason']) => () => {
    if (!stopper.signal.aborted) {
      stopped.reason = why;
      stopper.abort();
    }
  };
  const onSignal = stopWith('signal');
  const onReload = stopWith('reload');
  // The CLI runs a new watch on the same signal after each SIGHUP: these listeners go at the end.
  options.signal.addEventListener('abort', onSignal, { once: true });
  options.reload?.addEventListener('abort', onReload, { once: true });
  try {
    if (options.signal.aborted) onSignal();
    if (options.until !== undefined) void clock.sleep(Math.max(0, options.until - clock.now()), stopper.signal).then(stopWith('until'));

    const watch: Watch = {
      reporter: options.reporter,
      store: options.store,
      retention: options.retention,
      interval: options.interval,
      logger: options.logger,
      handlers,
      handlerThreads,
      runId: await options.store.beginRun({ pid: process.pid, command: options.command ?? 'watch', dryRun: false }),
      stop: stopper.signal,
      clock,
      // Polls share `concurrency`; every connection (IDLE included) counts against its host.
      polls: createLimiter({ concurrency: options.concurrency, maxPerHost: Number.POSITIVE_INFINITY }),
      hosts: createLimiter({ concurrency: Number.POSITIVE_INFINITY, maxPerHost: options.maxConnections }),
      states: options.states ?? new Map(),
      lastPurge: clock.now(),
      onLease: options.onLease,
    };
    await options.store.purge(options.retention);
    options.reporter.report({ type: 'watch', state: 'started', accounts: options.accounts.length, reason: describeTiming(options), exitCode: null });

    // On a shared store this process is one worker among several, working on its share only.
    const outcomes = hasWorkers(options.store)
      ? await runWorker(watch, { accounts: options.accounts, refused: options.refused, feed: options.accountsFeed }, options.store, options.leaseTtl ?? DEFAULT_LEASE_TTL_MS)
      : await Promise.all(options.accounts.map((account) => watchAccount(watch, account)));
    // Every loop has ended (stopped, or gave up): end the wait for --until too.
    stopper.abort();

    const allGaveUp = outcomes.length > 0 && outcomes.every((outcome) => outcome === 'gave-up');
    if (allGaveUp) stopped.reason = 'gave-up';
    const exitCode = allGaveUp ? ExitCode.accountFailed : ExitCode.ok;
    await options.store.endRun(watch.runId, exitCode);
    if (stopped.reason !== 'reload') {
      options.reporter.report({ type: 'watch', state: 'stopped', accounts: options.accounts.length, reason: describeStop(stopped.reason, options), exitCode });
    }
    return { exitCode, reason: stopped.reason };
  } finally {
    await handlerThreads.close();
    options.signal.removeEventListener('abort', onSignal);
    options.reload?.removeEventListener('abort', onReload);
  }
}

function describeTiming(options: WatchOptions): string {
  const parts: string[] = [];
  if (options.interval !== undefined) parts.push(`every ${Math.round(options.interval / 1000)}s`);
  if (options.until !== undefined) parts.push(`until ${new Date(options.until).toISOString()}`);
  const idle = options.accounts.filter((account) => account.idle && account.folders === undefined).map((account) => account.name);
  if (idle.length > 0) parts.push(`IDLE: ${idle.join(', ')}`);
  // IDLE waits on one folder only.
  const several = options.accounts.filter((account) => account.idle && account.folders !== undefined).map((account) => account.name);
  if (several.length > 0) parts.push(`no IDLE with folders (polling every interval): ${several.join(', ')}`);
  return parts.join(', ');
}

function describeStop(reason: WatchResult['reason'], options: WatchOptions): string {
  switch (reason) {
    case 'signal':
      return 'signal received';
    case 'until':
      return `expiration reached (${new Date(options.until ?? 0).toISOString()})`;
    case 'gave-up':
      return 'no account left: every account gave up connecting';
    case 'reload':
      return 'reloading the config';
  }
}
