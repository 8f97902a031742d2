/**
 * The watch loop itself (`runWatch`) over a real Maildir and store, in virtual time: the
 * clock is injected, so the test asserts when things happen without waiting for them. The
 * CLI side (`--until` parsed and wired, signals, IMAP) is in cli-watch.test.ts.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StoreError } from '../src/errors.js';
import type { ReportEvent } from '../src/report/types.js';
import { openStore } from '../src/store/open.js';
import type { Store } from '../src/store/types.js';
import type { Clock } from '../src/watch/clock.js';
import { runWatch, type WatchOptions } from '../src/watch/watch.js';
import { accountConfig } from './helpers/account.js';

const HANDLER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'handlers', 'esm.mjs');
const T0 = Date.parse('2026-11-23T17:00:00Z');

let scratch: string;
before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'mailpoll-watch-loop-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/**
 * Virtual time starting at `start`. Once `sleepers` sleeps are pending (every account's loop
 * and the `until` wait), the earliest wakes and the clock jumps to its time; while an account
 * is in a cycle, time stands still. Sleeps due at the same time wake in the order they began.
 */
function virtualClock(start: number, sleepers: number): Clock & { advance(ms: number): void } {
  let time = start;
  const pending: { at: number; wake: () => void }[] = [];
  const wakeEarliest = () => {
    if (pending.length < sleepers) return;
    pending.sort((a, b) => a.at - b.at);
    const next = pending.shift()!;
    time = Math.max(time, next.at);
    next.wake();
  };
  return {
    now: () => time,
    /** Time passing inside a cycle (a wait the test stages). */
    advance: (ms) => {
      time += ms;
    },
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const entry = {
          at: time + ms,
          wake: () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          pending.splice(pending.indexOf(entry), 1);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        pending.push(entry);
        wakeEarliest();
      }),
  };
}

/** An empty Maildir account `local` cycling every `interval` ms, and its store, in a folder of its own. */
async function maildirWatch(interval: number): Promise<{ store: Store; options: Omit<WatchOptions, 'reporter' | 'signal'> }> {
  const dir = await mkdtemp(path.join(scratch, 'watch-'));
  const maildir = path.join(dir, 'Maildir');
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(path.join(maildir, sub), { recursive: true });
  const store = openStore(path.join(dir, 'mailpoll.db'));
  const account = accountConfig({ name: 'local', protocol: 'maildir', path: maildir, script: HANDLER, interval });
  return { store, options: { accounts: [account], store, retention: { retentionDays: 7, ledgerDays: 90 }, concurrency: 1, maxConnections: 1 } };
}

describe('runWatch in virtual time', () => {
  it('until: cycles on the interval meanwhile, and stops at the time, not before', async () => {
    const { store, options } = await maildirWatch(700);
    const clock = virtualClock(T0, 2);
    const events: { at: number; event: ReportEvent }[] = [];
    try {
      const reporter = { report: (event: ReportEvent) => events.push({ at: clock.now() - T0, event }) };
      const result = await runWatch({ ...options, reporter, until: T0 + 3000, signal: new AbortController().signal, clock });
      assert.deepEqual(result, { exitCode: 0, reason: 'until' });
    } finally {
      await store.close();
    }
    const cycles = events.filter(({ event }) => event.type === 'cycle');
    assert.deepEqual(cycles.map(({ at }) => at), [0, 700, 1400, 2100, 2800], 'a cycle every 700 ms until the end');
    const { at, event } = events.at(-1)!;
    assert.equal(at, 3000, 'stopped at the until time, not before');
    assert.deepEqual(event.type === 'watch' ? [event.state, event.reason] : event, ['stopped', 'expiration reached (2026-11-23T17:00:03.000Z)']);
  });

  it('a cycle event says when the next cycle starts (nextAt), counted from when its round began, not from its late start', async () => {
    const { store, options } = await maildirWatch(700);
    const clock = virtualClock(T0, 2);
    // The first round waits 50 ms before its cycle starts (as for a connection slot or the lease).
    let waits = 0;
    const slow: Store = Object.create(store, {
      acquireLease: { value: async (...args: Parameters<Store['acquireLease']>) => ((waits += 1) === 1 && clock.advance(50), store.acquireLease(...args)) },
    });
    const cycles: { at: number; nextAt: unknown }[] = [];
    try {
      const reporter = { report: (event: ReportEvent) => event.type === 'cycle' && cycles.push({ at: clock.now() - T0, nextAt: event.nextAt }) };
      await runWatch({ ...options, store: slow, reporter, until: T0 + 2500, signal: new AbortController().signal, clock });
    } finally {
      await store.close();
    }
    assert.deepEqual(cycles.map(({ at }) => at), [50, 700, 1400, 2100], 'the loop keeps its 700 ms rhythm from its first round');
    for (const [index, next] of cycles.slice(1).entries()) {
      assert.equal(cycles[index]!.nextAt, new Date(T0 + next.at).toISOString(), `cycle ${index + 1} named the next start`);
    }
  });

  it('an account that queued for a slot keeps the place it got: the accounts do not all come back at once', async () => {
    const { store, options } = await maildirWatch(700);
    const second = await maildirWatch(700);
    const other = accountConfig({ ...second.options.accounts[0]!, name: 'other' });
    await second.store.close();
    const clock = virtualClock(T0, 3);
    // `local`'s first cycle takes 300 ms while it holds the only slot (concurrency: 1).
    let slowCycles = 0;
    const slow: Store = Object.create(store, {
      recordAccountRun: {
        value: async (...args: Parameters<Store['recordAccountRun']>) => {
          if (args[1].account === 'local' && (slowCycles += 1) === 1) clock.advance(300);
          return store.recordAccountRun(...args);
        },
      },
    });
    const cycles: { account: string; at: number; nextAt: unknown }[] = [];
    try {
      const reporter = {
        report: (event: ReportEvent) => event.type === 'cycle' && cycles.push({ account: event.account, at: clock.now() - T0, nextAt: event.nextAt }),
      };
      await runWatch({ ...options, accounts: [...options.accounts, other], store: slow, reporter, until: T0 + 2500, signal: new AbortController().signal, clock });
    } finally {
      await store.close();
    }
    const of = (account: string) => cycles.filter((cycle) => cycle.account === account);
    assert.deepEqual(of('local').map(({ at }) => at), [300, 700, 1400, 2100], 'local keeps its rhythm from its first round');
    // `other` waited 300 ms for the slot in its first round: its rhythm starts from when it got it.
    assert.deepEqual(of('other').map(({ at }) => at), [300, 1000, 1700, 2400], 'other keeps the place it got, not the instant both began');
    for (const account of ['local', 'other']) {
      const mine = of(account);
      for (const [index, next] of mine.slice(1).entries()) {
        assert.equal(mine[index]!.nextAt, new Date(T0 + next.at).toISOString(), `${account}: cycle ${index + 1} named the next start`);
      }
    }
  });

  it("leaves no listener on the caller's signal, however often it is reloaded", async () => {
    const { store, options } = await maildirWatch(700);
    const clock = virtualClock(T0, 2);
    const signal = new AbortController().signal;
    try {
      // As the CLI does on SIGHUP: runWatch again with the same SIGINT/SIGTERM signal.
      for (let reload = 0; reload < 12; reload += 1) {
        const result = await runWatch({ ...options, reporter: { report: () => undefined }, until: clock.now() + 1000, signal, clock });
        assert.equal(result.reason, 'until');
      }
    } finally {
      await store.close();
    }
    assert.equal(getEventListeners(signal, 'abort').length, 0);
  });

  it('a store that cannot take a lease ends the watch with its StoreError (exit 2), as a one-shot run does', async () => {
    const { store, options } = await maildirWatch(700);
    const clock = virtualClock(T0, 1);
    // The store as another process holding it locked leaves it: every lease fails.
    const locked: Store = Object.create(store, {
      acquireLease: { value: async () => { throw new StoreError(`store ${store.path}: the database is locked`); } },
    });
    try {
      const watching = runWatch({ ...options, store: locked, reporter: { report: () => undefined }, signal: new AbortController().signal, clock });
      await assert.rejects(watching, (error: unknown) => error instanceof StoreError && error.exitCode === 2);
    } finally {
      await store.close();
    }
  });
});
