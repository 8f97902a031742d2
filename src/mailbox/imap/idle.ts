/**
 * Waiting on the open folder for new mail (`Mailbox.waitForChange`): IDLE (RFC 2177) where the
 * server offers it, and a watchdog NOOP that both proves the link alive and re-issues IDLE
 * well inside the server's 29-minute limit.
 *
 * - `changed` at once when new mail was reported since the last `list()` (the mailbox answers
 *   that itself); else when the server pushes EXISTS. A server without IDLE (or one that
 *   refused it) is asked by the watchdog's NOOPs instead, so there the news comes at the next
 *   NOOP.
 * - Watchdog: IDLE is ended (DONE), a NOOP sent and IDLE entered again every
 *   healthCheckMs - answerWithin (at least healthCheckMs / 2, at most 10 min), where
 *   answerWithin = min(healthCheckMs / 2, fetchTimeout, 30 s), but at least 1 s unless
 *   fetchTimeout is shorter: so a dead link is noticed within healthCheckMs (for values of
 *   2 s and more). A NOOP not answered in time, or the connection closing or failing,
 *   rejects with a TimeoutError or ConnectionError and closes the connection: every later
 *   call fails with that error until `open()` connects again; `close()` is safe.
 * - `timeout` after `maxMs`; `aborted` when `signal` aborts (or already has) or `close()` is
 *   called meanwhile.
 *
 * IDLE may still be running when a wait resolves: the next command ends it first (imapflow
 * sends DONE and waits for the IDLE's completion before the command).
 *
 * One wait is a small state machine: `waiting` (in IDLE when possible) -> `probing` (a NOOP
 * is out; imapflow ends the IDLE first) -> `waiting` ... until `settled` (changed, timeout,
 * aborted, or failed). Its three timers are the deadline (maxMs), the next probe and the
 * probe's answer; they run on injectable `Timers` so that tests check them, not the clock.
 */
import type { ImapFlow } from 'imapflow';
import { formatDuration } from '../../duration.js';
import { ConnectionError, MailpollError, TimeoutError } from '../../errors.js';
import { oneLine, type ConnectionGuard } from '../connection-utils.js';
import { errorCode } from '../net-errors.js';
import type { WaitOptions } from '../types.js';
import { said } from './errors.js';

export type WaitOutcome = 'changed' | 'timeout' | 'aborted';

/** The clock and timers a wait runs on. */
export interface Timers {
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const systemTimers: Timers = {
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => Date.now(),
};

/**
 * The watchdog sends a NOOP at least this often whatever healthCheckMs says: breaking IDLE
 * for it and entering IDLE again keeps every IDLE far below the 29 minutes after which
 * RFC 2177 lets a server drop the client.
 */
const IDLE_REISSUE_MS = 10 * 60_000;
/**
 * How long the watchdog's NOOP may take: min(healthCheckMs / 2, fetchTimeout, 30 s), but at
 * least 1 s (a busy server is not a dead one) unless fetchTimeout is shorter still.
 */
const NOOP_ANSWER_CAP_MS = 30_000;
const NOOP_ANSWER_FLOOR_MS = 1000;
/** The watchdog never sends NOOPs more often than this. */
const MIN_PROBE_MS = 100;
/** An IDLE the server ends sooner than this after it began is not entered again until the next NOOP (no busy loop). */
const IDLE_MIN_RUN_MS = 1000;
/** The longest delay setTimeout honours (about 24.8 days); longer waits are capped to it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A NOOP every `probeEvery`, answered within `answerWithin`: together at most healthCheckMs
 * (for healthCheckMs >= 2 s), so a dead link is noticed within healthCheckMs of the last
 * proof of life; and a fresh IDLE at least every 10 minutes.
 */
export function planWatchdog(healthCheckMs: number, fetchTimeout: number): { probeEvery: number; answerWithin: number } {
  const answerWithin = Math.min(fetchTimeout, NOOP_ANSWER_CAP_MS, Math.max(Math.round(healthCheckMs / 2), NOOP_ANSWER_FLOOR_MS));
  const probeEvery = Math.max(MIN_PROBE_MS, Math.min(IDLE_REISSUE_MS, Math.max(healthCheckMs - answerWithin, Math.round(healthCheckMs / 2))));
  return { probeEvery, answerWithin };
}

/** RangeError for options no wait can honour. */
export function checkWaitOptions({ maxMs, healthCheckMs }: WaitOptions): void {
  if (!(maxMs >= 0)) throw new RangeError(`waitForChange: maxMs must be a number >= 0, got ${String(maxMs)}`);
  if (!(healthCheckMs > 0) || !Number.isFinite(healthCheckMs)) {
    throw new RangeError(`waitForChange: healthCheckMs must be a finite number > 0, got ${String(healthCheckMs)}`);
  }
}

/** What a wait needs of the mailbox around it. */
export interface IdleHost {
  readonly client: ImapFlow;
  readonly guard: ConnectionGuard;
  readonly timers: Timers;
  /** The server offers IDLE and has not refused it on this connection. */
  canIdle(): boolean;
  /** The server refused IDLE: the rest of this connection keeps to NOOPs. */
  refuseIdle(): void;
  /** The wait failed: `error` is the session's failure from now on. */
  fail(error: MailpollError): void;
  /** The wait is over, either way. */
  forget(wait: IdleWait): void;
  /** A line of our own in the verbose log. */
  note(line: string): void;
}

type Phase = 'waiting' | 'probing' | 'settled';
type TimerName = 'deadline' | 'probe' | 'answer';

/** One `waitForChange`; the mailbox passes the client's events on (`change`, `lost`, `closing`). */
export class IdleWait {
  readonly done: Promise<WaitOutcome>;
  #phase: Phase = 'waiting';
  /** The IDLE this wait started, while imapflow runs it; `ended`: the watchdog asked for its end. */
  #idle: { ended: boolean; since: number } | undefined;
  readonly #timers = new Map<TimerName, unknown>();
  #resolve!: (outcome: WaitOutcome) => void;
  #reject!: (error: MailpollError) => void;
  readonly #onAbort = (): void => this.#finish('aborted');

  constructor(
    private readonly host: IdleHost,
    private readonly options: WaitOptions,
    private readonly watchdog: { probeEvery: number; answerWithin: number },
  ) {
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#arm('deadline', Math.min(options.maxMs, MAX_TIMER_MS), () => this.#finish('timeout'));
    this.#arm('probe', watchdog.probeEvery, () => this.#probe());
    this.#enterIdle();
  }

  /** The server pushed EXISTS with a larger count. */
  change(): void {
    this.#finish('changed');
  }

  /** `close()` was called: the wait ends as `aborted`. */
  closing(): void {
    this.#finish('aborted');
  }

  /** The connection failed (`error` event) or the server/network closed it (`error` undefined). */
  lost(error: unknown): void {
    if (this.#phase === 'settled') return;
    const { guard, client } = this.host;
    const options = { account: guard.name, cause: error };
    const code = errorCode(error);
    if (error === undefined) {
      const bye = client.byeReason ? `: ${guard.clean(oneLine(client.byeReason))}` : '';
      this.#fail(new ConnectionError(this.#lostWhile(`connection closed${bye}`), { account: guard.name }));
    } else if (code === 'ETIMEOUT' || code === 'ETIMEDOUT') {
      this.#fail(new TimeoutError(this.#lostWhile(`no traffic: ${said(guard, error)}`), options));
    } else {
      const known = code === 'ECONNRESET' ? 'reset' : code === 'EPIPE' ? 'broken pipe' : undefined;
      this.#fail(new ConnectionError(this.#lostWhile(known ?? said(guard, error)), options));
    }
  }

  #lostWhile(reason: string): string {
    return `${this.host.guard.name}: connection to ${this.host.guard.where} lost while waiting for new mail (${reason}).`;
  }

  #arm(name: TimerName, ms: number, run: () => void): void {
    this.#timers.set(name, this.host.timers.setTimeout(run, ms));
  }

  #disarm(name: TimerName): void {
    this.host.timers.clearTimeout(this.#timers.get(name));
    this.#timers.delete(name);
  }

  #settle(): void {
    this.#phase = 'settled';
    for (const name of [...this.#timers.keys()]) this.#disarm(name);
    this.options.signal?.removeEventListener('abort', this.#onAbort);
    this.host.forget(this);
  }

  #finish(outcome: WaitOutcome): void {
    if (this.#phase === 'settled') return;
    this.#settle();
    this.host.note(`waiting for new mail ended: ${outcome}`);
    this.#resolve(outcome);
  }

  #fail(error: MailpollError): void {
    if (this.#phase === 'settled') return;
    this.#settle();
    // This error, not the generic one the client's event handler may have recorded.
    this.host.fail(error);
    this.host.note(`waiting for new mail failed: ${error.message}`);
    this.host.client.close();
    this.#reject(error);
  }

  /** IDLE, when waiting without one and the server takes it. */
  #enterIdle(): void {
    const { client, timers } = this.host;
    if (this.#phase !== 'waiting' || this.#idle || !this.host.canIdle()) return;
    const run = { ended: false, since: timers.now() };
    this.#idle = run;
    // Resolves when IDLE is over: ended by the watchdog's NOOP or by the next command
    // (DONE, tagged OK), by the server, or by a failure (false).
    client.idle().then(
      (result) => {
        if (this.#idle === run) this.#idle = undefined;
        if (this.#phase === 'settled') return;
        if (!run.ended) {
          if (result === false) {
            // Refused by the server (or the connection is going: then the close event decides).
            if (client.usable) {
              this.host.refuseIdle();
              this.host.note(`the server refused IDLE: waiting with NOOPs every ${formatDuration(this.watchdog.probeEvery)}`);
            }
            return;
          }
          // The server ended IDLE by itself: again at once, unless that happens in a loop.
          if (timers.now() - run.since < IDLE_MIN_RUN_MS) return;
        }
        this.#enterIdle();
      },
      () => {
        if (this.#idle === run) this.#idle = undefined;
      },
    );
  }

  /** The watchdog: a NOOP (imapflow ends a running IDLE first), answered in time, then IDLE again. */
  #probe(): void {
    this.#timers.delete('probe');
    if (this.#phase === 'settled') return;
    this.#phase = 'probing';
    if (this.#idle) this.#idle.ended = true;
    const { answerWithin, probeEvery } = this.watchdog;
    const { client, guard } = this.host;
    this.#arm('answer', answerWithin, () =>
      this.#fail(new TimeoutError(this.#lostWhile(`no answer to NOOP within ${formatDuration(answerWithin)}`), { account: guard.name })),
    );
    // imapflow reports a failed NOOP only through its logger: what counts is whether the
    // connection is still usable afterwards.
    client.noop().then(
      () => {
        if (this.#phase === 'settled') return;
        this.#disarm('answer');
        this.#phase = 'waiting';
        if (!client.usable) {
          this.lost(undefined);
          return;
        }
        this.#enterIdle();
        this.#arm('probe', probeEvery, () => this.#probe());
      },
      (error: unknown) => {
        if (this.#phase === 'settled') return;
        this.#disarm('answer');
        this.#phase = 'waiting';
        this.lost(error ?? new Error('NOOP failed'));
      },
    );
  }
}
