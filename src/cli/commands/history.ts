import { parseDuration } from '../../duration.js';
import { describeExtras } from '../../domain.js';
import { ExitCode, UsageError } from '../../errors.js';
import { describeIdentity } from '../../mailbox/identity.js';
import type { MessageRecord, MessageState, RunRecord } from '../../store/types.js';
import { createOutput } from '../output.js';
import { recordLine, runLine } from './record-json.js';
import { withCliStore } from '../store.js';
import { storeClock } from '../timestamps.js';

export interface HistoryCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  account?: string | undefined;
  since?: string | undefined;
  status?: string | undefined;
  limit?: number | undefined;
  json?: boolean | undefined;
}

const STATES: readonly MessageState[] = ['received', 'handled', 'done', 'failed', 'quarantined', 'skipped'];

/** `mailpoll history`: runs and per-message outcomes, newest first. */
export async function historyCommand(options: HistoryCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const state = options.status as MessageState | undefined;
  if (state !== undefined && !STATES.includes(state)) {
    throw new UsageError(`--status: expected one of ${STATES.join(', ')}, got "${options.status}"`);
  }
  let since: number | undefined;
  if (options.since !== undefined) {
    const ms = parseDuration(options.since);
    if (ms === undefined) throw new UsageError(`--since: expected a duration like 1h, 1d or 30m, got "${options.since}"`);
    since = storeClock()() - ms;
  }
  return withCliStore(options, async (store) => {
    const { runs, messages } = await store.history({ account: options.account, since, state, limit: options.limit });
    if (options.json) {
      for (const { type, time, fields } of [...runs.map(runLine), ...messages.map(recordLine)]) output.json(type, fields, time);
      return ExitCode.ok;
    }
    // A status filter asks about messages; runs would only be noise then.
    if (state === undefined) {
      output.print(runs.length === 0 ? 'runs: none' : 'runs:');
      for (const run of runs) for (const line of formatRun(run)) output.print(line);
    }
    output.print(messages.length === 0 ? 'messages: none' : 'messages:');
    for (const message of messages) output.print(formatRecord(message));
    return ExitCode.ok;
  });
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function formatRun(run: RunRecord): string[] {
  const took = run.endedAt === null ? 'unfinished' : `${((run.endedAt - run.startedAt) / 1000).toFixed(1)}s`;
  const exit = run.exitCode === null ? 'no exit code (interrupted?)' : `exit ${run.exitCode}`;
  const lines = [`  ${time(run.startedAt)}  run ${run.id}  ${exit}  ${took}${run.dryRun ? '  dry-run' : ''}  ${run.command}`];
  for (const account of run.accounts) {
    const counts = `${account.fetched} fetched, ${account.processed} processed, ${account.failed} failed`;
    lines.push(`      ${account.account}: ${account.status}${account.error ? ` (${account.error})` : ''}: ${counts}`);
  }
  return lines;
}

export function formatRecord(record: MessageRecord): string {
  const decision = record.action === null ? '' : ` ${[record.action === 'move' ? `move:${record.moveTo ?? ''}` : record.action, ...describeExtras(record.extras ?? undefined)].join(' ')}${record.transition ? ' +transition' : ''}${record.expiredAt === null ? '' : ', deleted by deleteAfter'}`;
  const error = record.lastError === null || record.state === 'done' ? '' : ` (${record.lastError})`;
  const attempts = record.attempts > 0 ? ` attempts ${record.attempts}` : '';
  return `  ref:${record.ref}  ${time(record.updatedAt)}  ${record.account} (${describeIdentity(record.identity)}) #${record.uid}  ${record.state}${decision}${attempts}  ${record.sender ?? '(no sender)'}  "${record.subject ?? ''}"${error}`;
}
