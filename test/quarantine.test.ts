/**
 * Results that can never work, retries spread over time, and quarantine that later runs and
 * `check` keep reporting, through the real CLI against a private Dovecot. Time is moved with
 * the store's MAILPOLL_NOW hook, never waited for.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig, type CliResult } from './helpers/cli.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { configureSpec, expectMessage, handlerCalls, scenario, SPEC_HANDLER, type Credentials } from './helpers/scenario.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

const T0 = Date.UTC(2030, 5, 1, 12, 0, 0);
const MINUTE = 60_000;

const setup = (creds: Credentials, account: Record<string, unknown> = {}) => configureSpec(world.imapAccount(creds, account));

/** One cron tick at `T0 + minutes` on the store's clock. */
function runAt(dir: string, log: string, minutes: number, args: string[] = ['--json']): Promise<CliResult> {
  return runCli(args, { cwd: dir, env: { HANDLER_LOG: log, MAILPOLL_NOW: new Date(T0 + minutes * MINUTE).toISOString() } });
}

function accountEvent(result: CliResult): Record<string, unknown> {
  const event = result.events.find((e) => e.type === 'account');
  assert.ok(event, result.stdout + result.stderr);
  return event;
}

function statuses(result: CliResult): Array<[unknown, unknown]> {
  return messageEvents(result).map((e) => [e.subject, e.status]);
}

describe('results that can never work', () => {
  test('a move to the folder being polled is an invalid result: the message stays, with the reason', async () => {
    const creds = await world.mailbox(['[1] "move:inbox"', '[2] {"action":"move","folder":"INBOX"}', '[3] "move:INBOX/"']);
    const { dir, log } = await setup(creds);
    const result = await runAt(dir, log, 0);
    assert.equal(result.code, 1, result.stderr);
    const events = messageEvents(result);
    assert.deepEqual(events.map((e) => e.status), ['failed', 'failed', 'failed']);
    for (const event of events) assert.match(String(event.error), /the folder being polled: it would be handed over again on every run/);
    for (const subject of ['[1] "move:inbox"', '[2] {"action":"move","folder":"INBOX"}', '[3] "move:INBOX/"']) {
      expectMessage(await world.state(creds.user), subject, { folder: '', seen: false });
    }
    // Tried again later: the same refs, not new messages.
    const again = await runAt(dir, log, 11);
    assert.deepEqual(messageEvents(again).map((e) => e.ref), events.map((e) => e.ref));
  });

  test('move:*, move:../x and a folder the server refuses are quarantined after maxAttempts, not retried forever', async () => {
    const long = 'x'.repeat(300);
    const creds = await world.mailbox(['[1] "move:*"', '[2] "move:../x"', `[3] "move:${long}"`, '[4] "keep"']);
    const { dir, log } = await setup(creds, { maxAttempts: 2, onlyUnseen: false });

    const first = await runAt(dir, log, 0);
    assert.equal(first.code, 1, first.stderr);
    const [wildcard, dots, refused, kept] = messageEvents(first);
    assert.match(String(wildcard?.error), /handler returned "move:\*" \(a folder name cannot contain the IMAP wildcards \* and %\)/);
    assert.match(String(dots?.error), /handler returned "move:\.\.\/x" \(a folder name cannot contain "\." or "\.\." segments\)/);
    assert.equal(refused?.status, 'failed');
    assert.match(String(refused?.error), /move failed: .*cannot create folder x{300}/);
    assert.equal(kept?.status, 'ok');

    // The next cron minute: nothing is due yet.
    const early = await runAt(dir, log, 1);
    assert.equal(early.code, 0, early.stderr);
    assert.deepEqual(messageEvents(early), []);
    assert.equal(accountEvent(early).deferred, 3);

    const second = await runAt(dir, log, 11);
    assert.equal(second.code, 1, second.stderr);
    // Recorded decisions are applied first, then the handler sees the others again.
    assert.deepEqual(statuses(second), [
      [`[3] "move:${long}"`, 'quarantined'],
      ['[1] "move:*"', 'quarantined'],
      ['[2] "move:../x"', 'quarantined'],
    ]);
    assert.match(String(messageEvents(second)[0]?.error), /failed 2 times: quarantined, its decision is no longer applied; mailpoll retry \d+ releases it/);

    for (const minutes of [12, 60 * 24]) {
      const later = await runAt(dir, log, minutes);
      assert.equal(later.code, 0, later.stderr);
      assert.deepEqual(messageEvents(later), [], 'quarantined: neither handled nor re-applied');
      assert.equal(accountEvent(later).quarantined, 3);
    }
    const calls = (await handlerCalls(log)).map((call) => call.subject);
    assert.deepEqual(calls.filter((s) => s === '[1] "move:*"').length, 2);
    assert.deepEqual(calls.filter((s) => s === `[3] "move:${long}"`).length, 1, 'a recorded decision is re-applied without the handler');
    for (const subject of ['[1] "move:*"', '[2] "move:../x"', `[3] "move:${long}"`]) {
      expectMessage(await world.state(creds.user), subject, { folder: '', seen: false });
    }
  });
});

test('a message quarantined because its action keeps being refused is moved to quarantineFolder', async () => {
  const long = 'y'.repeat(300);
  const creds = await world.mailbox([`[1] "move:${long}"`]);
  const { dir, log } = await setup(creds, { maxAttempts: 1, quarantineFolder: 'Quarantine' });
  const result = await runAt(dir, log, 0);
  assert.equal(result.code, 1, result.stderr);
  const [event] = messageEvents(result);
  assert.equal(event?.status, 'quarantined');
  assert.match(String(event?.error), /quarantined, its decision is no longer applied; mailpoll retry \d+ releases it\); moved to Quarantine$/);
  expectMessage(await world.state(creds.user), `[1] "move:${long}"`, { folder: 'Quarantine', seen: false });
});

describe('retries spread over time', () => {
  test('a cron every minute during an outage counts one attempt per retryDelay, doubling', async () => {
    const creds = await world.mailbox(['[1] throw']);
    const { dir, log } = await setup(creds, { maxAttempts: 3 });
    const first = await runAt(dir, log, 0);
    assert.deepEqual(statuses(first), [['[1] throw', 'failed']]);

    for (const minutes of [1, 2, 5, 9]) {
      const tick = await runAt(dir, log, minutes);
      assert.equal(tick.code, 0, tick.stderr);
      assert.deepEqual(messageEvents(tick), [], `minute ${minutes}: deferred, not fetched`);
      const event = accountEvent(tick);
      assert.deepEqual([event.fetched, event.deferred, event.nextAttemptAt], [0, 1, new Date(T0 + 10 * MINUTE).toISOString()]);
      const summary = tick.events.at(-1);
      assert.equal(summary?.deferred, 1);
    }
    assert.deepEqual(statuses(await runAt(dir, log, 10)), [['[1] throw', 'failed']], 'second attempt after 10 minutes');
    // The wait doubles: the third attempt is due 20 minutes after the second.
    const text = await runAt(dir, log, 25, []);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^support: 0 fetched, 0 processed, 0 failed; 1 deferred \(next attempt \d\d:\d\d:\d\d\) /m);
    assert.deepEqual(statuses(await runAt(dir, log, 30)), [['[1] throw', 'quarantined']]);
    assert.equal((await handlerCalls(log)).length, 3);
  });

  test('validate: retryDelay is a duration', async () => {
    const creds = await world.mailbox([]);
    const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [world.imapAccount(creds, { retryDelay: 'soon' })] });
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /accounts\[0\]\.retryDelay: expected a duration like 30s, 2m or 1h, got "soon"/);
  });
});

describe('quarantine that people notice', () => {
  test('-q still prints the message that was quarantined, with its reason', async () => {
    const creds = await world.mailbox(['[1] throw', '[2] "keep"']);
    const { dir, log } = await setup(creds, { maxAttempts: 1 });
    const quiet = await runAt(dir, log, 0, ['-q']);
    assert.equal(quiet.code, 1, quiet.stderr);
    const lines = quiet.stdout.split('\n').filter(Boolean);
    assert.equal(lines.filter((line) => line.includes('[1] throw')).length, 1, quiet.stdout);
    assert.match(quiet.stdout, /\[1\] throw.*quarantined/);
    assert.ok(!quiet.stdout.includes('[2] "keep"'), 'a message that went well stays out of a quiet log');
  });

  test('every later run and check count the quarantined messages with the command that releases them', async () => {
    const creds = await world.mailbox(['[1] throw', '[2] throw', '[3] throw', '[4] "keep"']);
    const { dir, log } = await setup(creds, { maxAttempts: 1, onlyUnseen: false });
    const first = await runAt(dir, log, 0);
    assert.deepEqual(messageEvents(first).map((e) => e.status), ['quarantined', 'quarantined', 'quarantined', 'ok']);
    const refs = messageEvents(first).slice(0, 3).map((e) => String(e.ref));

    // -q (the cron set-up) keeps the log to what needs a person: quarantine is such a thing.
    const quiet = await runAt(dir, log, 1, ['-q']);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.match(quiet.stdout, /^support: 0 fetched, 0 processed, 0 failed; 3 quarantined: mailpoll retry --account support /m);

    const text = await runAt(dir, log, 1, []);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^support: 0 fetched, 0 processed, 0 failed; 3 quarantined: mailpoll retry --account support /m);
    assert.match(text.stdout, /^mailpoll: 1 account, 0 processed, 3 quarantined: mailpoll retry --account support /m);
    const json = await runAt(dir, log, 2);
    assert.deepEqual([accountEvent(json).quarantined, accountEvent(json).retry], [3, 'mailpoll retry --account support']);
    assert.deepEqual([json.events.at(-1)?.quarantined, json.events.at(-1)?.retry], [3, 'mailpoll retry --account support']);

    const check = await runCli(['check'], { cwd: dir });
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /support: imap .* ok; 3 quarantined: mailpoll retry --account support/);

    // Several refs at once; an unknown ref releases nothing.
    const unknown = await runCli(['retry', refs[0]!, '999999'], { cwd: dir });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no message with ref 999999/);
    const none = await runCli(['retry'], { cwd: dir });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /one or more refs .*--account NAME, or --all/);

    const two = await runCli(['retry', refs[0]!, refs[1]!], { cwd: dir });
    assert.equal(two.code, 0, two.stderr);
    assert.match(two.stderr, /2 messages released/);
    const checkJson = await runCli(['check', '--json'], { cwd: dir });
    assert.deepEqual([checkJson.events[0]?.quarantined, checkJson.events[0]?.retry], [1, 'mailpoll retry --account support']);

    const byAccount = await runCli(['retry', '--account', 'support'], { cwd: dir });
    assert.equal(byAccount.code, 0, byAccount.stderr);
    assert.match(byAccount.stderr, new RegExp(`ref ${refs[2]} \\(support #\\d+\\) released`));
    const again = await runAt(dir, log, 3);
    assert.deepEqual(statuses(again), [['[1] throw', 'quarantined'], ['[2] throw', 'quarantined'], ['[3] throw', 'quarantined']]);

    const all = await runCli(['retry', '--all'], { cwd: dir });
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stderr, /3 messages released/);
    const empty = await runCli(['check', '--json'], { cwd: dir });
    assert.deepEqual([empty.events[0]?.quarantined, empty.events[0]?.retry], [0, null]);
  });
});
