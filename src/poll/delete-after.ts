/**
 * deleteAfter (getmail's `delete_after`): mail the handler chose to keep (`keep`, `markSeen`,
 * with or without flags and a copy) is deleted from the server once that long has passed
 * since its Decision was recorded, by the ledger's dates and the store's clock (MAILPOLL_NOW in
 * tests), in whatever run comes after. Each deletion is reported as a message event with
 * `expired: true` and leaves the row `done` with `expiredAt` (`history`, `show`). Under
 * `--dry-run` nothing is deleted: the events list what would be. A deletion the server
 * refuses is reported and tried again by the next run; it counts towards nothing.
 */
import type { AccountConfig } from '../config/types.js';
import { prepareActions, type Applier } from '../decision/apply.js';
import { describeError, messageErrorCode } from '../errors.js';
import type { Reporter } from '../report/types.js';
import type { MessageKey, Store } from '../store/types.js';
import { baseEvent } from './message-event.js';

export interface DeleteAfterStage {
  account: AccountConfig;
  store: Store;
  reporter: Reporter;
  applier: Applier;
  /** The ledger's key of the opened folder, without the uid. */
  where: Omit<MessageKey, 'uid'>;
  dryRun: boolean;
}

/** Delete what was kept longer than `deleteAfter`. Returns how many were deleted (or, dry, would be). */
export async function deleteExpired(stage: DeleteAfterStage): Promise<number> {
  const { account, store, reporter, applier, where, dryRun } = stage;
  if (account.deleteAfter === undefined) return 0;
  const kept = await store.keptBefore(where, store.now() - account.deleteAfter);
  if (kept.length === 0) return 0;
  const { mailbox } = applier;
  const present = await mailbox.present(kept.map((record) => record.uid));
  // Gone already (another client deleted it): nothing to do but to say it is off the server.
  const gone = kept.filter((record) => !present.has(record.uid));
  if (gone.length > 0 && !dryRun) await store.markExpired(gone.map((record) => record.ref), applier.lease);
  const due = kept.filter((record) => present.has(record.uid));
  const event = (record: (typeof due)[number]) => ({ ...baseEvent(account, record.uid, record.ref, record), action: 'delete' as const, expired: true });
  if (dryRun) {
    for (const record of due) reporter.report({ ...event(record), status: 'dry-run' });
    return due.length;
  }
  if (due.length === 0) return 0;
  await prepareActions(applier);
  const results = await mailbox.apply(due.map((record) => ({ uid: record.uid, action: 'delete' as const })));
  const byUid = new Map(results.map((result) => [result.uid, result]));
  const expired: number[] = [];
  let deleted = 0;
  for (const record of due) {
    const outcome = byUid.get(record.uid);
    if (outcome === undefined || outcome.status === 'failed') {
      const error = `deleteAfter: delete failed: ${describeError(outcome?.error ?? 'no answer from the server')}; tried again by the next run`;
      reporter.report({ ...event(record), status: 'failed', error, code: outcome?.error === undefined ? 'E_CONNECTION' : messageErrorCode(outcome.error) });
      continue;
    }
    // Pending (IMAP until the expunge, POP3 until QUIT): `expiredAt` once the commit confirms it.
    if (outcome.status === 'done') expired.push(record.ref);
    else {
      applier.pending.set(record.uid, record.ref);
      applier.expiring.add(record.ref);
    }
    deleted += 1;
    reporter.report(event(record));
  }
  await store.markExpired(expired, applier.lease);
  return deleted;
}
