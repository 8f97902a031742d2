/**
 * A message's handler failure in the ledger: a temporary one (`TemporaryHandlerError`) kept
 * for `show` and `history` without counting, any other one counted towards `maxAttempts`.
 * The stack of what a handler threw goes with it, and to the --verbose log.
 */
import type { AccountConfig } from '../config/types.js';
import { TemporaryHandlerError } from '../errors.js';
import { describeFailureDetail } from '../handler/failure-detail.js';
import type { Logger } from '../logger.js';
import type { Lease, Store } from '../store/types.js';

export interface FailedMessage {
  /** Null under --dry-run: nothing is recorded. */
  ref: number | null;
  uid: string;
  account: Pick<AccountConfig, 'name' | 'maxAttempts'>;
}

/**
 * Record `thrown` (described as `error`) for the message. `temporary`: not counted, the row
 * stays `received`, so the next run hands the message over again without waiting for
 * `retryDelay` (as an MDA's temporary failure is retried on the next poll).
 */
export async function recordFailure(
  deps: { store: Store; lease?: Lease | undefined; logger?: Logger | undefined },
  message: FailedMessage,
  thrown: unknown,
  error: string,
): Promise<'failed' | 'quarantined' | 'temporary' | 'unrecorded'> {
  const { ref, uid, account } = message;
  const detail = describeFailureDetail(thrown);
  if (detail !== undefined) deps.logger?.debug?.(`${account.name} #${uid}${ref === null ? '' : ` ref:${ref}`}: ${detail}`);
  if (ref === null) return 'unrecorded';
  if (thrown instanceof TemporaryHandlerError) {
    await deps.store.recordTemporaryFailure(ref, error, detail, deps.lease);
    return 'temporary';
  }
  // Fenced by the account's lease: a process that lost the mailbox records nothing (LeaseLostError).
  return deps.store.recordFailed(ref, error, account.maxAttempts, detail, deps.lease);
}
