/**
 * The account's lease inside a cycle. It fences the ledger writes that record a decision or
 * its outcome, and it is renewed right before each batch of server actions: a process that
 * was paused past its lease (SIGSTOP, a suspended machine) and finds the mailbox taken over
 * stops that account there, with nothing more done on the server or in the ledger, and says so.
 */
import type { ApplyLease } from '../decision/apply.js';
import { LeaseLostAccountError, MailpollError, asAccountError } from '../errors.js';
import { LeaseLostError } from '../store/contract.js';
import type { Lease } from '../store/types.js';

/** The lease as carrying out uses it: its fence, and the renewal that throws when it was lost. */
export function applyLease(lease: Lease | undefined): ApplyLease | undefined {
  if (lease === undefined) return undefined;
  return {
    identity: lease.identity,
    token: lease.token,
    confirm: async () => {
      if (!(await lease.renew())) throw new LeaseLostError(lease.identity);
    },
  };
}

/** Whether `error` (or the error it wraps, as `commitAtEnd` does) says the lease was lost. */
export function isLeaseLost(error: unknown): boolean {
  return error instanceof LeaseLostError || (error instanceof MailpollError && error.cause instanceof LeaseLostError);
}

/** What stopped the account, as the run reports it; a lost lease in words that say what happened and what to do. */
export function cycleError(account: string, error: unknown): MailpollError {
  return isLeaseLost(error) ? leaseLostError(account, error) : asAccountError(account, error);
}

export function leaseLostError(account: string, cause?: unknown): LeaseLostAccountError {
  return new LeaseLostAccountError(
    `${account}: another mailpoll process took this mailbox over after this one's lease expired (this process was paused, or the machine slept). ` +
      'Stopped: nothing was changed on the server for the messages in hand, and nothing more was recorded; the process that now holds the mailbox handles them. ' +
      'Nothing to do unless it happens often: then find what pauses this process.',
    { account, cause },
  );
}
