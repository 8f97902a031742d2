/**
 * The machine report: one JSON object per line (NDJSON), the schema documented in the README.
 * Every line says when it was written: `time`, ISO 8601 in UTC with milliseconds, after `type`.
 */
import type { Reporter, ReportEvent } from './types.js';

export function createJsonReporter(write: (line: string) => void, now: () => number = Date.now): Reporter {
  return {
    report(event: ReportEvent): void {
      const { type, ...fields } = event;
      write(JSON.stringify({ type, time: new Date(now()).toISOString(), ...fields }));
    },
  };
}
