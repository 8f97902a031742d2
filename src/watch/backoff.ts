/**
 * The reconnect policy of the watch loop, as a pure function: how long to wait after the
 * n-th failed attempt in a row, and when to give up. No clock and no timers here; the loop
 * sleeps (and logs the next attempt time) itself.
 *
 * Waits double from `initialMs` (1 s, 2 s, 4 s, ...) up to `maxMs` (60 min). An account that
 * has never connected since mailpoll started gives up when the wait reaches `maxMs`: with the
 * defaults that is after 13 failures, the last waits having been 1 s ... 2048 s (~68 min in
 * all). An account that has connected at least once waits `maxMs` between attempts, forever.
 */

export interface BackoffPolicy {
  /** The wait after the first failure, in ms. Default 1 s. */
  initialMs: number;
  /** The longest wait, in ms; also where a never-connected account gives up. Default 60 min. */
  maxMs: number;
}

export type BackoffStep = { action: 'wait'; waitMs: number } | { action: 'give-up'; reason: string };

export interface BackoffState {
  /** Consecutive failed attempts so far, including the one just made (>= 1). */
  failures: number;
  /** The account has connected at least once since mailpoll started. */
  everConnected: boolean;
}

/**
 * What to do after a failed attempt: wait `initial × 2^(failures−1)`, capped at `max`; or,
 * when the account has never connected and that wait has reached the cap, give up. Throws a
 * RangeError for a policy or state that makes no sense (a programming error: the config
 * schema only lets valid ones through).
 */
export function nextBackoff(policy: BackoffPolicy, state: BackoffState): BackoffStep {
  checkPolicy(policy);
  const { failures, everConnected } = state;
  if (!Number.isInteger(failures) || failures < 1) throw new RangeError(`nextBackoff: failures must be an integer >= 1, got ${failures}`);
  const waitMs = waitAfter(policy, failures);
  if (everConnected || waitMs < policy.maxMs) return { action: 'wait', waitMs };
  // Every earlier wait was below the cap (else we would have given up then), so they add up
  // to initial × (2^(failures−1) − 1); the time the attempts themselves took is not known here.
  const waitedMs = policy.initialMs * (2 ** (failures - 1) - 1);
  const times = failures === 1 ? 'once' : `${failures} times`;
  const over = waitedMs > 0 ? ` over ~${formatApproximate(waitedMs)}` : '';
  return { action: 'give-up', reason: `never connected since mailpoll started: tried ${times}${over}` };
}

/** `initial × 2^(failures−1)` capped at `max`, without overflowing for large `failures`. */
function waitAfter(policy: BackoffPolicy, failures: number): number {
  // Past 2^52 the product is beyond any sensible cap (and beyond exact doubles): stop doubling.
  const exponent = Math.min(failures - 1, 52);
  return Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
}

function checkPolicy(policy: BackoffPolicy): void {
  const { initialMs, maxMs } = policy;
  if (!Number.isFinite(initialMs) || initialMs <= 0) throw new RangeError(`nextBackoff: initialMs must be a positive number, got ${initialMs}`);
  if (!Number.isFinite(maxMs) || maxMs < initialMs) throw new RangeError(`nextBackoff: maxMs must be at least initialMs (${initialMs}), got ${maxMs}`);
}

/** A rough human duration for messages: `500ms`, `45s`, `12m`, `1h 8m`, `3h`. */
function formatApproximate(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours}h` : `${hours}h ${rest}m`;
}
