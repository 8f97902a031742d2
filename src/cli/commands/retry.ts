import { ExitCode, UsageError } from '../../errors.js';
import { createOutput } from '../output.js';
import { loadConfigIfAny, openCliStore } from '../store.js';
import { parseRef } from './show.js';

export interface RetryCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
}

/** `mailpoll retry REF`: release a quarantined (or failed) message for the next run, attempts from 0. */
export async function retryCommand(refText: string, options: RetryCommandOptions): Promise<ExitCode> {
  const ref = parseRef(refText);
  const output = createOutput({});
  const config = await loadConfigIfAny(options.config);
  const store = await openCliStore({ store: options.store, config });
  try {
    const record = store.get(ref);
    if (record === undefined) throw new UsageError(`no message with ref ${ref} in ${store.path}`);
    if (record.state !== 'quarantined' && record.state !== 'failed') {
      throw new UsageError(`ref ${ref} is ${record.state}, not quarantined or failed: nothing to retry`);
    }
    store.release(ref);
    // A quarantineFolder took it out of the polled folder: the next run can only see it there.
    const aside = config?.accounts.find((account) => account.name === record.account)?.quarantineFolder;
    const where = record.state === 'quarantined' && aside !== undefined ? ` It was moved to ${aside}: move it back to ${record.mailbox} for the next run to see it.` : '';
    output.err(`ref ${ref} (${record.account} #${record.uid}) released: the next run hands it to the handler again.${where}`);
    return ExitCode.ok;
  } finally {
    store.close();
  }
}
