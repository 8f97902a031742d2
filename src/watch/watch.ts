/**
 * Long-running mailpoll (`mailpoll --watch`): every account in its own loop, cycles on its
 * interval or cron schedule (never overlapping), or, with `idle: true` on IMAP, one open
 * connection that handles new mail as the server pushes it. Same guarantees as a single run:
 * every cycle is `pollAccount` under the account's lease.
 *
 * A failed connection waits before the next attempt (seed 004: 1 s, 2 s, 4 s ... capped at
 * 60 min, per account); an account that never connected gives up when the wait reaches the
 * cap. The loop ends on SIGINT/SIGTERM, at `--until`/`expiresAfter`, or on SIGHUP to reload
 * the config: each time after the message in hand, logged out, with a line saying why.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { AccountConfig } from '../config/types.js';
import { ExitCode } from '../errors.js';
import type { Handler } from '../handler/types.js';
import { createMailbox } from '../mailbox/open.js';
import type { Mailbox } from '../mailbox/types.js';
import type { Reporter } from '../report/types.js';
import type { PurgeOptions, Store } from '../store/types.js';
import { failedCycle, recordOutcome, withLease } from '../poll/account.js';
import { nextBackoff } from './backoff.js';
import { pollAccount, type CycleResult } from '../poll/cycle.js';
import { createLimiter, type Limiter } from './limiter.js';
import { anySignal, loadHandlers } from '../poll/run.js';
import { nextRun, type Schedule } from './schedule.js';

/** Backoff state of one account; kept across config reloads. */
export interface AccountState {
  failures: number;
  everConnected: boolean;
}

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
  writeLog?: ((line: string) => void) | undefined;
  debug?: ((line: string) => void) | undefined;
  now?: () => number;
  /** Backoff states by account name, carried across reloads. */
  states?: Map<string, AccountState> | undefined;
}

export interface WatchResult {
  exitCode: ExitCode;
  /** Why the loop ended. */
  reason: 'signal' | 'until' | 'reload' | 'gave-up';
}

/** Purging is cheap when there is nothing to do; once an hour is plenty for a long run. */
const PURGE_EVERY_MS = 3_600_000;

interface Watch {
  options: WatchOptions;
  handlers: Map<string, Handler>;
  runId: number;
  stop: AbortSignal;
  now: () => number;
  polls: Limiter;
  hosts: Limiter;
  states: Map<string, AccountState>;
  lastPurge: number;
}

export async function runWatch(options: WatchOptions): Promise<WatchResult> {
  const now = options.now ?? Date.now;
  const handlers = await loadHandlers(options.accounts);
  const stopper = new AbortController();
  const stopped: { reason: WatchResult['reason'] } = { reason: 'signal' };
  const stopWith = (why: WatchResult['reason']) => () => {
    if (!stopper.signal.aborted) {
      stopped.reason = why;
      stopper.abort();
    }
  };
  options.signal.addEventListener('abort', stopWith('signal'), { once: true });
  options.reload?.addEventListener('abort', stopWith('reload'), { once: true });
  if (options.signal.aborted) stopWith('signal')();
  const untilTimer =
    options.until === undefined ? undefined : setTimeout(stopWith('until'), Math.max(0, options.until - now()));

  const watch: Watch = {
    options,
    handlers,
    runId: options.store.beginRun({ pid: process.pid, command: options.command ?? 'watch', dryRun: false }),
    stop: stopper.signal,
    now,
    // Polls share `concurrency`; every connection (IDLE included) counts against its host.
    polls: createLimiter({ concurrency: options.concurrency, maxPerHost: Number.POSITIVE_INFINITY }),
    hosts: createLimiter({ concurrency: Number.POSITIVE_INFINITY, maxPerHost: options.maxConnections }),
    states: options.states ?? new Map(),
    lastPurge: now(),
  };
  options.store.purge(options.retention);
  options.reporter.report({ type: 'watch', state: 'started', accounts: options.accounts.length, reason: describeTiming(options), exitCode: null });

  const outcomes = await Promise.all(options.accounts.map((account) => watchAccount(watch, account)));
  clearTimeout(untilTimer);

  const allGaveUp = outcomes.length > 0 && outcomes.every((outcome) => outcome === 'gave-up');
  if (allGaveUp) stopped.reason = 'gave-up';
  const exitCode = allGaveUp ? ExitCode.accountFailed : ExitCode.ok;
  options.store.endRun(watch.runId, exitCode);
  if (stopped.reason !== 'reload') {
    options.reporter.report({ type: 'watch', state: 'stopped', accounts: options.accounts.length, reason: describeStop(stopped.reason, options), exitCode });
  }
  return { exitCode, reason: stopped.reason };
}

/** One account's loop: cycles, waits, backoff. Ends when the watch stops or the account gives up. */
async function watchAccount(watch: Watch, account: AccountConfig): Promise<'stopped' | 'gave-up'> {
  const { now, stop } = watch;
  const state = watch.states.get(account.name) ?? { failures: 0, everConnected: false };
  watch.states.set(account.name, state);

  while (!stop.aborted) {
    const started = now();
    const result = await session(watch, account);
    if (result.connected) state.everConnected = true;

    if (result.status === 'error') {
      // A connection that worked and then broke starts a fresh series.
      state.failures = result.connected ? 1 : state.failures + 1;
      const step = nextBackoff(account.backoff, state);
      if (step.action === 'give-up') {
        watch.options.reporter.report({
          type: 'backoff',
          account: account.name,
          attempt: state.failures,
          waitMs: 0,
          nextAt: null,
          giveUp: true,
          error: `${step.reason}; last error: ${result.error?.message ?? 'unknown'}`,
          code: result.error?.code ?? null,
        });
        return 'gave-up';
      }
      watch.options.reporter.report({
        type: 'backoff',
        account: account.name,
        attempt: state.failures,
        waitMs: step.waitMs,
        nextAt: new Date(now() + step.waitMs).toISOString(),
        giveUp: false,
        error: result.error?.message ?? null,
        code: result.error?.code ?? null,
      });
      await sleepUntil(now() + step.waitMs, stop, now);
      continue;
    }

    state.failures = 0;
    purgeNow(watch);
    await sleepUntil(nextStart(watch, account, started), stop, now);
  }
  return 'stopped';
}

/**
 * One connection's worth of work under the account's lease: a cycle, and with IDLE further
 * cycles on the same connection as mail arrives. Reports a `cycle` event per cycle.
 */
async function session(watch: Watch, account: AccountConfig): Promise<CycleResult> {
  const { options } = watch;
  const host = account.protocol === 'maildir' ? undefined : `${account.host ?? ''}:${account.port ?? ''}`;
  const result = await watch.hosts.run(host, () =>
    withLease(options.store, account, async (leaseLost) => {
      const signal = anySignal(watch.stop, leaseLost);
      let mailbox: Mailbox;
      try {
        mailbox = await createMailbox(account, { debug: options.debug });
      } catch (error) {
        return report(watch, account, failedCycle(account, error), 0, false);
      }
      const idle = account.idle && account.protocol === 'imap';
      const first = await watch.polls.run(undefined, () => cycle(watch, account, mailbox, { signal, keepOpen: idle }));
      if (!idle || first.status !== 'ok' || first.opened === undefined) return first;
      if (!canWait(mailbox)) {
        options.debug?.(`${account.name}: ${NO_IDLE}: polling instead`);
        await mailbox.close().catch(() => undefined);
        return first;
      }
      // IDLE: wait for the server's push (or the interval, as a safety net), then cycle again.
      let last = first;
      try {
        while (!signal.aborted) {
          const woke = await mailbox.waitForChange({ maxMs: account.interval, healthCheckMs: account.idleHealthCheck, signal });
          if (woke === 'aborted') break;
          last = await cycle(watch, account, mailbox, { signal, keepOpen: true, opened: last.opened ?? first.opened });
          if (last.status !== 'ok') return last;
        }
      } catch (error) {
        return report(watch, account, { ...failedCycle(account, error), connected: true }, 0, false);
      } finally {
        await mailbox.close().catch(() => undefined);
      }
      return last;
    }),
  );
  // Another mailpoll holds the account: say so, and try again at the next tick.
  if (result.status === 'busy') report(watch, account, result, 0, false);
  return result;
}

async function cycle(
  watch: Watch,
  account: AccountConfig,
  mailbox: Mailbox,
  extra: { signal: AbortSignal; keepOpen: boolean; opened?: CycleResult['opened'] },
): Promise<CycleResult> {
  const { options, now } = watch;
  const started = now();
  const result = await pollAccount(
    account,
    {
      mailbox,
      handler: watch.handlers.get(account.name)!,
      reporter: options.reporter,
      store: options.store,
      runId: watch.runId,
      archive: options.retention.retentionDays > 0,
      writeLog: options.writeLog,
      now,
    },
    { dryRun: false, signal: extra.signal, keepOpen: extra.keepOpen, opened: extra.opened },
  );
  // Whether the connection will wait in IDLE is known only now, after login: the session
  // closes it and polls when the server has no IDLE, and the event must say so.
  const open = extra.keepOpen && result.status === 'ok';
  const fallback = open && !canWait(mailbox) ? NO_IDLE : null;
  return report(watch, account, result, now() - started, open && fallback === null, fallback);
}

const NO_IDLE = 'the server has no IDLE';

/** The open mailbox can wait for the server's push (IMAP IDLE advertised after login). */
function canWait(mailbox: Mailbox): mailbox is Mailbox & Required<Pick<Mailbox, 'waitForChange'>> {
  return mailbox.capabilities.idle && mailbox.waitForChange !== undefined;
}

/** The `cycle` event and the run history row of one cycle. */
function report(watch: Watch, account: AccountConfig, result: CycleResult, durationMs: number, idle: boolean, fallback: string | null = null): CycleResult {
  const { options } = watch;
  const outcome = recordOutcome(options.store, watch.runId, account, result, durationMs);
  const next = idle || result.status === 'error' || watch.stop.aborted ? null : new Date(nextStart(watch, account, watch.now() - durationMs));
  options.reporter.report({ type: 'cycle', ...outcome, idle, fallback, nextAt: next?.toISOString() ?? null });
  return result;
}

/** When the next cycle starts: never before the last one ended (cycles never overlap). */
function nextStart(watch: Watch, account: AccountConfig, started: number): number {
  const schedule: Schedule =
    watch.options.interval !== undefined
      ? { kind: 'interval', everyMs: watch.options.interval }
      : account.schedule !== undefined
        ? { kind: 'cron', expression: account.schedule }
        : { kind: 'interval', everyMs: account.interval };
  return Math.max(nextRun(schedule, new Date(started)).getTime(), watch.now());
}

function purgeNow(watch: Watch): void {
  if (watch.now() - watch.lastPurge < PURGE_EVERY_MS) return;
  watch.lastPurge = watch.now();
  watch.options.store.purge(watch.options.retention);
}

/** Sleep until `at` or until the watch stops, whichever comes first. */
async function sleepUntil(at: number, stop: AbortSignal, now: () => number): Promise<void> {
  const ms = at - now();
  if (ms <= 0 || stop.aborted) return;
  await sleepFor(ms, undefined, { signal: stop }).catch(() => undefined);
}

function describeTiming(options: WatchOptions): string {
  const parts: string[] = [];
  if (options.interval !== undefined) parts.push(`every ${Math.round(options.interval / 1000)}s`);
  if (options.until !== undefined) parts.push(`until ${new Date(options.until).toISOString()}`);
  const idle = options.accounts.filter((account) => account.idle).map((account) => account.name);
  if (idle.length > 0) parts.push(`IDLE: ${idle.join(', ')}`);
  return parts.join(', ');
}

function describeStop(reason: WatchResult['reason'], options: WatchOptions): string {
  switch (reason) {
    case 'signal':
      return 'signal received; the message in hand was finished';
    case 'until':
      return `expiration reached (${new Date(options.until ?? 0).toISOString()})`;
    case 'gave-up':
      return 'no account left: every account gave up connecting';
    case 'reload':
      return 'reloading the config';
  }
}
