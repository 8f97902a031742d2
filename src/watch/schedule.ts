/**
 * When the watch loop starts an account's next cycle: every `interval`, or at the times of a
 * cron expression (`schedule:`, whose dialect and syntax check live in `config/cron.ts`).
 *
 * croner computes cron times. Only a watch with a cron schedule needs it, so it is loaded on
 * the first cron `nextRun`, synchronously (`createRequire`: croner ships a CommonJS build),
 * which keeps `nextRun` a plain function, and `mailpoll run` never loads croner.
 */
import { createRequire } from 'node:module';
import type { Cron } from 'croner';
import { parseCron } from '../config/cron.js';
import { formatDuration } from '../duration.js';

export type Schedule = { kind: 'interval'; everyMs: number } | { kind: 'cron'; expression: string };

/** croner's jobs by expression: paused and without a function, so they start no timer. */
const jobs = new Map<string, Cron>();

/**
 * The next start strictly after `after`. Interval: `after + everyMs`. Cron: croner's next
 * run (whole seconds), in local time unless the expression names a time zone; the first
 * cron call loads croner. Throws a RangeError for an invalid expression (config validation
 * rejects those first) or one with no run left.
 */
export function nextRun(schedule: Schedule, after: Date): Date {
  const from = after.getTime();
  if (Number.isNaN(from)) throw new RangeError('nextRun: after is an invalid Date');
  if (schedule.kind === 'interval') {
    if (!Number.isFinite(schedule.everyMs) || schedule.everyMs <= 0) throw new RangeError(`nextRun: everyMs must be a positive number, got ${schedule.everyMs}`);
    return new Date(from + schedule.everyMs);
  }
  const next = cronJob(schedule.expression).nextRun(after);
  if (next === null) throw new RangeError(`cron '${schedule.expression}' has no run after ${after.toISOString()}`);
  return next;
}

/** `every 1m` or `cron '*\/5 * * * *'`, for logs and reports. */
export function describeSchedule(schedule: Schedule): string {
  return schedule.kind === 'interval' ? `every ${formatDuration(schedule.everyMs)}` : `cron '${schedule.expression}'`;
}

/** A paused croner job (no function, so no timer) for `expression`, made once. */
function cronJob(expression: string): Cron {
  const cached = jobs.get(expression);
  if (cached !== undefined) return cached;
  const parsed = parseCron(expression);
  if ('reason' in parsed) throw new RangeError(`cron '${expression}': ${parsed.reason}`);
  const croner = createRequire(import.meta.url)('croner') as typeof import('croner');
  const job = new croner.Cron(parsed.pattern, { paused: true, legacyMode: true, ...(parsed.timezone === undefined ? {} : { timezone: parsed.timezone }) });
  jobs.set(expression, job);
  return job;
}
