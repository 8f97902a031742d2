import { ExitCode, UsageError } from '../../errors.js';
import { describeExtras } from '../../domain.js';
import { describeIdentity } from '../../mailbox/identity.js';
import { createOutput } from '../output.js';
import { recordLine } from './record-json.js';
import { withCliStore } from '../store.js';

export interface ShowCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  raw?: boolean | undefined;
  json?: boolean | undefined;
}

/** `mailpoll show REF`: one message's record; `--raw` writes its archived RFC 822 source to stdout. */
export async function showCommand(refText: string, options: ShowCommandOptions): Promise<ExitCode> {
  const ref = parseRef(refText);
  const output = createOutput(options);
  return withCliStore(options, async (store) => {
    const record = await store.get(ref);
    if (record === undefined) throw new UsageError(`no message with ref ${ref} in ${store.path}`);
    if (options.raw) {
      // Raw mail can carry escape sequences: its exact bytes go to a file or a pipe, never a terminal.
      if (process.stdout.isTTY) {
        throw new UsageError(`show ${ref} --raw: stdout is a terminal, and raw mail can carry control sequences that drive it. Redirect it: mailpoll show ${ref} --raw > message.eml (or | less)`);
      }
      const raw = await store.raw(ref);
      if (raw === undefined) {
        throw new UsageError(`ref ${ref}: no raw copy in the archive (kept for retentionDays after fetching; this one was purged or never archived)`);
      }
      // The exact bytes: no redaction, no newline added.
      process.stdout.write(raw);
      return ExitCode.ok;
    }
    if (options.json) {
      const { type, time, fields } = recordLine(record);
      output.json(type, fields, time);
      return ExitCode.ok;
    }
    const rows: Array<[string, unknown]> = [
      ['ref', record.ref],
      ['account', `${record.account} (${record.protocol})`],
      ['server', describeIdentity(record.identity)],
      ['mailbox', record.mailbox],
      ['uid', record.uidValidity === null ? record.uid : `${record.uid} (uidvalidity ${record.uidValidity})`],
      ['message-id', record.messageId],
      ['from', record.sender],
      ['subject', record.subject],
      ['date', record.date],
      ['size', record.size],
      ['state', record.state],
      ['decision', record.action === null ? null : `${record.action}${record.moveTo ? ` to ${record.moveTo}` : ''}${describeExtras(record.extras ?? undefined).map((word) => `, ${word}`).join('')}${record.transition ? ', transition' : ''}`],
      ['attempts', record.attempts],
      ['last error', record.lastError],
      ['first seen', new Date(record.firstSeenAt).toISOString()],
      ['handled', record.handledAt === null ? null : new Date(record.handledAt).toISOString()],
      ['done', record.doneAt === null ? null : new Date(record.doneAt).toISOString()],
      ['deleted by deleteAfter', record.expiredAt === null ? null : new Date(record.expiredAt).toISOString()],
      ['on server', record.onServer ? 'yes (as far as mailpoll knows)' : 'no'],
      ['raw copy', record.hasRaw ? `yes: mailpoll show ${record.ref} --raw > message.eml` : 'no'],
    ];
    for (const [name, value] of rows) output.print(`${`${name}:`.padEnd(12)} ${value === null || value === undefined ? '-' : String(value)}`);
    // The handler's stack, one escaped line each (`out` would show its line breaks as \n).
    if (record.lastErrorDetail !== null) {
      output.print('error detail:');
      for (const line of record.lastErrorDetail.split('\n')) output.print(`  ${line}`);
    }
    return ExitCode.ok;
  });
}

export function parseRef(text: string): number {
  const ref = Number(text);
  if (!Number.isSafeInteger(ref) || ref < 1) throw new UsageError(`expected a message ref (a positive number from the report or history), got "${text}"`);
  return ref;
}
