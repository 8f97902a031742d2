import type { AccountConfig } from '../../config/types.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { MessageRecord } from '../../store/types.js';
import { createOutput } from '../output.js';
import { withCliStore } from '../store.js';
import { parseRef } from './show.js';

export interface RetryCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  verbose?: boolean | undefined;
}

/**
 * `mailpoll retry REF`: release a quarantined (or failed) message for the next run, attempts
 * from 0. A message an IMAP account moved into its quarantineFolder is first moved back into
 * the polled folder, where the next run can see it; the row is released only after that.
 */
export async function retryCommand(refText: string, options: RetryCommandOptions): Promise<ExitCode> {
  const ref = parseRef(refText);
  const output = createOutput(options);
  return withCliStore(options, async (store, config) => {
    const record = store.get(ref);
    if (record === undefined) throw new UsageError(`no message with ref ${ref} in ${store.path}`);
    if (record.state !== 'quarantined' && record.state !== 'failed') {
      throw new UsageError(`ref ${ref} is ${record.state}, not quarantined or failed: nothing to retry`);
    }
    const account = config?.accounts.find((candidate) => candidate.name === record.account);
    const aside = record.state === 'quarantined' && account?.protocol === 'imap' ? account.quarantineFolder : undefined;
    if (aside !== undefined && account !== undefined) await moveBack(record, account, aside, output.err, output.debug);
    store.release(ref);
    output.err(`ref ${ref} (${record.account} #${record.uid}) released: the next run hands it to the handler again.`);
    return ExitCode.ok;
  });
}

async function moveBack(
  record: MessageRecord,
  account: AccountConfig,
  aside: string,
  err: (line: string) => void,
  debug: ((line: string) => void) | undefined,
): Promise<void> {
  if (record.messageId === null) {
    err(`ref ${record.ref} has no Message-ID to find it by in ${aside}: move it back to ${account.folder} by hand.`);
    return;
  }
  const { resolvePasswords } = await import('../../config/load.js');
  const { createMailbox } = await import('../../mailbox/open.js');
  await resolvePasswords([account]);
  const mailbox = await createMailbox(account, { debug });
  try {
    await mailbox.open();
    const moved = (await mailbox.restore?.(record.messageId, aside)) ?? 0;
    err(moved > 0 ? `moved ${record.messageId} from ${aside} back to ${account.folder}` : `${record.messageId} is not in ${aside} (moved by hand already?)`);
  } finally {
    await mailbox.close().catch(() => undefined);
  }
}
