/** The `startFrom:` value (a first run's baseline, poll/baseline.ts): `now`, or a time. */
import * as z from 'zod';

/** `now`, or an ISO date or date-time: milliseconds since the epoch. */
export const startFrom = () =>
  z.string().transform((value, ctx): 'now' | number => {
    const trimmed = value.trim();
    if (trimmed === 'now') return 'now';
    const time = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(trimmed) ? Date.parse(trimmed) : NaN;
    if (Number.isNaN(time)) {
      ctx.addIssue({ code: 'custom', message: 'expected now, or an ISO date like 2026-01-31 (or 2026-01-31T08:00:00Z)', input: value });
      return z.NEVER;
    }
    return time;
  });
