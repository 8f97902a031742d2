/**
 * When a line of output carries the time it was written. A log appended by cron or kept by a
 * service manager must say when each failure happened, so a stream that is not a terminal gets
 * an ISO 8601 prefix (UTC, milliseconds); a person at a terminal sees the time anyway.
 * `--timestamps` forces the prefix, `--no-timestamps` drops it. NDJSON carries a `time` field
 * instead.
 */
import { UsageError } from '../errors.js';

/**
 * The CLI's clock: the store's and the output's. MAILPOLL_NOW (an ISO time) fixes it: a test hook for retention and for
 * `retryDelay`, so that tests never sleep or assert on timing (CONTRIBUTING.md).
 */
export function storeClock(env: NodeJS.ProcessEnv = process.env): () => number {
  const fixed = env.MAILPOLL_NOW;
  if (fixed === undefined || fixed === '') return Date.now;
  const at = Date.parse(fixed);
  if (Number.isNaN(at)) throw new UsageError(`MAILPOLL_NOW: expected an ISO time like 2026-01-31T12:00:00Z, got "${fixed}"`);
  return () => at;
}

/** `--timestamps` (true), `--no-timestamps` (false) or neither (undefined): the last one given wins. */
export function timestampsFlag(argv: readonly string[]): boolean | undefined {
  let choice: boolean | undefined;
  for (const arg of argv) {
    if (arg === '--') break;
    if (arg === '--timestamps') choice = true;
    else if (arg === '--no-timestamps') choice = false;
  }
  return choice;
}

/** Whether lines written to `stream` get the prefix: the flag when given, else when it is not a terminal. */
export function wantsTimestamps(flag: boolean | undefined, stream: { isTTY?: boolean }): boolean {
  return flag ?? stream.isTTY !== true;
}

/**
 * The CLI's clock: the store's (MAILPOLL_NOW fixes it in tests), so the times in the output and
 * in `mailpoll history` agree. An invalid MAILPOLL_NOW falls back to the wall clock here: the
 * command that uses the store reports it.
 */
export function outputClock(): () => number {
  try {
    return storeClock();
  } catch {
    return Date.now;
  }
}

/** The ISO 8601 time of `ms`, UTC, with milliseconds: `2026-12-03T12:28:42.123Z`. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Prefixes each line of `text` (one or several, `\n`-separated) with the time `now` gives. */
export function stampLines(text: string, now: () => number): string {
  const prefix = `${isoTime(now())} `;
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}
