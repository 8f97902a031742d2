/**
 * Long-running mailpoll through the real CLI against a real Dovecot: IMAP IDLE, outages and
 * the reconnect backoff, giving up, a stalled fetch, signals and expiration. Outages and stalls
 * come from a TCP relay between mailpoll and Dovecot; intervals and backoffs are test-sized.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { message as buildMessage } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { startCli, writeConfig } from './helpers/cli.js';
import { bySubject } from './helpers/maildir-state.js';
import { configureSpec, handlerCalls, scenario, SPEC_HANDLER, type Credentials } from './helpers/scenario.js';
import { startRelay } from './helpers/tcp-relay.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

const setup = (creds: Credentials, account: Record<string, unknown>, top: Record<string, unknown> = {}) => configureSpec(world.imapAccount(creds, account), top);

/** Poll `check` until it holds (for output that is not an event, like stderr). */
async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const isMessage = (subject: string) => (event: Record<string, unknown>) => event.type === 'message' && event.subject === subject;

describe('watch mode', () => {
  test('--watch with idle: a new message is handled as the server pushes it, not at the next interval', async () => {
    const creds = await world.mailbox(['[1] "markSeen"']);
    // An hour between polls: only IDLE can explain a quick pick-up.
    const { dir, log } = await setup(creds, { idle: true, interval: '1h' });
    const cli = startCli(['--watch', '--json'], { cwd: dir, env: { HANDLER_LOG: log } });
    await cli.waitFor(isMessage('[1] "markSeen"'), 'the first message');
    await cli.waitFor((e) => e.type === 'cycle' && e.idle === true, 'the IDLE cycle event');

    const sent = Date.now();
    await dovecot.deliver(creds.user, buildMessage({ subject: '[2] "markSeen"', messageId: '<idle2@test>' }));
    const handled = await cli.waitFor(isMessage('[2] "markSeen"'), 'the pushed message', 20_000);
    assert.equal(handled.status, 'ok');
    // Diagnostic only (the benchmark owns speed): how long the push took here.
    console.error(`# IDLE pick-up after ${Date.now() - sent} ms`);

    cli.signal('SIGTERM');
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    const stopped = result.events.at(-1);
    assert.deepEqual([stopped?.type, stopped?.state], ['watch', 'stopped']);
    assert.equal((await handlerCalls(log)).length, 2);
  });

  test('an outage: the backoff series is reported, and after recovery the waiting mail is handled', async () => {
    const creds = await world.mailbox(['[1] "markSeen"']);
    const relay = await startRelay(dovecot.ports.imap);
    const port = relay.port;
    const { dir, log } = await setup(creds, {
      tls: 'starttls',
      port,
      interval: '300ms',
      connectTimeout: '2s',
      backoff: { initial: '100ms', max: '800ms' },
    });
    const cli = startCli(['--watch', '--json'], { cwd: dir, env: { HANDLER_LOG: log } });
    await cli.waitFor(isMessage('[1] "markSeen"'), 'the first message');

    relay.close(); // the server goes away: connections refused
    await dovecot.deliver(creds.user, buildMessage({ subject: '[2] "markSeen"', messageId: '<outage2@test>' }));
    // Past the cap and still trying: it had connected before, so it never gives up.
    await cli.waitFor((e) => e.type === 'backoff' && Number(e.attempt) >= 6, 'six failed attempts');
    const waits = cli.events.filter((e) => e.type === 'backoff').map((e) => Number(e.waitMs));
    assert.deepEqual(waits.slice(0, 6), [100, 200, 400, 800, 800, 800]);
    assert.ok(cli.events.every((e) => !(e.type === 'backoff' && e.giveUp === true)));
    const backoff = cli.events.find((e) => e.type === 'backoff');
    assert.match(String(backoff?.error), /127\.0\.0\.1:\d+/);
    assert.equal(typeof backoff?.nextAt, 'string');

    const back = await startRelay(dovecot.ports.imap, { port }); // the server is back
    await cli.waitFor(isMessage('[2] "markSeen"'), 'the message that arrived during the outage');
    cli.signal('SIGTERM');
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((await handlerCalls(log)).map((c) => c.subject), ['[1] "markSeen"', '[2] "markSeen"']);
    back.close();
  });

  test('an account that never connected gives up at the cap; with no account left the exit is 3', async () => {
    const dir = await writeConfig({
      script: SPEC_HANDLER,
      accounts: [
        { name: 'nowhere', protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'u', password: 'p', backoff: { initial: '50ms', max: '400ms' } },
      ],
    });
    const cli = startCli(['--watch', '--json'], { cwd: dir });
    const result = await cli.exited;
    assert.equal(result.code, 3, result.stderr);
    const backoffs = result.events.filter((e) => e.type === 'backoff');
    assert.deepEqual(backoffs.map((e) => Number(e.waitMs)), [50, 100, 200, 0]);
    assert.equal(backoffs.at(-1)?.giveUp, true);
    assert.match(String(backoffs.at(-1)?.error), /never connected/);
    assert.match(String(result.events.at(-1)?.reason), /no account left/);
  });

  test('a fetch that stalls is cut by fetchTimeout; the message is retried and handled after recovery', async () => {
    const creds = await world.mailbox(['[1] "markSeen"']);
    let stalls = 0;
    // The first connection that asks for bodies gets no answer: a server that hangs mid-fetch.
    const relay = await startRelay(dovecot.ports.imap, {
      stallWhen: (chunk) => chunk.toString('latin1').includes('BODY.PEEK[]') && stalls++ === 0,
    });
    // Plaintext, so the relay can see the commands (behind STARTTLS they are encrypted).
    const { dir, log } = await setup(creds, {
      tls: 'none',
      ca: undefined,
      port: relay.port,
      interval: '300ms',
      fetchTimeout: '1s',
      backoff: { initial: '100ms', max: '1s' },
    });
    const cli = startCli(['--watch', '--json'], { cwd: dir, env: { HANDLER_LOG: log } });
    const timedOut = await cli.waitFor((e) => e.type === 'cycle' && e.code === 'E_TIMEOUT', 'the fetch timeout');
    assert.match(String(timedOut.error), /^support: fetch of uid \d+ from INBOX timed out after 1s/);
    const handled = await cli.waitFor(isMessage('[1] "markSeen"'), 'the retried message');
    assert.equal(handled.status, 'ok');
    cli.signal('SIGTERM');
    assert.equal((await cli.exited).code, 0);
    assert.equal((await handlerCalls(log)).length, 1, 'the handler never saw the stalled attempt');
    relay.close();
  });

  test('SIGTERM during a slow handler: the message is finished, disposed and recorded; exit 0', async () => {
    const creds = await world.mailbox(['[1] "delete"', '[2] "delete"']);
    const { dir, log } = await setup(creds, { interval: '1h' });
    const cli = startCli(['--watch', '--json'], { cwd: dir, env: { HANDLER_LOG: log, HANDLER_DELAY_MS: '1500' } });
    while ((await handlerCalls(log)).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    cli.signal('SIGTERM');
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    const messages = result.events.filter((e) => e.type === 'message');
    assert.deepEqual(messages.map((e) => [e.subject, e.status]), [['[1] "delete"', 'ok']], 'only the message in hand');
    const left = await world.state(creds.user);
    assert.equal(bySubject(left, '[1] "delete"'), undefined, 'disposed');
    assert.ok(bySubject(left, '[2] "delete"'), 'the next one untouched');
    assert.match(String(result.events.at(-1)?.reason), /signal/);
  });

  // That the loop stops at the time and not before is asserted in virtual time, in
  // watch-loop.test.ts; here, that the CLI hands --until to it.
  test('--until 3s ends the loop cleanly with the reason', async () => {
    const creds = await world.mailbox([]);
    const { dir } = await setup(creds, { interval: '500ms' });
    const cli = startCli(['watch', '--json', '--until', '3s'], { cwd: dir });
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    const until = /until (\S+)/.exec(String(result.events[0]?.reason))?.[1];
    assert.ok(until !== undefined && Date.parse(until) > 0, 'the watch started with the end time');
    const last = result.events.at(-1);
    assert.deepEqual([last?.type, last?.state], ['watch', 'stopped']);
    assert.equal(last?.reason, `expiration reached (${until})`);
    assert.ok(result.events.filter((e) => e.type === 'cycle').length >= 2, 'it cycled meanwhile');
  });

  test('a second SIGTERM exits 130 at once; the store stays usable and nothing is lost', async () => {
    const creds = await world.mailbox(['[1] "delete"', '[2] "delete"']);
    const { dir, log } = await setup(creds, { interval: '1h' });
    const cli = startCli(['--watch', '--json'], { cwd: dir, env: { HANDLER_LOG: log, HANDLER_DELAY_MS: '3000' } });
    while ((await handlerCalls(log)).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    cli.signal('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    cli.signal('SIGTERM');
    const result = await cli.exited;
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /stopping after the message in hand/);
    // The interrupted message was never disposed; a normal run finishes both.
    assert.equal((await world.state(creds.user)).length, 2);
    const again = startCli(['--json'], { cwd: dir, env: { HANDLER_LOG: log } });
    const finished = await again.exited;
    assert.equal(finished.code, 0, finished.stderr);
    assert.equal((await world.state(creds.user)).length, 0);
  });

  test('SIGHUP reloads the config between cycles; a broken config is reported and the old one kept', async () => {
    const creds = await world.mailbox(['[1] "keep"']);
    const { dir, log } = await setup(creds, { interval: '300ms' });
    const cli = startCli(['--watch', '--json'], { cwd: dir, env: { HANDLER_LOG: log } });
    await cli.waitFor(isMessage('[1] "keep"'), 'the first message');

    // The new account is another mailbox (the ledger belongs to the mailbox, not the name).
    const other = await world.mailbox(['[1] "keep"']);
    await writeConfig({ script: SPEC_HANDLER, accounts: [world.imapAccount(creds, { interval: '300ms' }), world.imapAccount(other, { name: 'second', interval: '300ms' })] }, dir);
    cli.signal('SIGHUP');
    const reloaded = await cli.waitFor((e) => e.type === 'watch' && e.state === 'reloaded', 'the reload');
    assert.equal(reloaded.accounts, 2);
    // Its ledger is its own: it sees its message for the first time.
    await cli.waitFor((e) => e.type === 'message' && e.account === 'second', 'the new account at work');

    await writeFile(join(dir, 'mailpoll.config.json'), '{ "accounts": [ { "name": "x", "protocol": "imap", "port": "99x" } ] }');
    cli.signal('SIGHUP');
    await eventually(() => /the new config was not loaded/.test(cli.stderr()), 'the reload error on stderr');
    assert.match(cli.stderr(), /the new config was not loaded, the previous one stays in use: .*port: expected an integer/);
    cli.signal('SIGTERM');
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
  });
});

