/**
 * The pure parts of a watch's health: `WatchHealth` fed events on a hand-moved clock, the
 * STATUS line, `listen` addresses and the watchdog interval. No timers, no sockets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseListenAddress } from '../src/config/listen.js';
import { validateConfig } from '../src/config/load.js';
import type { AccountConfig } from '../src/config/types.js';
import type { ReportEvent } from '../src/report/types.js';
import { WatchHealth } from '../src/watch/health.js';
import { describeStatus } from '../src/watch/monitor.js';
import { watchdogInterval } from '../src/watch/sd-notify.js';

const MINUTE = 60_000;
const START = Date.parse('2026-12-03T10:00:00Z');

function accounts(...entries: Array<Record<string, unknown>>): AccountConfig[] {
  const { config, problems } = validateConfig(
    { accounts: entries.map((entry) => ({ protocol: 'maildir', path: 'm', ...entry })) },
    { file: undefined, dir: '/', env: {}, displayName: 'm' },
  );
  assert.deepEqual(problems, []);
  return config!.accounts;
}

function cycle(account: string, status: 'ok' | 'error' | 'busy', error: string | null = null): ReportEvent {
  return {
    type: 'cycle', account, protocol: 'maildir', status, fetched: 0, processed: 0, failed: 0, transitions: 0, deferred: 0,
    nextAttemptAt: null, quarantined: 0, retry: null, error, code: null, durationMs: 5, idle: false, fallback: null, nextAt: null,
  };
}

function backoff(account: string, attempt: number, giveUp: boolean): ReportEvent {
  return { type: 'backoff', account, attempt, waitMs: giveUp ? 0 : 1000, nextAt: giveUp ? null : '2026-12-03T10:00:01.000Z', giveUp, error: 'cannot connect', code: 'E_CONNECTION' };
}

function message(account: string, status: 'ok' | 'failed'): ReportEvent {
  return {
    type: 'message', ref: 1, account, protocol: 'maildir', folder: 'INBOX', uid: '1', messageId: null, from: null, subject: null, date: null,
    size: 10, action: 'keep', moveTo: null, transition: false, flags: [], unflags: [], copyTo: null, status, error: null, code: null, recovered: false, expired: false, durationMs: 1,
  };
}

/** A health on a clock the test moves. */
function setup(list: AccountConfig[], interval?: number) {
  const clock = { now: START };
  const health = new WatchHealth(() => clock.now);
  health.watch(list, interval);
  const states = () => health.report().accounts.map((account) => `${account.account}:${account.state}`);
  return { clock, health, states };
}

describe('WatchHealth', () => {
  it('healthy for three intervals after the last progress, stale after', () => {
    const { clock, health, states } = setup(accounts({ name: 'a', interval: '1m' }));
    clock.now = START + 3 * MINUTE;
    assert.deepEqual(states(), ['a:ok']);
    clock.now += 1;
    assert.deepEqual(states(), ['a:stale']);
    assert.equal(health.report().healthy, false);
    assert.match(health.report().accounts[0]!.reason ?? '', /^no successful cycle since the watch started/);

    health.observe(cycle('a', 'ok'));
    assert.deepEqual(states(), ['a:ok']);
    assert.equal(health.report().accounts[0]!.lastSuccessAt, new Date(clock.now).toISOString());
    // A long cycle: each handled message counts as progress, a failed one does not.
    clock.now += 3 * MINUTE;
    health.observe(message('a', 'ok'));
    clock.now += 3 * MINUTE;
    assert.deepEqual(states(), ['a:ok']);
    health.observe(message('a', 'failed'));
    clock.now += 1;
    assert.deepEqual(states(), ['a:stale']);
  });

  it('--interval overrides the account\'s own; a cron schedule counts three of its starts', () => {
    const overridden = setup(accounts({ name: 'a', interval: '1h' }), MINUTE);
    overridden.clock.now = START + 3 * MINUTE + 1;
    assert.deepEqual(overridden.states(), ['a:stale']);

    // Every 10 minutes, on the clock: from 10:00 the third start is 10:30.
    const cron = setup(accounts({ name: 'c', schedule: '*/10 * * * *' }));
    cron.clock.now = START + 30 * MINUTE;
    assert.deepEqual(cron.states(), ['c:ok']);
    cron.clock.now += 1;
    assert.deepEqual(cron.states(), ['c:stale']);
  });

  it('a backoff that has not given up is healthy however long; giving up is not; a good cycle ends both', () => {
    const { clock, health, states } = setup(accounts({ name: 'a', interval: '1m' }, { name: 'b', interval: '1m' }));
    health.observe(backoff('a', 3, false));
    health.observe(backoff('b', 2, false));
    health.observe(backoff('b', 3, true));
    clock.now += 60 * MINUTE;
    health.observe(cycle('c-not-watched', 'ok'));
    assert.deepEqual(states(), ['a:backoff', 'b:gave-up']);
    const [a, b] = health.report().accounts;
    assert.equal(a!.healthy, true);
    assert.equal(a!.reason, 'reconnecting after 3 failed attempts, next attempt at 2026-12-03T10:00:01.000Z: cannot connect');
    assert.deepEqual([b!.healthy, b!.reason], [false, 'gave up connecting: cannot connect']);
    health.observe(cycle('b', 'ok'));
    assert.deepEqual(states(), ['a:backoff', 'b:ok']);
  });

  it('an account busy elsewhere for three intervals is named with the holder', () => {
    const { clock, health, states } = setup(accounts({ name: 'a', interval: '1m' }));
    health.observe(cycle('a', 'busy', 'a: busy (pid 42 since 10:00:00)'));
    assert.deepEqual(states(), ['a:ok']);
    clock.now += 3 * MINUTE + 1;
    assert.deepEqual(states(), ['a:busy']);
    assert.equal(health.report().accounts[0]!.reason, 'no successful cycle since the watch started: a: busy (pid 42 since 10:00:00)');
  });

  it('a reload keeps the history of the accounts it keeps and drops the others', () => {
    const { clock, health, states } = setup(accounts({ name: 'a', interval: '1m' }, { name: 'b', interval: '1m' }));
    health.observe(backoff('a', 1, true));
    clock.now += MINUTE;
    health.watch(accounts({ name: 'a', interval: '1m' }, { name: 'new', interval: '1m' }), undefined);
    assert.deepEqual(states(), ['a:gave-up', 'new:ok']);
  });

  it('ready once started or reloaded, not before and not while stopping', () => {
    const { health } = setup(accounts({ name: 'a' }));
    assert.equal(health.ready, false);
    health.observe({ type: 'watch', state: 'started', accounts: 1, reason: '', exitCode: null });
    assert.equal(health.ready, true);
    health.stopping();
    health.observe({ type: 'watch', state: 'reloaded', accounts: 1, reason: 'SIGHUP', exitCode: null });
    assert.equal(health.ready, false);
  });

  it('the STATUS line counts accounts by state and messages handled', () => {
    const { health } = setup(accounts({ name: 'a' }, { name: 'b' }, { name: 'c' }));
    health.observe(backoff('b', 1, false));
    health.observe(backoff('c', 1, true));
    assert.equal(describeStatus(health.report(), 12), '3 accounts: 1 ok; reconnecting: b; failing: c (gave-up); 12 messages handled');
    assert.equal(describeStatus(setup(accounts({ name: 'a' })).health.report(), 1), '1 account: 1 ok; 1 message handled');
  });
});

describe('listen addresses', () => {
  const cases: Array<[input: string | number, expected: ReturnType<typeof parseListenAddress>]> = [
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    [9464, { host: '127.0.0.1', port: 9464 }],
    ['9464', { host: '127.0.0.1', port: 9464 }],
    [':9464', { host: '127.0.0.1', port: 9464 }],
    ['0.0.0.0:9464', { host: '0.0.0.0', port: 9464 }],
    ['[::1]:9464', { host: '::1', port: 9464 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['127.0.0.1:70000', 'expected a port 0-65535, got 70000'],
    ['::1:9464', 'expected HOST:PORT (127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464) or a port (9464: on 127.0.0.1)'],
    ['http://127.0.0.1:9464', 'expected HOST:PORT (127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464) or a port (9464: on 127.0.0.1)'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)}`, () => assert.deepEqual(parseListenAddress(input), expected));
  }

  it('listen: in a config is resolved, and a bad one names the key', () => {
    const context = { file: undefined, dir: '/', env: {}, displayName: 'm' };
    const good = validateConfig({ listen: '[::1]:9464', accounts: [{ name: 'a', protocol: 'maildir', path: 'm' }] }, context);
    assert.deepEqual(good.config?.listen, { host: '::1', port: 9464 });
    const bad = validateConfig({ listen: true, accounts: [{ name: 'a', protocol: 'maildir', path: 'm' }] }, context);
    assert.equal(bad.config, undefined);
    assert.match(bad.problems.join('\n'), /listen: expected HOST:PORT/);
  });
});

describe('watchdogInterval', () => {
  it('half of WATCHDOG_USEC, for this process only', () => {
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '120000000' }, 7), 60_000);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '120000000', WATCHDOG_PID: '7' }, 7), 60_000);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '120000000', WATCHDOG_PID: '8' }, 7), undefined);
    assert.equal(watchdogInterval({}, 7), undefined);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '0' }, 7), undefined);
  });
});
