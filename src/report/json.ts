/** The machine report: one JSON object per line (NDJSON), the schema documented in the README. */
import type { Reporter, ReportEvent } from './types.js';

export function createJsonReporter(write: (line: string) => void): Reporter {
  return {
    report(event: ReportEvent): void {
      write(JSON.stringify(event));
    },
  };
}
