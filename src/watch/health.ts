/**
 * Whether a running watch is healthy, for `/healthz`, `/readyz` and systemd's STATUS line:
 * read from the events the watch reports (no hook into the loop), on an injected clock.
 *
 * An account is healthy while it made progress (a successful cycle, or a message handled
 * in a long one) within three of its intervals (or, with `schedule:`, by its third
 * scheduled start after that progress), or while it waits in an announced backoff that
 * has not given up. A hung cycle, a lease another process keeps, or an account that gave
 * up makes it unhealthy, with the reason in words.
 */
import type { AccountConfig } from '../config/types.js';
import type { ReportEvent } from '../report/types.js';
import { nextRun, type Schedule } from './schedule.js';

/** How many of its intervals an account may go without progress. */
export const STALE_AFTER_INTERVALS = 3;

export interface AccountHealth {
  account: string;
  healthy: boolean;
  /** `ok`, `backoff`, `stale`, `gave-up`, `busy`. */
  state: 'ok' | 'backoff' | 'stale' | 'gave-up' | 'busy';
  /** In words, for the 503 body and the STATUS line; null when healthy and nothing to say. */
  reason: string | null;
  /** The last successful cycle (ISO 8601); null before the first. */
  lastSuccessAt: string | null;
}

export interface HealthReport {
  healthy: boolean;
  accounts: AccountHealth[];
}

interface Tracked {
  schedule: Schedule;
  /** Epoch ms of the last progress: a successful cycle or a handled message (or the watch's start). */
  progressAt: number;
  lastSuccessAt: number | null;
  backoff: { giveUp: boolean; error: string | null; nextAt: string | null; attempt: number } | null;
  busy: string | null;
}

/** The health of one watch, across config reloads. */
export class WatchHealth {
  readonly #accounts = new Map<string, Tracked>();
  readonly #now: () => number;
  #state: 'starting' | 'running' | 'stopping' = 'starting';

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * The accounts being watched (at the start and after a reload), with `--interval` when
   * given. An account kept across a reload keeps its history; one no longer watched is dropped.
   */
  watch(accounts: readonly AccountConfig[], interval: number | undefined): void {
    const names = new Set(accounts.map((account) => account.name));
    for (const name of this.#accounts.keys()) if (!names.has(name)) this.#accounts.delete(name);
    for (const account of accounts) {
      const schedule = scheduleOf(account, interval);
      const known = this.#accounts.get(account.name);
      if (known !== undefined) known.schedule = schedule;
      else this.#accounts.set(account.name, { schedule, progressAt: this.#now(), lastSuccessAt: null, backoff: null, busy: null });
    }
  }

  /** The watch is stopping (a signal, `--until`): `/readyz` answers 503 from now on. */
  stopping(): void {
    this.#state = 'stopping';
  }

  get ready(): boolean {
    return this.#state === 'running';
  }

  observe(event: ReportEvent): void {
    if (event.type === 'watch') {
      if (event.state === 'started' || event.state === 'reloaded') this.#state = this.#state === 'stopping' ? 'stopping' : 'running';
      else this.#state = 'stopping';
      return;
    }
    if (event.type !== 'message' && event.type !== 'cycle' && event.type !== 'backoff') return;
    const tracked = this.#accounts.get(event.account);
    if (tracked === undefined) return;
    const now = this.#now();
    if (event.type === 'message') {
      if (event.status !== 'failed') tracked.progressAt = now;
    } else if (event.type === 'backoff') {
      tracked.backoff = { giveUp: event.giveUp, error: event.error, nextAt: event.nextAt, attempt: event.attempt };
    } else if (event.status === 'ok') {
      tracked.progressAt = now;
      tracked.lastSuccessAt = now;
      tracked.backoff = null;
      tracked.busy = null;
    } else if (event.status === 'busy') {
      tracked.busy = event.error;
    }
  }

  /** Every watched account's health at this moment. */
  report(): HealthReport {
    const now = this.#now();
    const accounts = [...this.#accounts].map(([name, tracked]) => judge(name, tracked, now));
    return { healthy: accounts.every((account) => account.healthy), accounts };
  }
}

function judge(name: string, tracked: Tracked, now: number): AccountHealth {
  const lastSuccessAt = tracked.lastSuccessAt === null ? null : new Date(tracked.lastSuccessAt).toISOString();
  const base = { account: name, lastSuccessAt };
  const { backoff } = tracked;
  if (backoff?.giveUp === true) return { ...base, healthy: false, state: 'gave-up', reason: `gave up connecting: ${backoff.error ?? 'unknown error'}` };
  if (backoff !== null) {
    const next = backoff.nextAt === null ? '' : `, next attempt at ${backoff.nextAt}`;
    return { ...base, healthy: true, state: 'backoff', reason: `reconnecting after ${backoff.attempt} failed attempt${backoff.attempt === 1 ? '' : 's'}${next}: ${backoff.error ?? 'unknown error'}` };
  }
  const deadline = staleAfter(tracked.schedule, tracked.progressAt);
  if (now <= deadline) return { ...base, healthy: true, state: 'ok', reason: null };
  const since = tracked.lastSuccessAt === null ? 'no successful cycle since the watch started' : `no successful cycle since ${lastSuccessAt}`;
  if (tracked.busy !== null) return { ...base, healthy: false, state: 'busy', reason: `${since}: ${tracked.busy}` };
  return { ...base, healthy: false, state: 'stale', reason: `${since} (due within ${STALE_AFTER_INTERVALS} cycles)` };
}

/** The time by which the account must have made progress again: three schedule steps on. */
function staleAfter(schedule: Schedule, progressAt: number): number {
  let at = new Date(progressAt);
  for (let step = 0; step < STALE_AFTER_INTERVALS; step += 1) at = nextRun(schedule, at);
  return at.getTime();
}

function scheduleOf(account: AccountConfig, interval: number | undefined): Schedule {
  if (interval !== undefined) return { kind: 'interval', everyMs: interval };
  if (account.schedule !== undefined) return { kind: 'cron', expression: account.schedule };
  return { kind: 'interval', everyMs: account.interval };
}
