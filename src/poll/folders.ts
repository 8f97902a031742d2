/**
 * `folders:`: the account's folders read one after another over one connection, each its
 * own mailbox for the ledger (its identity names the folder) and each by the ordinary cycle.
 * A folder that is missing (deleted since the last run, or a pattern that matches nothing)
 * stops only itself: the others are still read, and the account's result names it (exit 3).
 * One lease covers the account (see `mailboxIdentity`): once another process took it over,
 * no further folder is read.
 */
import type { AccountConfig } from '../config/types.js';
import { LeaseLostAccountError, MailboxError } from '../errors.js';
import { failedCycle } from './account.js';
import { pollAccount, type CycleDeps, type CycleOptions, type CycleResult } from './cycle.js';

/** One cycle of the account: of its folder, or of each of its `folders`. */
export async function pollFolders(account: AccountConfig, deps: CycleDeps, options: CycleOptions): Promise<CycleResult> {
  if (account.folders === undefined) return pollAccount(account, deps, options);
  const { mailbox } = deps;
  const results: CycleResult[] = [];
  const missing: string[] = [];
  let listing;
  try {
    await mailbox.open();
    if (mailbox.listFolders === undefined || mailbox.selectFolder === undefined) throw new MailboxError(`${account.name}: folders: needs IMAP`, { account: account.name });
    const exclude = [account.moveTo, account.quarantineFolder].filter((folder): folder is string => folder !== undefined);
    listing = await mailbox.listFolders(account.folders, exclude);
  } catch (error) {
    await mailbox.close().catch(() => undefined);
    return failedCycle(account, error);
  }
  for (const pattern of listing.unmatched) missing.push(`"${pattern}" matches no folder`);
  let connected = true;
  for (const folder of listing.found) {
    if (options.signal?.aborted) break;
    const one: AccountConfig = { ...account, folder, folders: undefined };
    try {
      if (!connected) await mailbox.open();
      connected = true;
      const opened = await mailbox.selectFolder(folder);
      const result = await pollAccount(one, deps, { ...options, opened, keepOpen: true });
      connected = result.opened !== undefined;
      results.push(result);
      if (result.stoppedAfterFirst || result.error instanceof LeaseLostAccountError) break;
    } catch (error) {
      // The folder could not be selected (gone since the listing, no rights): only it is skipped.
      results.push(failedCycle(one, error));
    }
  }
  await mailbox.close().catch(() => undefined);
  return combine(account, results, missing);
}

/** The account's result: the folders' counts added up, and every folder's failure named. */
function combine(account: AccountConfig, results: readonly CycleResult[], missing: readonly string[]): CycleResult {
  const failures = [...missing.map((line) => `${account.name}: folder ${line}`), ...results.flatMap((result) => (result.error === undefined ? [] : [result.error.message]))];
  const add = (key: 'fetched' | 'processed' | 'failed' | 'transitions' | 'deferred') => results.reduce((total, result) => total + result[key], 0);
  const next = results.map((result) => result.nextAttemptAt).filter((at): at is number => at !== undefined);
  // The mailbox taken over says so as it is: what happened and what to do.
  const lost = results.find((result) => result.error instanceof LeaseLostAccountError)?.error;
  return {
    account: account.name,
    status: failures.length > 0 ? 'error' : 'ok',
    fetched: add('fetched'),
    processed: add('processed'),
    failed: add('failed'),
    transitions: add('transitions'),
    deferred: add('deferred'),
    nextAttemptAt: next.length > 0 ? Math.min(...next) : undefined,
    error: lost ?? (failures.length > 0 ? new MailboxError(failures.join('; '), { account: account.name }) : undefined),
    stoppedAfterFirst: results.some((result) => result.stoppedAfterFirst),
    connected: true,
    opened: undefined,
  };
}
