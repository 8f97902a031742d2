/**
 * When a failed message is tried again. Attempts are spread over time, not over runs: under a
 * cron job every minute, a five-minute outage of what the handler calls must not use up
 * `maxAttempts`. The wait is `retryDelay` after the first failure and doubles with each
 * further one, up to 6 hours (or `retryDelay` itself, if that is longer). Computed from the
 * ledger's `attempts` and `updatedAt` (the time of the last failure): no extra column.
 */
import type { MessageRecord } from '../store/types.js';

/** The longest wait between two attempts, unless `retryDelay` itself is longer. */
export const MAX_RETRY_WAIT_MS = 6 * 3_600_000;

/** The wait after the `attempts`-th failure (attempts >= 1). */
export function retryWait(attempts: number, retryDelay: number): number {
  const cap = Math.max(MAX_RETRY_WAIT_MS, retryDelay);
  const doublings = Math.min(Math.max(attempts - 1, 0), 40);
  return Math.min(retryDelay * 2 ** doublings, cap);
}

/**
 * When the message may be tried again (milliseconds since the epoch), or undefined when
 * nothing holds it back: no failure yet, released by `mailpoll retry` (attempts 0), or not
 * waiting for a retry at all. Two states wait: `failed` (the handler failed) and `handled`
 * with an error (its Decision's server action was refused; a `handled` row without an error
 * is a Decision an interrupted run left: applied at once).
 */
export function nextAttemptAt(record: MessageRecord, retryDelay: number): number | undefined {
  if (record.attempts === 0) return undefined;
  const waiting = record.state === 'failed' || (record.state === 'handled' && record.lastError !== null);
  if (!waiting) return undefined;
  return record.updatedAt + retryWait(record.attempts, retryDelay);
}
