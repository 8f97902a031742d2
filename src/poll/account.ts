/**
 * What every way of working on one account shares (a single run, the watch loop): the lease
 * that keeps concurrent mailpoll processes apart, and the result of an account that could
 * not be worked on.
 */
import type { AccountConfig } from '../config/types.js';
import type { Protocol } from '../domain.js';
import { asAccountError, describeError, MailpollError } from '../errors.js';
import { mailboxIdentity } from '../mailbox/identity.js';
import type { Lease, Store } from '../store/types.js';
import type { CycleResult } from './cycle.js';
import { leaseLostError } from './fence.js';

/** A lease outlives a crashed holder by at most this long (a dead local pid is taken over at once). */
const LEASE_TTL_MS = 60_000;
const LEASE_RENEW_MS = 20_000;

/**
 * Work on an account only while holding its lease; renewed on a timer, released at the end.
 * Another live process holding it: the account is skipped as busy (exit 0), not an error.
 * The work gets the lease (the cycle fences its ledger writes with it and renews it before
 * server actions) and a signal that aborts if a renewal finds it lost (it expired, e.g. while
 * the machine slept, and another process took it): the work stops after the message in hand,
 * and the account's result says the mailbox was taken over.
 */
export async function withLease(
  store: Store,
  account: AccountConfig,
  work: (leaseLost: AbortSignal, lease: Lease) => Promise<CycleResult>,
): Promise<CycleResult> {
  // By the mailbox, not the name: one mailbox under two names is one lease, two under one name two.
  const taken = await store.acquireLease(mailboxIdentity(account), { ttlMs: LEASE_TTL_MS });
  if (!taken.ok) {
    const since = new Date(taken.holder.since).toTimeString().slice(0, 8);
    const result = failedCycle(account, new MailpollError(`${account.name}: busy (pid ${taken.holder.pid} since ${since})`));
    return { ...result, status: 'busy' };
  }
  const { lease } = taken;
  const lost = new AbortController();
  // One renewal at a time: a slow store (a remote database) never has them pile up.
  let renewing: Promise<void> | undefined;
  const timer = setInterval(() => {
    renewing ??= lease
      .renew()
      // A store that fails to answer is not a lost lease: the next renewal, or the fenced writes, tell.
      .then((held) => void (held || lost.abort()), () => undefined)
      .finally(() => (renewing = undefined));
  }, LEASE_RENEW_MS);
  timer.unref();
  try {
    const result = await work(lost.signal, lease);
    return lost.signal.aborted && result.error === undefined ? { ...result, status: 'error', error: leaseLostError(account.name) } : result;
  } finally {
    clearInterval(timer);
    await renewing;
    await lease.release();
  }
}

/**
 * Work on an account under a lease a worker holds and renews on its heartbeat: neither acquired
 * nor released here. `held.lost` aborting (taken over) stops the work after the message in hand,
 * and the result says the mailbox was taken over, as with `withLease`.
 */
export async function withHeldLease(
  account: AccountConfig,
  held: { lease: Lease; lost: AbortSignal },
  work: (leaseLost: AbortSignal, lease: Lease) => Promise<CycleResult>,
): Promise<CycleResult> {
  const result = await work(held.lost, held.lease);
  return held.lost.aborted && result.error === undefined ? { ...result, status: 'error', error: leaseLostError(account.name) } : result;
}

function counts(result: CycleResult): Pick<CycleResult, 'fetched' | 'processed' | 'failed' | 'transitions'> {
  return { fetched: result.fetched, processed: result.processed, failed: result.failed, transitions: result.transitions };
}

/**
 * Record one account's outcome in the run history; returns the fields its `account` or
 * `cycle` event shows. A busy account has a reason but no error code: it is not a failure.
 */
export async function recordOutcome(store: Store, runId: number, account: AccountConfig, result: CycleResult, durationMs: number) {
  const error = result.error?.message ?? null;
  await store.recordAccountRun(runId, { ...counts(result), account: account.name, status: result.status, error, durationMs });
  // Several folders are several mailboxes in the ledger: their rows carry the account's name.
  const quarantined =
    account.folders === undefined ? await store.quarantinedCount(mailboxIdentity(account)) : (await store.quarantinedRefs({ account: account.name })).length;
  return {
    account: account.name,
    protocol: account.protocol,
    status: result.status,
    ...counts(result),
    deferred: result.deferred,
    nextAttemptAt: result.nextAttemptAt === undefined ? null : new Date(result.nextAttemptAt).toISOString(),
    quarantined,
    retry: retryCommand(quarantined === 0 ? [] : [account.name]),
    error,
    code: result.status === 'busy' ? null : (result.error?.code ?? null),
    durationMs,
  };
}

/** An account that cannot be worked on as configured (a refused row of the accounts table). */
export interface RefusedAccount {
  account: string;
  /** Its protocol; null when it is not known. */
  protocol: Protocol | null;
  error: MailpollError;
}

/** Record a refused account's (failed) outcome in the run history; returns the fields of its `account` event. */
export async function recordRefused(store: Store, runId: number, refused: RefusedAccount, result: CycleResult) {
  const error = result.error?.message ?? null;
  await store.recordAccountRun(runId, { ...counts(result), account: refused.account, status: 'error', error, durationMs: 0 });
  const nothing = { deferred: 0, nextAttemptAt: null, quarantined: 0, retry: null, durationMs: 0 };
  return { account: refused.account, protocol: refused.protocol, status: 'error' as const, ...counts(result), ...nothing, error, code: result.error?.code ?? null };
}

/** The command that releases the quarantined messages of these accounts; null for none. */
export function retryCommand(accounts: readonly string[]): string | null {
  if (accounts.length === 0) return null;
  return `mailpoll retry ${accounts.map((name) => `--account ${name}`).join(' ')}`;
}

export function failedCycle(account: Pick<AccountConfig, 'name'>, error: unknown): CycleResult {
  const cause = asAccountError(account.name, error);
  return {
    account: account.name,
    status: 'error',
    fetched: 0,
    processed: 0,
    failed: 0,
    transitions: 0,
    deferred: 0,
    nextAttemptAt: undefined,
    error: cause,
    stoppedAfterFirst: false,
    connected: false,
    opened: undefined,
  };
}

