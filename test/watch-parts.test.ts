/**
 * The pure parts of watch mode: reconnect backoff, schedules, `--until`, the connection
 * limiter, IDLE accounts against it. No timers and no network: time is passed in, promises
 * are settled by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cron } from 'croner';
import { checkCron } from '../src/config/cron.js';
import { ACCOUNT_DEFAULTS } from '../src/config/defaults.js';
import { validateConfig } from '../src/config/load.js';
import { UsageError } from '../src/errors.js';
import { nextBackoff, type BackoffPolicy, type BackoffStep } from '../src/watch/backoff.js';
import { idleOverCapWarnings } from '../src/watch/hosts.js';
import { createLimiter } from '../src/watch/limiter.js';
import { accountConfig } from './helpers/account.js';
import { describeSchedule, nextRun, type Schedule } from '../src/watch/schedule.js';
import { parseUntil } from '../src/watch/until.js';

/** The `backoff:` key's defaults. */
const DEFAULT_BACKOFF: BackoffPolicy = ACCOUNT_DEFAULTS.backoff;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

describe('nextBackoff', () => {
  const wait = (waitMs: number): BackoffStep => ({ action: 'wait', waitMs });

  it('defaults to 1 s doubling up to 60 min, as the config does', () => {
    assert.deepEqual(DEFAULT_BACKOFF, { initialMs: SECOND, maxMs: HOUR });
    const { config } = validateConfig({ accounts: [{ name: 'a', protocol: 'maildir', path: 'm' }] }, { file: undefined, dir: '/', env: {}, displayName: 'm' });
    assert.deepEqual(config!.accounts[0]!.backoff, DEFAULT_BACKOFF);
  });

  // The reconnect series: 1 s, 2 s, 4 s, 8 s, 16 s ... 1 min, 2 min, 4 min ... at most 60 min.
  const seed: [failures: number, seconds: number][] = [
    [1, 1],
    [2, 2],
    [3, 4],
    [4, 8],
    [5, 16],
    [6, 32],
    [7, 64],
    [8, 128],
    [9, 256],
    [10, 512],
    [11, 1024],
    [12, 2048],
  ];
  for (const [failures, seconds] of seed) {
    it(`failure ${failures}: waits ${seconds} s, connected before or not`, () => {
      assert.deepEqual(nextBackoff(DEFAULT_BACKOFF, { failures, everConnected: false }), wait(seconds * SECOND));
      assert.deepEqual(nextBackoff(DEFAULT_BACKOFF, { failures, everConnected: true }), wait(seconds * SECOND));
    });
  }

  it('never connected: gives up when the wait reaches 60 min (after 13 failures), saying so', () => {
    assert.deepEqual(nextBackoff(DEFAULT_BACKOFF, { failures: 13, everConnected: false }), {
      action: 'give-up',
      reason: 'never connected since mailpoll started: tried 13 times over ~1h 8m',
    });
    assert.equal(nextBackoff(DEFAULT_BACKOFF, { failures: 14, everConnected: false }).action, 'give-up');
  });

  it('connected once: retries every 60 min forever, without overflow', () => {
    for (const failures of [13, 14, 50, 1023, 1024, 1025, 100_000, Number.MAX_SAFE_INTEGER]) {
      assert.deepEqual(nextBackoff(DEFAULT_BACKOFF, { failures, everConnected: true }), wait(HOUR), String(failures));
    }
  });

  it('the whole series of an account that never connects, as the watch loop runs it', () => {
    const waits: number[] = [];
    let step: BackoffStep;
    for (let failures = 1; (step = nextBackoff(DEFAULT_BACKOFF, { failures, everConnected: false })).action === 'wait'; failures += 1) {
      waits.push(step.waitMs / SECOND);
    }
    assert.deepEqual(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]);
    assert.equal(waits.reduce((sum, seconds) => sum + seconds, 0), 4095);
  });

  const custom: BackoffPolicy = { initialMs: 500, maxMs: 5 * SECOND };
  const customCases: [failures: number, everConnected: boolean, step: BackoffStep][] = [
    [1, false, wait(500)],
    [2, false, wait(1000)],
    [3, false, wait(2000)],
    [4, false, wait(4000)],
    [5, false, { action: 'give-up', reason: 'never connected since mailpoll started: tried 5 times over ~8s' }],
    [5, true, wait(5000)],
    [6, true, wait(5000)],
  ];
  for (const [failures, everConnected, step] of customCases) {
    it(`custom policy 500 ms / 5 s, failure ${failures}${everConnected ? ', connected before' : ''}: ${step.action}`, () => {
      assert.deepEqual(nextBackoff(custom, { failures, everConnected }), step);
    });
  }

  it('initial equal to max: gives up at once when never connected, else waits max', () => {
    const flat = { initialMs: 30 * SECOND, maxMs: 30 * SECOND };
    assert.deepEqual(nextBackoff(flat, { failures: 1, everConnected: false }), { action: 'give-up', reason: 'never connected since mailpoll started: tried once' });
    assert.deepEqual(nextBackoff(flat, { failures: 1, everConnected: true }), wait(30 * SECOND));
  });

  it('a cap that is not a power of two is reached exactly', () => {
    assert.deepEqual(nextBackoff({ initialMs: SECOND, maxMs: 90 * SECOND }, { failures: 8, everConnected: true }), wait(90 * SECOND));
  });

  it('rejects nonsense as a programming error', () => {
    for (const failures of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => nextBackoff(DEFAULT_BACKOFF, { failures, everConnected: false }), RangeError, String(failures));
    }
    assert.throws(() => nextBackoff({ initialMs: 0, maxMs: HOUR }, { failures: 1, everConnected: false }), RangeError);
    assert.throws(() => nextBackoff({ initialMs: HOUR, maxMs: SECOND }, { failures: 1, everConnected: false }), RangeError);
  });
});

describe('schedule', () => {
  const cron = (expression: string): Schedule => ({ kind: 'cron', expression });
  const at = (iso: string) => new Date(iso);

  it('interval: after + everyMs, strictly after', () => {
    const every = { kind: 'interval', everyMs: 90 * SECOND } as const;
    assert.deepEqual(nextRun(every, at('2026-01-01T10:00:00.250Z')), at('2026-01-01T10:01:30.250Z'));
    assert.throws(() => nextRun({ kind: 'interval', everyMs: 0 }, new Date()), RangeError);
    assert.throws(() => nextRun(every, new Date(Number.NaN)), RangeError);
  });

  const runs: [expression: string, after: string, next: string][] = [
    ['TZ=UTC */5 * * * *', '2026-01-01T10:00:00.000Z', '2026-01-01T10:05:00.000Z'],
    ['TZ=UTC */5 * * * *', '2026-01-01T10:04:59.999Z', '2026-01-01T10:05:00.000Z'],
    // Strictly after: a start exactly on a run time gets the following one.
    ['TZ=UTC */5 * * * *', '2026-01-01T10:05:00.000Z', '2026-01-01T10:10:00.000Z'],
    ['TZ=UTC */10 * * * * *', '2026-01-01T10:00:05.000Z', '2026-01-01T10:00:10.000Z'],
    ['TZ=UTC 0 9 * * MON-FRI', '2026-01-02T10:00:00Z', '2026-01-05T09:00:00.000Z'],
    ['TZ=UTC 0 0 L * *', '2026-02-01T00:00:00Z', '2026-02-28T00:00:00.000Z'],
    ['TZ=UTC 0 0 * * 5#L', '2026-01-01T00:00:00Z', '2026-01-30T00:00:00.000Z'],
    ['TZ=UTC 0 0 * * FRI#2', '2026-01-01T00:00:00Z', '2026-01-09T00:00:00.000Z'],
    ['TZ=UTC 0 0 29 2 *', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00.000Z'],
    ['CRON_TZ=UTC @hourly', '2026-01-01T10:30:00Z', '2026-01-01T11:00:00.000Z'],
    ['TZ=Europe/Berlin 0 9 * * *', '2026-07-01T00:00:00Z', '2026-07-01T07:00:00.000Z'],
    ['TZ=Europe/Berlin 0 9 * * *', '2026-01-01T00:00:00Z', '2026-01-01T08:00:00.000Z'],
    ['TZ=America/New_York 30 8 * * *', '2026-01-01T00:00:00Z', '2026-01-01T13:30:00.000Z'],
  ];
  for (const [expression, after, next] of runs) {
    it(`cron '${expression}' after ${after}: ${next}`, () => {
      assert.equal(nextRun(cron(expression), at(after)).toISOString(), next);
    });
  }

  it('cron without TZ= runs in local time', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata';
    try {
      const next = nextRun(cron('0 9 * * *'), at('2026-01-01T00:00:00Z'));
      assert.equal(next.toISOString(), '2026-01-01T03:30:00.000Z');
      assert.equal(next.getHours(), 9);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('names, 7 for Sunday and spacing mean what croner makes of the numbers', () => {
    const same: [string, string][] = [
      ['0 9 * * MON-FRI', '0 9 * * 1-5'],
      ['0 9 * * sat-sun', '0 9 * * 6,0'],
      ['0 9 * * 7', '0 9 * * 0'],
      ['0 0 1 JAN,jul *', '0 0 1 1,7 *'],
      ['  */15   8-18 * * *  ', '*/15 8-18 * * *'],
      ['@daily', '0 0 * * *'],
    ];
    for (const [written, plain] of same) {
      let after = at('2026-01-01T00:00:00Z');
      for (let index = 0; index < 20; index += 1) {
        const next = nextRun(cron(`TZ=UTC ${written}`), after);
        assert.equal(next.getTime(), nextRun(cron(`TZ=UTC ${plain}`), after).getTime(), `${written} after ${after.toISOString()}`);
        after = next;
      }
    }
  });

  it('an expression checkCron rejects throws in nextRun too', () => {
    assert.throws(() => nextRun(cron('0 0 30 2 *'), new Date()), { name: 'RangeError', message: "cron '0 0 30 2 *': never runs: February has no day 30" });
  });

  it('describeSchedule', () => {
    assert.equal(describeSchedule({ kind: 'interval', everyMs: MINUTE }), 'every 1m');
    assert.equal(describeSchedule({ kind: 'interval', everyMs: 90 * SECOND }), 'every 90s');
    assert.equal(describeSchedule({ kind: 'interval', everyMs: 1500 }), 'every 1500ms');
    assert.equal(describeSchedule(cron('*/5 * * * *')), "cron '*/5 * * * *'");
  });

  // Valid for checkCron; each must also work in croner (nextRun gives a time).
  const valid = [
    '* * * * *',
    '*/5 * * * *',
    '0 */2 * * *',
    '0 8-18 * * MON-FRI',
    '0-30/10 * * * *',
    '5/10 * * * *',
    '0 0 1,15 * *',
    '0 0 L * *',
    '0 0 1,L * *',
    '0 0 * * 5#L',
    '0 0 * * 1#1',
    '0 0 * * SUN',
    '0 0 * * 7',
    '0 0 1 jan-mar *',
    '30 */10 * * * *',
    '@yearly',
    '@annually',
    '@monthly',
    '@weekly',
    '@DAILY',
    '@hourly',
    'TZ=Europe/Berlin 0 9 * * *',
    'CRON_TZ=UTC 0 9 * * *',
    '0 0 31 1-12 *',
    '0 0 30 2 1',
    '*/60 * * * *',
  ];
  for (const expression of valid) {
    it(`checkCron accepts '${expression}'`, () => {
      assert.equal(checkCron(expression), undefined);
      assert.ok(nextRun(cron(expression), at('2026-01-01T00:00:00Z')) > at('2026-01-01T00:00:00Z'));
    });
  }

  // Invalid: the reason, and whether croner rejects the expression too (else we are stricter on purpose).
  const invalid: [expression: string, reason: string, cronerRejects: boolean][] = [
    ['', 'it is empty', true],
    ['* * * *', 'expected 5 fields (minute hour day-of-month month weekday) or 6 with seconds first, got 4', true],
    ['* * * * * * *', 'expected 5 fields (minute hour day-of-month month weekday) or 6 with seconds first, got 7', true],
    ['60 * * * *', 'minute: 60 is out of range 0-59', true],
    ['* 24 * * *', 'hour: 24 is out of range 0-23', true],
    ['* * 0 * *', 'day of month: 0 is out of range 1-31', true],
    ['* * 32 * *', 'day of month: 32 is out of range 1-31', true],
    ['* * * 13 *', 'month: 13 is out of range 1-12', true],
    ['* * * * 8', 'weekday: 8 is out of range 0-7', true],
    ['60 * * * * *', 'second: 60 is out of range 0-59', true],
    ['*/0 * * * *', 'minute: "*/0": step 0 is out of range 1-60', true],
    ['*/61 * * * *', 'minute: "*/61": step 61 is out of range 1-60', true],
    ['5-1 * * * *', 'minute: "5-1" runs backwards; write the lower value first', true],
    ['1-2-3 * * * *', 'minute: "1-2-3" is not a value, a range (1-5), a step (*/15) or a list (1,15)', true],
    ['1,,2 * * * *', 'minute "1,,2": has an empty list entry; check the commas', true],
    ['a * * * *', 'minute: "a" is not a number', true],
    ['* * * FOO *', 'month: "FOO" is not a number or a name JAN, FEB, MAR ...', true],
    ['* * * * sunday', 'weekday: "sunday" is not a number or a name SUN, MON, TUE ...', true],
    ['0 0 * * 5#6', 'weekday: "5#6": after # comes 1-5 (the nth such weekday of the month) or L (the last)', true],
    ['@every 5m', 'unknown nickname @every 5m; use @yearly, @annually, @monthly, @weekly, @daily, @hourly', true],
    ['0 0 30 2 *', 'never runs: February has no day 30', false],
    ['0 0 31 2,4,6 *', 'never runs: February, April and June have no day 31', false],
    ['TZ=Mars/Olympus 0 9 * * *', 'unknown time zone "Mars/Olympus" (use a name like Europe/Berlin or UTC)', false],
    ['TZ=UTC', 'nothing follows TZ=UTC', false],
    // croner 9 accepts these, with surprising meanings.
    ['? * * * *', '"?" is not supported; use *', false],
    ['0 0 * * 5L', 'weekday: "5L" is not supported; write 5#L for the last one of the month', false],
    ['/5 * * * *', 'minute: "/5" is not a value, a range (1-5), a step (*/15) or a list (1,15)', false],
    ['0 0 * * 5#', 'weekday: "5#": after # comes 1-5 (the nth such weekday of the month) or L (the last)', false],
    ['0 0 * * 1-5#2', 'weekday: "1-5#2": # follows a single weekday, like 5#2', false],
  ];
  for (const [expression, reason, cronerRejects] of invalid) {
    it(`checkCron rejects '${expression}': ${reason}`, () => {
      assert.equal(checkCron(expression), reason);
      if (cronerRejects) assert.throws(() => new Cron(expression, { paused: true }));
    });
  }
});

describe('parseUntil', () => {
  const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

  const durations: [string, number][] = [
    ['3s', 3 * SECOND],
    ['2h', 2 * HOUR],
    [' 30m ', 30 * MINUTE],
    ['1d', 24 * HOUR],
    ['500ms', 500],
    ['90', 90 * SECOND],
  ];
  for (const [text, ms] of durations) {
    it(`duration ${JSON.stringify(text)}: now + ${ms} ms`, () => assert.equal(parseUntil(text, NOW), NOW + ms));
  }

  const times: [string, number][] = [
    ['2026-11-23T18:00:00Z', Date.UTC(2026, 10, 23, 18)],
    ['2026-11-23T18:00Z', Date.UTC(2026, 10, 23, 18)],
    ['2026-11-23t18:00:00.250z', Date.UTC(2026, 10, 23, 18, 0, 0, 250)],
    ['2026-11-23T18:00:00+01:00', Date.UTC(2026, 10, 23, 17)],
    ['2026-11-23T18:00+0130', Date.UTC(2026, 10, 23, 16, 30)],
    ['2026-11-23T18:00-05', Date.UTC(2026, 10, 23, 23)],
    ['2026-11-23 18:00', new Date(2026, 10, 23, 18, 0).getTime()],
    ['2026-11-23T18:00:30', new Date(2026, 10, 23, 18, 0, 30).getTime()],
    ['2028-02-29 00:00', new Date(2028, 1, 29).getTime()],
  ];
  for (const [text, ms] of times) {
    it(`time ${text}`, () => assert.equal(parseUntil(text, NOW), ms));
  }

  const errors: [string, string | RegExp][] = [
    ['tomorrow', '--until "tomorrow": expected a time like 2026-11-23T18:00:00Z or "2026-11-23 18:00" (local time), or a duration like 30m or 2h'],
    ['', /^--until "": expected a time like/],
    ['0s', '--until "0s": the duration must be longer than 0, like 30m or 2h'],
    ['-5m', /^--until "-5m": expected a time like/],
    ['2025-06-01T00:00:00Z', /^--until "2025-06-01T00:00:00Z": is in the past \(it is 2026-01-01 \d\d:00:00 [+-]\d\d:\d\d now\); give a later time or a duration like 2h$/],
    ['2026-01-01T12:00:00Z', /is in the past/],
    ['2026-11-23', '--until "2026-11-23": add a time of day, like "2026-11-23 18:00" (local time) or 2026-11-23T18:00:00Z'],
    ['2026-02-30 10:00', '--until "2026-02-30 10:00": not a valid time: day 30 is out of range 1-28 for 2026-02'],
    ['2026-13-01T00:00Z', '--until "2026-13-01T00:00Z": not a valid time: month 13 is out of range 1-12'],
    ['2026-11-23T24:00Z', '--until "2026-11-23T24:00Z": not a valid time: hour 24 is out of range 0-23'],
    ['2026-11-23T18:60Z', '--until "2026-11-23T18:60Z": not a valid time: minute 60 is out of range 0-59'],
    ['2026-11-23T18:00+25:00', '--until "2026-11-23T18:00+25:00": not a valid time: time zone offset +25:00 is out of range'],
    ['23.11.2026 18:00', /^--until "23\.11\.2026 18:00": expected a time like/],
  ];
  for (const [text, message] of errors) {
    it(`rejects ${JSON.stringify(text)} with a UsageError (exit 2)`, () => {
      assert.throws(
        () => parseUntil(text, NOW),
        (error: unknown) => {
          assert.ok(error instanceof UsageError, String(error));
          assert.equal(error.exitCode, 2);
          if (typeof message === 'string') assert.equal(error.message, message);
          else assert.match(error.message, message);
          return true;
        },
      );
    });
  }
});

describe('createLimiter', () => {
  /** A promise settled by hand. */
  function deferred<T = void>() {
    let resolve!: (value: T) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  }
  /** Let every settled promise's callbacks run. */
  const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

  /** Queue a work named `name`; `started` records the order works start in. */
  function harness(options: { concurrency: number; maxPerHost: number }) {
    const limiter = createLimiter(options);
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred<string>>>();
    const results = new Map<string, Promise<string>>();
    const add = (name: string, host: string | undefined) => {
      const gate = deferred<string>();
      gates.set(name, gate);
      results.set(
        name,
        limiter.run(host, () => {
          started.push(name);
          return gate.promise;
        }),
      );
    };
    const finish = async (name: string) => {
      gates.get(name)!.resolve(name);
      await flush();
    };
    return { limiter, started, add, finish, results };
  }

  it('runs at most concurrency works at once, the rest as slots free, first come first served', async () => {
    const { limiter, started, add, finish, results } = harness({ concurrency: 2, maxPerHost: Number.POSITIVE_INFINITY });
    for (const name of ['a', 'b', 'c', 'd']) add(name, undefined);
    assert.deepEqual(started, ['a', 'b']);
    assert.deepEqual([limiter.active, limiter.pending], [2, 2]);
    await finish('b');
    assert.deepEqual(started, ['a', 'b', 'c']);
    await finish('a');
    assert.deepEqual(started, ['a', 'b', 'c', 'd']);
    await finish('c');
    await finish('d');
    assert.deepEqual([limiter.active, limiter.pending], [0, 0]);
    assert.equal(await results.get('d'), 'd');
  });

  it('at most maxPerHost per host; no host means no per-host limit', async () => {
    const { limiter, started, add, finish } = harness({ concurrency: 10, maxPerHost: 1 });
    add('h1-a', 'imap.example.com:993');
    add('h1-b', 'imap.example.com:993');
    add('h2-a', 'mail.example.org:993');
    add('dir-a', undefined);
    add('dir-b', undefined);
    assert.deepEqual(started, ['h1-a', 'h2-a', 'dir-a', 'dir-b']);
    assert.deepEqual([limiter.active, limiter.pending], [4, 1]);
    await finish('h2-a');
    assert.deepEqual(started, ['h1-a', 'h2-a', 'dir-a', 'dir-b']);
    await finish('h1-a');
    assert.deepEqual(started, ['h1-a', 'h2-a', 'dir-a', 'dir-b', 'h1-b']);
  });

  it('a work whose host is full does not hold up the works behind it', async () => {
    const { started, add, finish } = harness({ concurrency: 2, maxPerHost: 1 });
    add('A', 'h1');
    add('B', 'h2');
    add('C', 'h1');
    add('D', 'h3');
    add('E', 'h1');
    assert.deepEqual(started, ['A', 'B']);
    // B's slot: C (h1 still busy) waits, D may run.
    await finish('B');
    assert.deepEqual(started, ['A', 'B', 'D']);
    // A's slot: C, the oldest waiter for h1, before E.
    await finish('A');
    assert.deepEqual(started, ['A', 'B', 'D', 'C']);
    await finish('D');
    assert.deepEqual(started, ['A', 'B', 'D', 'C']);
    await finish('C');
    assert.deepEqual(started, ['A', 'B', 'D', 'C', 'E']);
  });

  it('both limits together: the global one counts every host', async () => {
    const { started, add, finish } = harness({ concurrency: 3, maxPerHost: 2 });
    for (const name of ['a1', 'a2', 'a3', 'b1', 'b2']) add(name, name[0]);
    assert.deepEqual(started, ['a1', 'a2', 'b1']);
    await finish('a1');
    assert.deepEqual(started, ['a1', 'a2', 'b1', 'a3']);
    await finish('b1');
    assert.deepEqual(started, ['a1', 'a2', 'b1', 'a3', 'b2']);
  });

  it('tryAcquire: a free slot of the host taken at once and given back once; none when the host is full', async () => {
    const { limiter, started, add, finish } = harness({ concurrency: 10, maxPerHost: 2 });
    add('a1', 'h');
    const extra = limiter.tryAcquire('h');
    assert.ok(extra, 'a second slot of h is free');
    assert.equal(limiter.tryAcquire('h'), undefined, 'h is at its limit');
    const other = limiter.tryAcquire('g');
    assert.ok(other, 'another host has its own slots');
    other();
    add('a2', 'h');
    assert.deepEqual(started, ['a1'], 'a work waits while the extra slot is held');
    extra();
    extra();
    await flush();
    assert.deepEqual(started, ['a1', 'a2'], 'giving it back starts the waiting work (twice counts once)');
    assert.equal(limiter.tryAcquire('h'), undefined, 'h is full again');
    await finish('a1');
    await finish('a2');
    assert.deepEqual([limiter.active, limiter.pending], [0, 0]);
  });

  it('a rejection frees the slot and reaches the caller; so does a synchronous throw', async () => {
    const limiter = createLimiter({ concurrency: 1, maxPerHost: 1 });
    const failing = limiter.run('h', () => Promise.reject(new Error('login failed')));
    const throwing = limiter.run('h', () => {
      throw new Error('no such folder');
    });
    const after = limiter.run('h', async () => 'ran');
    await assert.rejects(failing, /login failed/);
    await assert.rejects(throwing, /no such folder/);
    assert.equal(await after, 'ran');
    assert.deepEqual([limiter.active, limiter.pending], [0, 0]);
  });

  it('the slot is free again by the time the caller resumes', async () => {
    const limiter = createLimiter({ concurrency: 1, maxPerHost: 1 });
    await limiter.run('h', async () => 1);
    assert.equal(limiter.active, 0);
    let startedAt: number | undefined;
    const second = limiter.run('h', async () => {
      startedAt = limiter.active;
    });
    assert.equal(startedAt, 1, 'a free slot starts the work at once');
    await second;
  });

  it('Infinity means no limit; anything else must be an integer >= 1', async () => {
    const limiter = createLimiter({ concurrency: Number.POSITIVE_INFINITY, maxPerHost: Number.POSITIVE_INFINITY });
    const gate = deferred();
    const works = Array.from({ length: 100 }, () => limiter.run('h', () => gate.promise));
    assert.equal(limiter.active, 100);
    gate.resolve();
    await Promise.all(works);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => createLimiter({ concurrency: bad, maxPerHost: 1 }), RangeError, String(bad));
      assert.throws(() => createLimiter({ concurrency: 1, maxPerHost: bad }), RangeError, String(bad));
    }
  });
});

describe('idleOverCapWarnings', () => {
  const imap = (name: string, host: string, extra: Parameters<typeof accountConfig>[0] = { protocol: 'imap' }) =>
    accountConfig({ host, port: 993, idle: true, ...extra, name });

  it('one line per host whose IDLE accounts outnumber maxConnections, naming them', () => {
    const accounts = [imap('a', 'one.example'), imap('b', 'one.example'), imap('c', 'one.example'), imap('d', 'two.example'), imap('e', 'two.example')];
    const lines = idleOverCapWarnings(accounts, 2);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^warning: 3 accounts use IDLE on one\.example:993 \(a, b, c\), more than maxConnections \(2\): .* so 1 of them .* Raise maxConnections, or set idle: false/);
    assert.deepEqual(idleOverCapWarnings(accounts, 3), []);
  });

  it('counts only accounts that wait in IDLE: not polling ones, POP3, several folders or another port', () => {
    const accounts = [
      imap('a', 'one.example'),
      imap('b', 'one.example', { protocol: 'imap', idle: false }),
      imap('c', 'one.example', { protocol: 'pop3' }),
      imap('d', 'one.example', { protocol: 'imap', folders: ['INBOX', 'Support'] }),
      imap('e', 'one.example', { protocol: 'imap', port: 143 }),
    ];
    assert.deepEqual(idleOverCapWarnings(accounts, 1), []);
  });

  it('names five accounts and counts the rest', () => {
    const accounts = Array.from({ length: 8 }, (_, index) => imap(`box${index}`, 'one.example'));
    assert.match(idleOverCapWarnings(accounts, 2)[0]!, /\(box0, box1, box2, box3, box4 and 3 more\).* so 6 of them/);
  });
});
