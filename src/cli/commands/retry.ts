import type { AccountConfig } from '../../config/types.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { accountOfIdentity, mailboxIdentity } from '../../mailbox/identity.js';
import type { MessageRecord, QuarantineFilter, Store } from '../../store/types.js';
import { createOutput } from '../output.js';
import { withCliStore } from '../store.js';
import { parseRef } from './show.js';

export interface RetryCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  /** Every quarantined message of these accounts. */
  account?: string[] | undefined;
  /** Every quarantined message in the store. */
  all?: boolean | undefined;
  verbose?: boolean | undefined;
}

/**
 * `mailpoll retry REF... | --account NAME | --all`: release quarantined (or failed) messages
 * for the next run, attempts from 0. A message an IMAP account moved into its quarantineFolder
 * is first moved back into the polled folder, where the next run can see it; the row is
 * released only after that. Refs are all checked before anything is released.
 */
export async function retryCommand(refTexts: readonly string[], options: RetryCommandOptions): Promise<ExitCode> {
  const refs = refTexts.map(parseRef);
  if (refs.length === 0 && options.account === undefined && !options.all) {
    throw new UsageError('name what to release: one or more refs (mailpoll retry 42 43), --account NAME, or --all');
  }
  const output = createOutput(options);
  return withCliStore(options, async (store, config) => {
    const records = await selectRecords(store, refs, options, config?.accounts ?? []);
    if (records.length === 0) {
      output.err(`no quarantined messages${options.all ? '' : ` for ${options.account?.join(', ')}`} in ${store.path}: nothing to retry`);
      return ExitCode.ok;
    }
    // One connection per account whose quarantined messages were moved aside.
    for (const group of groupByMailbox(records)) {
      const account = configuredAccount(group[0]!, config?.accounts ?? []);
      const aside = account?.protocol === 'imap' ? account.quarantineFolder : undefined;
      const moved = group.filter((record) => record.state === 'quarantined');
      if (aside !== undefined && account !== undefined && moved.length > 0) await moveBack(moved, account, aside, output.err, output.logger);
      for (const record of group) {
        await store.release(record.ref);
        output.err(`ref ${record.ref} (${record.account} #${record.uid}) released: the next run hands it to the handler again.`);
      }
    }
    if (records.length > 1) output.err(`${records.length} messages released.`);
    return ExitCode.ok;
  });
}

/** The records to release: the refs named (each must be quarantined or failed), plus the quarantined of the accounts named. */
async function selectRecords(store: Store, refs: readonly number[], options: RetryCommandOptions, configured: readonly AccountConfig[]): Promise<MessageRecord[]> {
  const problems: string[] = [];
  const selected = new Map<number, MessageRecord>();
  for (const ref of refs) {
    const record = await store.get(ref);
    if (record === undefined) problems.push(`no message with ref ${ref} in ${store.path}`);
    else if (record.state !== 'quarantined' && record.state !== 'failed' && record.state !== 'skipped') {
      problems.push(`ref ${ref} is ${record.state}, not quarantined, failed or skipped: nothing to retry`);
    } else selected.set(ref, record);
  }
  if (problems.length > 0) throw new UsageError(problems.length === 1 ? problems[0]! : `nothing released: ${problems.join('; ')}`);
  // A name of the config means its mailbox (renamed accounts included); else the name its rows carry.
  const filters: QuarantineFilter[] = options.all
    ? [{}]
    : (options.account ?? []).map((name) => {
        const account = configured.find((candidate) => candidate.name === name);
        return account === undefined || account.folders !== undefined ? { account: name } : { identity: mailboxIdentity(account) };
      });
  for (const filter of filters) {
    for (const ref of await store.quarantinedRefs(filter)) {
      const record = await store.get(ref);
      if (record !== undefined) selected.set(ref, record);
    }
  }
  return [...selected.values()].sort((a, b) => a.ref - b.ref);
}

function groupByMailbox(records: readonly MessageRecord[]): MessageRecord[][] {
  const groups = new Map<string, MessageRecord[]>();
  for (const record of records) groups.set(record.identity, [...(groups.get(record.identity) ?? []), record]);
  return [...groups.values()];
}

/** The config's account for a record: the one of its mailbox, else (an older store's rows) the one of its name. */
function configuredAccount(record: MessageRecord, configured: readonly AccountConfig[]): AccountConfig | undefined {
  for (const account of configured) {
    const own = accountOfIdentity(account, record.identity);
    if (own !== undefined) return own;
  }
  return configured.find((account) => account.name === record.account);
}

async function moveBack(
  records: readonly MessageRecord[],
  account: AccountConfig,
  aside: string,
  err: (line: string) => void,
  logger: Logger,
): Promise<void> {
  const findable = records.filter((record) => {
    if (record.messageId !== null) return true;
    err(`ref ${record.ref} has no Message-ID to find it by in ${aside}: move it back to ${account.folder} by hand.`);
    return false;
  });
  if (findable.length === 0) return;
  const { resolvePasswords } = await import('../../config/load.js');
  const { createMailbox } = await import('../../mailbox/open.js');
  await resolvePasswords([account]);
  const mailbox = await createMailbox(account, { logger });
  try {
    await mailbox.open();
    for (const record of findable) {
      const moved = (await mailbox.restore?.(record.messageId!, aside)) ?? 0;
      err(moved > 0 ? `moved ${record.messageId} from ${aside} back to ${account.folder}` : `${record.messageId} is not in ${aside} (moved by hand already?)`);
    }
  } finally {
    await mailbox.close().catch(() => undefined);
  }
}
