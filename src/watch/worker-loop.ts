/**
 * Watch mode as a worker on a shared store (PostgreSQL): the accounts are split between every
 * `mailpoll --watch` on that store. This process registers, claims its fair share, and runs one
 * account loop per lease it holds. Every heartbeat (a third of `leaseTtl`) it renews its leases
 * (an account found taken over stops at once), hands back what is above its share (after the
 * message in hand), and claims what nobody holds. A store that does not answer is retried on
 * the next beat; accounts whose last renewal is older than the TTL are stopped, since another
 * worker may hold them by now. On stop: every loop ends after the message in hand, then the
 * worker deregisters (its leases released in one go).
 */
import type { AccountConfig } from '../config/types.js';
import { describeError } from '../errors.js';
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

/** Run the watch as one worker among those on `store`; resolves when `watch.stop` aborts and every loop has ended. */
export async function runWorker(watch: Watch, accounts: readonly AccountConfig[], store: WorkerStore, ttlMs: number): Promise<Outcome[]> {
  // One loop per mailbox: two names for one mailbox are one lease.
  const byIdentity = new Map<string, AccountConfig>();
  for (const account of accounts) if (!byIdentity.has(mailboxIdentity(account))) byIdentity.set(mailboxIdentity(account), account);
  const ids = [...byIdentity.keys()];
  const worker = await store.workerRegistry({ ttlMs }).register();
  const running = new Map<string, Running>();
  const leaving = new Set<string>();
  const outcomes: Outcome[] = [];
  let liveWorkers: number | null = null;
  let first = true;

  const say = (state: WorkerEvent['state'], account: string | null, reason: string | null = null): void =>
    watch.reporter.report({ type: 'worker', state, worker: worker.id, account, held: worker.held().size, accounts: ids.length, liveWorkers, reason });

  // Accounts whose loop gave up connecting: held, not restarted.
  const gaveUp = new Set<string>();
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
    try {
      const entry = running.get(lease.identity);
      entry?.stop.abort();
      await entry?.done;
      await lease.release();
      say('released', byIdentity.get(lease.identity)?.name ?? lease.identity, reason);
    } catch (error) {
      say('unreachable', byIdentity.get(lease.identity)?.name ?? lease.identity, `releasing the lease: ${describeError(error)}`);
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
      if (running.has(identity) || leaving.has(identity) || gaveUp.has(identity)) continue;
      start(lease);
      say('took', byIdentity.get(identity)?.name ?? identity, 'its lease renewed once the store answered again');
    }
  };

  let lastRenewal = watch.clock.now();
  const handing: Array<Promise<void>> = [];
  try {
    await claim();
    first = false;
    say('started', null);
    const every = heartbeatIntervalMs(ttlMs);
    while (!watch.stop.aborted) {
      await watch.clock.sleep(every, watch.stop);
      if (watch.stop.aborted) break;
      const beganAt = watch.clock.now();
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
