/**
 * One account's life in watch mode: a cycle on its interval or cron schedule (never
 * overlapping), or with `idle: true` on IMAP one open connection that cycles as the server
 * pushes new mail; after a failed connection, the backoff wait (`backoff.ts`) and, for an
 * account that never connected, giving up. Every cycle is `pollAccount` under the account's
 * lease, so the guarantees of a single run hold.
 */
import type { AccountConfig } from '../config/types.js';
import { LeaseLostAccountError } from '../errors.js';
import type { LoadedHandler } from '../handler/types.js';
import type { HandlerThreads } from '../handler/worker/threads.js';
import type { Logger } from '../logger.js';
import type { ExtraConnection } from '../mailbox/connection-utils.js';
import { createMailbox } from '../mailbox/open.js';
import type { Mailbox } from '../mailbox/types.js';
import { failedCycle, recordOutcome, withHeldLease, withLease } from '../poll/account.js';
import type { CycleResult } from '../poll/cycle.js';
import { pollFolders } from '../poll/folders.js';
import { linkSignals } from '../poll/linked-signal.js';
import type { Reporter } from '../report/types.js';
import type { Lease, PurgeOptions, Store } from '../store/types.js';
import { nextBackoff } from './backoff.js';
import { connectionHost, waitsInIdle } from './hosts.js';
import type { Clock } from './clock.js';
import type { Limiter } from './limiter.js';
import { nextRun, type Schedule } from './schedule.js';

/** Backoff state of one account; kept across config reloads. */
export interface AccountState {
  failures: number;
  everConnected: boolean;
}

/** What every account's loop shares in one watch. */
export interface Watch {
  reporter: Reporter;
  store: Store;
  retention: PurgeOptions;
  /** `--interval`: every account's cycle interval, overriding `interval:` and `schedule:`. */
  interval: number | undefined;
  logger: Logger | undefined;
  handlers: Map<string, LoadedHandler>;
  /** The module handlers' worker threads, shared by every account and kept between cycles. */
  handlerThreads: HandlerThreads;
  runId: number;
  /** Aborts when the watch stops: the loops end after the message in hand. */
  stop: AbortSignal;
  clock: Clock;
  polls: Limiter;
  hosts: Limiter;
  states: Map<string, AccountState>;
  lastPurge: number;
  /** Told when this process takes and releases an account's lease (the metrics). */
  onLease?: ((account: string, held: boolean) => void) | undefined;
}

/**
 * A lease a worker holds for the account (`worker-loop.ts`): the loop works under it without
 * acquiring or releasing it, ends when `stop` aborts (handed back, the watch stopping) after the
 * message in hand, and stops the cycle at once when `lost` aborts (taken over).
 */
export interface HeldLease {
  lease: Lease;
  stop: AbortSignal;
  lost: AbortSignal;
}

/** Purging is cheap when there is nothing to do; once an hour is plenty for a long run. */
const PURGE_EVERY_MS = 3_600_000;

/** One account's loop: cycles, waits, backoff. Ends when the watch stops or the account gives up. */
export async function watchAccount(shared: Watch, account: AccountConfig, held?: HeldLease): Promise<'stopped' | 'gave-up' | 'lost'> {
  const linked = held === undefined ? undefined : linkSignals(shared.stop, held.stop);
  try {
    return await loop(linked === undefined ? shared : { ...shared, stop: linked.signal }, account, held);
  } finally {
    linked?.unlink();
  }
}

async function loop(watch: Watch, account: AccountConfig, held: HeldLease | undefined): Promise<'stopped' | 'gave-up' | 'lost'> {
  const { clock, stop } = watch;
  const state = watch.states.get(account.name) ?? { failures: 0, everConnected: false };
  watch.states.set(account.name, state);

  while (!stop.aborted) {
    const round = newRound(watch, account, clock.now());
    // A worker's shared store that stops answering (a database restarting) fails this cycle,
    // not the watch; a local store that fails ends the watch, as it ends a one-shot run.
    const result = await session(watch, account, held, round).catch((error: unknown) => {
      if (held === undefined) throw error;
      return { ...failedCycle(account, error), connected: state.everConnected };
    });
    if (result.connected) state.everConnected = true;
    // A worker's lease taken over: the account is another worker's now.
    if (held !== undefined && result.error instanceof LeaseLostAccountError) return 'lost';

    if (result.status === 'error') {
      // A connection that worked and then broke starts a fresh series.
      state.failures = result.connected ? 1 : state.failures + 1;
      const step = nextBackoff(account.backoff, state);
      if (step.action === 'give-up') {
        watch.reporter.report({
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
      watch.reporter.report({
        type: 'backoff',
        account: account.name,
        attempt: state.failures,
        waitMs: step.waitMs,
        nextAt: new Date(clock.now() + step.waitMs).toISOString(),
        giveUp: false,
        error: result.error?.message ?? null,
        code: result.error?.code ?? null,
      });
      await sleepUntil(watch, clock.now() + step.waitMs);
      continue;
    }

    state.failures = 0;
    await purgeNow(watch).catch((error: unknown) => {
      if (held === undefined) throw error;
    });
    await sleepUntil(watch, nextStart(watch, account, round));
  }
  return 'stopped';
}

/**
 * One connection's worth of work under the account's lease: a cycle, and with IDLE further
 * cycles on the same connection as mail arrives. Reports a `cycle` event per cycle. It holds
 * one of the host's `maxConnections` slots from before connecting until every socket it
 * opened has closed (`Mailbox.close` resolves only then); the TLS probe of a silent port, a
 * second connection, takes a slot of its own if one is free (`ExtraConnection`).
 */
async function session(watch: Watch, account: AccountConfig, held: HeldLease | undefined, round: Round): Promise<CycleResult> {
  const host = connectionHost(account);
  const asked = watch.clock.now();
  const work = async (leaseLost: AbortSignal, lease: Lease): Promise<CycleResult> => {
    watch.onLease?.(account.name, true);
    try {
      return await leased(watch, account, leaseLost, lease, round);
    } finally {
      watch.onLease?.(account.name, false);
    }
  };
  const result = await watch.hosts.run(host, () => {
    waited(watch, round, asked);
    return held === undefined ? withLease(watch.store, account, work) : withHeldLease(account, held, work);
  });
  // Another mailpoll holds the account: say so, and try again at the next tick.
  if (result.status === 'busy') await report(watch, account, result, round, 0, false);
  return result;
}

/** What one round of an account's loop passes down to its cycles. */
interface Round {
  /**
   * What the next start counts from (`nextStart`): when the loop began the round, moved on by
   * the time it waited for a connection or a concurrency slot. Accounts that queue behind
   * others (a thousand starting together against `maxConnections: 64`) keep the place they
   * got rather than all coming back at the same instant, so the queue forms once, at start,
   * and not every interval; work itself (connecting, the cycle) never moves it, so an
   * account that waits for no one keeps its phase exactly.
   */
  anchor: number;
  extraConnection: ExtraConnection | undefined;
}

function newRound(watch: Watch, account: AccountConfig, now: number): Round {
  const host = connectionHost(account);
  return { anchor: now, extraConnection: host === undefined ? undefined : () => watch.hosts.tryAcquire(host) };
}

/** A slot came after waiting since `asked`: the round's anchor moves on by the wait. */
function waited(watch: Watch, round: Round, asked: number): void {
  round.anchor += Math.max(0, watch.clock.now() - asked);
}

/** The session's work while holding the account's lease. */
async function leased(watch: Watch, account: AccountConfig, leaseLost: AbortSignal, lease: Lease, round: Round): Promise<CycleResult> {
  let mailbox: Mailbox;
  try {
    mailbox = await createMailbox(account, { logger: watch.logger, extraConnection: round.extraConnection });
  } catch (error) {
    return await report(watch, account, failedCycle(account, error), round, 0, false);
  }
  const linked = linkSignals(watch.stop, leaseLost);
  // Closed on every way out (a cycle closes its own connection unless it stays open for IDLE;
  // closing again does nothing): the host's slot is given back only after this.
  try {
    return await cycles(watch, account, mailbox, { signal: linked.signal, lease }, round);
  } finally {
    linked.unlink();
    await mailbox.close().catch(() => undefined);
  }
}

/** The first cycle and, with IDLE, the cycles that follow on the same connection. */
async function cycles(watch: Watch, account: AccountConfig, mailbox: Mailbox, under: { signal: AbortSignal; lease: Lease }, round: Round): Promise<CycleResult> {
  const { signal, lease } = under;
  // IDLE waits on one folder: an account with several polls every interval instead.
  const idle = waitsInIdle(account);
  const asked = watch.clock.now();
  const first = await watch.polls.run(undefined, () => {
    waited(watch, round, asked);
    return cycle(watch, account, mailbox, { signal, lease, keepOpen: idle }, round);
  });
  if (!idle || first.status !== 'ok' || first.opened === undefined) return first;
  if (!canWait(mailbox)) {
    watch.logger?.debug?.(`${account.name}: ${NO_IDLE}: polling instead`);
    return first;
  }
  // IDLE: wait for the server's push (or the interval, as a safety net), then cycle again.
  let last = first;
  try {
    while (!signal.aborted) {
      const woke = await mailbox.waitForChange({ maxMs: account.interval, healthCheckMs: account.idleHealthCheck, signal });
      if (woke === 'aborted') break;
      last = await cycle(watch, account, mailbox, { signal, lease, keepOpen: true, opened: last.opened ?? first.opened }, round);
      if (last.status !== 'ok') return last;
    }
  } catch (error) {
    return await report(watch, account, { ...failedCycle(account, error), connected: true }, round, 0, false);
  }
  return last;
}

async function cycle(
  watch: Watch,
  account: AccountConfig,
  mailbox: Mailbox,
  extra: { signal: AbortSignal; lease: Lease; keepOpen: boolean; opened?: CycleResult['opened'] },
  round: Round,
): Promise<CycleResult> {
  const { clock } = watch;
  const started = clock.now();
  const result = await pollFolders(
    account,
    {
      mailbox,
      handler: watch.handlers.get(account.name)!,
      reporter: watch.reporter,
      store: watch.store,
      lease: extra.lease,
      runId: watch.runId,
      archive: watch.retention.retentionDays > 0,
      logger: watch.logger,
      now: () => clock.now(),
      handlerThreads: watch.handlerThreads,
    },
    { dryRun: false, signal: extra.signal, keepOpen: extra.keepOpen, opened: extra.opened },
  );
  // Whether the connection will wait in IDLE is known only now, after login: the session
  // closes it and polls when the server has no IDLE, and the event must say so.
  const open = extra.keepOpen && result.status === 'ok';
  const fallback = open && !canWait(mailbox) ? NO_IDLE : null;
  return report(watch, account, result, round, clock.now() - started, open && fallback === null, fallback);
}

const NO_IDLE = 'the server has no IDLE';

/** The open mailbox can wait for the server's push (IMAP IDLE advertised after login). */
function canWait(mailbox: Mailbox): mailbox is Mailbox & Required<Pick<Mailbox, 'waitForChange'>> {
  return mailbox.capabilities.idle && mailbox.waitForChange !== undefined;
}

/**
 * The `cycle` event and the run history row of one cycle. Its `nextAt` is when the loop starts
 * the account again: counted from the round's anchor, as the loop does, not from this cycle's
 * start (which came after connecting and taking the lease).
 */
async function report(
  watch: Watch,
  account: AccountConfig,
  result: CycleResult,
  round: Round,
  durationMs: number,
  idle: boolean,
  fallback: string | null = null,
): Promise<CycleResult> {
  const outcome = await recordOutcome(watch.store, watch.runId, account, result, durationMs);
  const next = idle || result.status === 'error' || watch.stop.aborted ? null : new Date(nextStart(watch, account, round));
  watch.reporter.report({ type: 'cycle', ...outcome, idle, fallback, nextAt: next?.toISOString() ?? null });
  return result;
}

/** When the next cycle starts: never before the last one ended (cycles never overlap). */
function nextStart(watch: Watch, account: AccountConfig, round: Round): number {
  const schedule: Schedule =
    watch.interval !== undefined
      ? { kind: 'interval', everyMs: watch.interval }
      : account.schedule !== undefined
        ? { kind: 'cron', expression: account.schedule }
        : { kind: 'interval', everyMs: account.interval };
  return Math.max(nextRun(schedule, new Date(round.anchor)).getTime(), watch.clock.now());
}

async function purgeNow(watch: Watch): Promise<void> {
  const now = watch.clock.now();
  if (now - watch.lastPurge < PURGE_EVERY_MS) return;
  watch.lastPurge = now;
  await watch.store.purge(watch.retention);
}

/** Sleep until `at` or until the watch stops, whichever comes first. */
async function sleepUntil(watch: Watch, at: number): Promise<void> {
  const ms = at - watch.clock.now();
  if (ms <= 0 || watch.stop.aborted) return;
  await watch.clock.sleep(ms, watch.stop);
}
