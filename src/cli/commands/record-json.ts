/**
 * The store's rows as `history --json` and `show --json` print them: the same field names and
 * ISO 8601 times as the run's NDJSON events (`from`, not the ledger's `sender`; no epoch
 * milliseconds), and `time` for when it happened: a record's last change, a run's start.
 */
import type { MessageRecord, RunRecord } from '../../store/types.js';
import { isoTime } from '../timestamps.js';

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : isoTime(ms));

export interface JsonLine {
  type: string;
  time: string;
  fields: Record<string, unknown>;
}

export function recordLine(record: MessageRecord): JsonLine {
  const { sender, firstSeenAt, updatedAt, handledAt, doneAt, expiredAt, extras, ...rest } = record;
  return {
    type: 'record',
    time: isoTime(updatedAt),
    fields: { ...rest, from: sender, firstSeenAt: isoTime(firstSeenAt), updatedAt: isoTime(updatedAt), handledAt: isoOrNull(handledAt), doneAt: isoOrNull(doneAt), expiredAt: isoOrNull(expiredAt), flags: extras?.flags ?? [], unflags: extras?.unflags ?? [], copyTo: extras?.copyTo ?? null },
  };
}

export function runLine(run: RunRecord): JsonLine {
  return { type: 'run', time: isoTime(run.startedAt), fields: { ...run, startedAt: isoTime(run.startedAt), endedAt: isoOrNull(run.endedAt) } };
}
