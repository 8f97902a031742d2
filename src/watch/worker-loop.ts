/**
 * Watch mode as a worker on a shared store (PostgreSQL): the accounts are split between every
 * `mailpoll --watch` on that store. This process registers, claims its fair share, and runs one
 * account loop per lease it holds. Every heartbeat (a third of `leaseTtl`) it renews its leases
 * (an account found taken over stops at once), hands back what is above its share (after the
 * message in hand), and claims what nobody holds. A store that does not answer is retried on
 * the next beat; accounts whose last renewal is older than the TTL are stopped, since another
 * worker may hold them by now. On stop: every loop ends after the message in hand, then the
 * worker deregisters (its leases released in one go).
 *
 * The accounts may change while it runs (an accounts feed: the accounts table, a SIGHUP): on
 * each heartbeat the feed is asked first. A new account becomes claimable, a removed one is
 * handed back after the message in hand, and a changed one restarts with its new settings
 * after the message in hand, keeping its lease; the others run on untouched. A feed that
 * cannot be read leaves the last list in place, said once.
 */
import { getMaxListeners, setMaxListeners } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { AccountConfig, RefusedTableAccount } from '../config/types.js';
import { describeError } from '../errors.js';
import { loadAccountHandler } from '../handler/load.js';
import { mailboxIdentity } from '../mailbox/identity.js';
import type { WorkerEvent } from '../report/types.js';
import type { Lease } from '../store/types.js';
import { heartbeatIntervalMs, type WorkerStore } from '../store/workers.js';
import { watchAccount, type Watch } from './account-loop.js';

type Outcome = 'stopped' | 'gave-up' | 'lost';

interface Running {
  account: AccountConfig;
  stop: AbortController;
  lost: AbortController;
  done: Promise<Outcome>;
}

/** The accounts when they changed. */
export interface AccountsUpdate {
  /** Every account to work on now, in order. */
  accounts: AccountConfig[];
  /** Rows of the accounts table that cannot be used. */
  refused: RefusedTableAccount[];
  /** What changed them, for the lines that say so (`the accounts table changed`, `SIGHUP`). */
  reason: string;
}

/** Where a worker's accounts come from while it runs. */
export interface AccountsFeed {
  /** Asked on every heartbeat: the accounts when they changed since the last answer, else undefined. Throws when they cannot be read. */
  poll(): Promise<AccountsUpdate | undefined>;
}

export interface WorkerAccounts {
  /** The accounts at the start. */
  accounts: readonly AccountConfig[];
  /** Rows of the accounts table refused at the start. */
  refused?: readonly RefusedTableAccount[] | undefined;
  feed?: AccountsFeed | undefined;
}

/** One loop per mailbox: two names for one mailbox are one lease. */
function byMailbox(accounts: readonly AccountConfig[]): Map<string, AccountConfig> {
  const byIdentity = new Map<string, AccountConfig>();
  for (const account of accounts) if (!byIdentity.has(mailboxIdentity(account))) byIdentity.set(mailboxIdentity(account), account);
  return byIdentity;
}

/** Run the watch as one worker among those on `store`; resolves when `watch.stop` aborts and every loop has ended. */
export async function runWorker(watch: Watch, given: WorkerAccounts, store: WorkerStore, ttlMs: number): Promise<Outcome[]> {
  let byIdentity = byMailbox(given.accounts);
  let ids = [...byIdentity.keys()];
  const worker = await store.workerRegistry({ ttlMs }).register();
  const running = new Map<string, Running>();
  const leaving = new Set<string>();
  const outcomes: Outcome[] = [];
  let liveWorkers: number | null = null;
  let first = true;

  const say = (state: WorkerEvent['state'], account: string | null, reason: string | null = null): void =>
    watch.reporter.report({ type: 'worker', state, worker: worker.id, account, held: worker.held().size, accounts: ids.length, liveWorkers, reason });

  // Accounts whose loop gave up connecting: held, not restarted (unless their settings change).
  const gaveUp = new Set<string>();
  // Accounts stopping to start again with new settings.
  const restarting = new Set<string>();
  const start = (lease: Lease): void => {
    const account = byIdentity.get(lease.identity);
    if (account === undefined || running.has(lease.identity)) return;
    const entry: Running = { account, stop: new AbortController(), lost: new AbortController(), done: Promise.resolve('stopped') };
    entry.done = watchAccount(watch, account, { lease, stop: entry.stop.signal, lost: entry.lost.signal }).then((outcome) => {
      running.delete(lease.identity);
      outcomes.push(outcome);
      if (outcome === 'gave-up') gaveUp.add(lease.identity);
      // Found by the cycle's fenced write or renewal before the heartbeat saw it.
      if (outcome === 'lost' && !entry.lost.signal.aborted) say('lost', account.name, TAKEN_OVER);
      return outcome;
    });
    running.set(lease.identity, entry);
    // Every loop listens on the watch's stop signal: the bound set at start counted the
    // accounts then, and a feed can add more.
    if (getMaxListeners(watch.stop) < running.size + 10) setMaxListeners(running.size + 10, watch.stop);
  };

  const lose = (identity: string, reason: string): void => {
    const entry = running.get(identity);
    if (entry === undefined || entry.lost.signal.aborted) return;
    entry.lost.abort();
    say('lost', entry.account.name, reason);
  };

  // After the message in hand, then the lease goes back; not awaited by the heartbeat.
  const handBack = async (lease: Lease, reason: string): Promise<void> => {
    leaving.add(lease.identity);
    // Its name as it ran: an account no longer configured is no longer in byIdentity.
    const entry = running.get(lease.identity);
    const name = entry?.account.name ?? byIdentity.get(lease.identity)?.name ?? lease.identity;
    try {
      entry?.stop.abort();
      await entry?.done;
      await lease.release();
      say('released', name, reason);
    } catch (error) {
      say('unreachable', name, `releasing the lease: ${describeError(error)}`);
    } finally {
      leaving.delete(lease.identity);
    }
  };

  const claim = async (): Promise<number> => {
    const result = await worker.claim(ids);
    liveWorkers = result.liveWorkers;
    for (const lease of result.claimed) {
      start(lease);
      if (!first) say('took', byIdentity.get(lease.identity)?.name ?? lease.identity, `within the fair share of ${result.share}`);
    }
    return result.share;
  };

  // Leases still held whose loop was stopped for want of a heartbeat (the store was down): resumed.
  const resume = (): void => {
    for (const [identity, lease] of worker.held()) {
      if (running.has(identity) || leaving.has(identity) || gaveUp.has(identity) || restarting.has(identity) || !byIdentity.has(identity)) continue;
      start(lease);
      say('took', byIdentity.get(identity)?.name ?? identity, 'its lease renewed once the store answered again');
    }
  };

  // Accounts on their way out or restarting: awaited before the worker deregisters.
  const handing: Array<Promise<void>> = [];

  // A changed account: its loop ends after the message in hand and starts again under the same lease.
  const restart = async (identity: string, reason: string): Promise<void> => {
    restarting.add(identity);
    try {
      const entry = running.get(identity);
      entry?.stop.abort();
      await entry?.done;
    } finally {
      restarting.delete(identity);
    }
    const lease = worker.held().get(identity);
    const account = byIdentity.get(identity);
    if (lease === undefined || account === undefined || leaving.has(identity) || watch.stop.aborted) return;
    start(lease);
    say('changed', account.name, reason);
  };

  // Refused rows, each said once until its problems change.
  const refusedSaid = new Map<string, string>();
  const sayRefused = (refused: readonly RefusedTableAccount[]): void => {
    const now = new Map(refused.map((row) => [row.account, row.problems.join('; ')]));
    for (const [name, problems] of now) if (refusedSaid.get(name) !== problems) say('refused', name, problems);
    refusedSaid.clear();
    for (const [name, problems] of now) refusedSaid.set(name, problems);
  };

  const apply = async (update: AccountsUpdate): Promise<void> => {
    const next = byMailbox(update.accounts);
    for (const [identity, account] of next) {
      const before = byIdentity.get(identity);
      if (before !== undefined && isDeepStrictEqual(before, account)) continue;
      const handler = await loadAccountHandler(account).catch((error: unknown) => describeError(error));
      if (handler === undefined || typeof handler === 'string') {
        // The feed loads each handler first: this is one that stopped loading in between.
        say('refused', account.name, handler ?? 'no handler');
        next.delete(identity);
        continue;
      }
      watch.handlers.set(account.name, handler);
      if (before === undefined) continue;
      gaveUp.delete(identity);
      if (running.has(identity)) handing.push(restart(identity, `${update.reason}; restarted with them after the message in hand`));
    }
    byIdentity = next;
    ids = [...next.keys()];
    sayRefused(update.refused);
  };

  // A feed that cannot be read: said once, until it answers again.
  let feedDown = false;
  const refresh = async (): Promise<void> => {
    if (given.feed === undefined) return;
    try {
      const update = await given.feed.poll();
      feedDown = false;
      if (update !== undefined) await apply(update);
    } catch (error) {
      if (!feedDown) say('unreachable', null, `reading the accounts: ${describeError(error)}; working on with the last list read`);
      feedDown = true;
    }
  };

  let lastRenewal = watch.clock.now();
  try {
    await claim();
    first = false;
    say('started', null);
    sayRefused(given.refused ?? []);
    const every = heartbeatIntervalMs(ttlMs);
    while (!watch.stop.aborted) {
      await watch.clock.sleep(every, watch.stop);
      if (watch.stop.aborted) break;
      const beganAt = watch.clock.now();
      await refresh();
      try {
        const { lost } = await worker.heartbeat();
        lastRenewal = beganAt;
        for (const lease of lost) lose(lease.identity, TAKEN_OVER);
        const surplus = (await worker.surplus(ids)).filter((lease) => !leaving.has(lease.identity));
        for (const lease of surplus) leaving.add(lease.identity);
        resume();
        const share = await claim();
        for (const lease of surplus) {
          const reason = byIdentity.has(lease.identity) ? `above the fair share of ${share}` : 'no longer configured';
          handing.push(handBack(lease, reason));
        }
      } catch (error) {
        say('unreachable', null, `${describeError(error)}; retrying in ${Math.round(every / 1000)}s`);
        // Past the TTL another worker may hold these by now: stop them before they act.
        if (watch.clock.now() - lastRenewal > ttlMs) {
          for (const identity of running.keys()) lose(identity, 'no heartbeat reached the store within leaseTtl');
        }
      }
    }
  } finally {
    for (const entry of running.values()) entry.stop.abort();
    await Promise.all([...running.values()].map((entry) => entry.done));
    await Promise.all(handing);
    try {
      await worker.deregister();
      say('stopped', null);
    } catch (error) {
      say('unreachable', null, `deregistering: ${describeError(error)}; its leases expire after leaseTtl`);
    }
  }
  return outcomes;
}

const TAKEN_OVER = 'another worker took this mailbox over; stopped it without acting or recording';
