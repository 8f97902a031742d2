/**
 * POP3 accounts through the real CLI against a real Dovecot (dovecot-pop3d): TLS modes,
 * the seeds' codes, UIDL tracking across runs, deletes that survive a dropped connection,
 * and a 1,000-message mailbox.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { bySubject } from './helpers/maildir-state.js';
import { configureSpec, handlerCalls, runSpec as run, scenario, SPEC_HANDLER, type Credentials } from './helpers/scenario.js';
import { startRelay } from './helpers/tcp-relay.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

function pop3Account(creds: Credentials, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'legacy',
    protocol: 'pop3',
    host: '127.0.0.1',
    port: dovecot.ports.pop3s,
    tls: 'implicit',
    ca: dovecot.caFile,
    user: creds.user,
    password: creds.password,
    ...extra,
  };
}

const setup = (creds: Credentials, extra: Record<string, unknown> = {}) => configureSpec(pop3Account(creds, extra));

describe('connections', () => {
  test('implicit TLS, STLS and plaintext; the CA is verified and a missing one refused', async () => {
    const creds = await world.mailbox(['[1] 2']);
    for (const [tls, port] of [
      ['implicit', dovecot.ports.pop3s],
      ['starttls', dovecot.ports.pop3],
      ['none', dovecot.ports.pop3],
    ] as const) {
      const { dir, log } = await setup(creds, { tls, port });
      const result = await run(dir, log);
      assert.equal(result.code, 0, `${tls}: ${result.stdout}${result.stderr}`);
      assert.deepEqual(messageEvents(result).map((e) => [e.protocol, e.action, e.transition]), [['pop3', 'keep', true]]);
    }
    for (const [tls, port] of [
      ['implicit', dovecot.ports.pop3s],
      ['starttls', dovecot.ports.pop3],
    ] as const) {
      const { dir, log } = await setup(creds, { tls, port, ca: undefined });
      const result = await run(dir, log);
      assert.equal(result.code, 3, `${tls}: ${result.stdout}`);
      const account = result.events.find((e) => e.type === 'account');
      assert.equal(account?.code, 'E_TLS');
      assert.match(String(account?.error), /certificate.*ca:/i);
    }
  });

  test('a wrong password is exit 3 with the server text, and no password in the output', async () => {
    const creds = await world.mailbox(['[1] 1']);
    const { dir, log } = await setup(creds, { password: 'Wr0ng-pass' });
    const result = await runCli([], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.equal(result.code, 3);
    assert.match(result.stdout, /legacy.*login failed: .*Authentication failed/);
    assert.doesNotMatch(result.stdout + result.stderr, /Wr0ng-pass/);
    assert.equal(bySubject(await world.state(creds.user), '[1] 1')?.subject, '[1] 1');
  });

  test('mailpoll check shows the message count and size from STAT', async () => {
    const creds = await world.mailbox(['[1] 1', '[2] 2']);
    const { dir } = await setup(creds);
    const result = await runCli(['check', '--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const [event] = result.events;
    assert.equal(event?.total, 2);
    assert.equal(typeof event?.bytes, 'number');
    assert.ok(Number(event?.bytes) > 200);
  });
});

describe('the seeds\' codes and UIDL tracking', () => {
  test('codes 1-4; kept mail handed over once across three runs; a throwing handler leaves the message', async () => {
    const creds = await world.mailbox(['[1] 1', '[2] 2', '[3] 3', '[4] 4', '[5] throw', '[6] undefined']);
    const { dir, log } = await setup(creds);
    const first = await run(dir, log);
    assert.equal(first.code, 1, first.stderr);
    assert.deepEqual(
      messageEvents(first).map((e) => [e.subject, e.action, e.transition, e.status]),
      [
        ['[1] 1', 'delete', true, 'ok'],
        ['[2] 2', 'keep', true, 'ok'],
        ['[3] 3', 'delete', false, 'ok'],
        ['[4] 4', 'keep', false, 'ok'],
        ['[5] throw', 'keep', false, 'failed'],
        ['[6] undefined', 'keep', true, 'ok'], // POP3's default after is keep
      ],
    );
    const left = (await world.state(creds.user)).map((m) => m.subject).sort();
    assert.deepEqual(left, ['[2] 2', '[4] 4', '[5] throw', '[6] undefined']);

    // Each time once retryDelay has passed (10 minutes, then 20: the store's clock a day on each time).
    for (let i = 0; i < 2; i += 1) {
      const again = await run(dir, log, [], { MAILPOLL_NOW: new Date(Date.now() + (i + 1) * 86_400_000).toISOString() });
      assert.deepEqual(messageEvents(again).map((e) => e.subject), ['[5] throw'], 'only the failure comes back');
    }
    const calls = (await handlerCalls(log)).map((c) => c.subject);
    for (const subject of ['[1] 1', '[2] 2', '[3] 3', '[4] 4', '[6] undefined']) {
      assert.equal(calls.filter((c) => c === subject).length, 1, `${subject} handed over once`);
    }
    assert.equal(calls.filter((c) => c === '[5] throw').length, 3);
  });

  test('markSeen and move are failures for POP3 messages, with the reason; the message stays', async () => {
    const creds = await world.mailbox(['[1] "markSeen"', '[2] "move:Archive"']);
    const { dir, log } = await setup(creds);
    const result = await run(dir, log);
    assert.equal(result.code, 1);
    const [seen, moved] = messageEvents(result);
    assert.match(String(seen?.error), /POP3 has no read flag/);
    assert.match(String(moved?.error), /POP3 has no folders/);
    assert.equal((await world.state(creds.user)).length, 2);

    const bad = await writeConfig({ script: SPEC_HANDLER, accounts: [pop3Account(creds, { after: 'markSeen' })] });
    const config = await runCli([], { cwd: bad });
    assert.equal(config.code, 2);
    assert.match(config.stderr, /accounts\[0\]\.after: .*POP3/);
  });

  test('--dry-run leaves the mailbox untouched; maxMessages takes the oldest first', async () => {
    const creds = await world.mailbox(['[1] 1', '[2] 1', '[3] 1']);
    const { dir, log } = await setup(creds, { maxMessages: 2 });
    const dry = await run(dir, log, ['--dry-run']);
    assert.deepEqual(messageEvents(dry).map((e) => [e.subject, e.status]), [
      ['[1] 1', 'dry-run'],
      ['[2] 1', 'dry-run'],
    ]);
    assert.equal((await world.state(creds.user)).length, 3);
    const real = await run(dir, log);
    assert.deepEqual(messageEvents(real).map((e) => e.subject), ['[1] 1', '[2] 1']);
    assert.deepEqual((await world.state(creds.user)).map((m) => m.subject), ['[3] 1']);
  });
});

describe('deletes and dropped connections', () => {
  test('a link cut before QUIT loses nothing; the next run completes the deletes without the handler', async () => {
    const creds = await world.mailbox(['[1] 1', '[2] 3', '[3] 2']);
    // Plaintext through a relay that drops the link at the client's QUIT: DELE was answered, never committed.
    const relay = await startRelay(dovecot.ports.pop3, { cutWhen: (chunk) => chunk.toString('latin1').includes('QUIT') });
    const { dir, log } = await setup(creds, { tls: 'none', port: relay.port });
    const cut = await run(dir, log);
    assert.equal(cut.code, 3, cut.stdout + cut.stderr);
    const account = cut.events.find((e) => e.type === 'account');
    assert.match(String(account?.error), /QUIT.*The 2 deletions of this session are not confirmed\. mailpoll carries out the 2 delete\(s\) on the next run, without calling the handler again\./);
    assert.equal((await world.state(creds.user)).length, 3, 'Dovecot rolled the DELEs back');

    // Same store, straight to Dovecot this time.
    const direct = await writeConfig({ script: SPEC_HANDLER, store: join(dir, 'mailpoll.db'), accounts: [pop3Account(creds)] });
    const next = await run(direct, log);
    assert.equal(next.code, 0, next.stderr);
    const recovered = messageEvents(next).filter((e) => e.recovered);
    assert.deepEqual(recovered.map((e) => [e.subject, e.action]).sort(), [
      ['[1] 1', 'delete'],
      ['[2] 3', 'delete'],
    ]);
    assert.deepEqual((await world.state(creds.user)).map((m) => m.subject), ['[3] 2']);
    const calls = (await handlerCalls(log)).map((c) => c.subject);
    assert.deepEqual(calls, ['[1] 1', '[2] 3', '[3] 2'], 'each handled exactly once');
    relay.close();
  });

  test('1,000 messages of mixed size in one run: all handled, oldest first, memory bounded', async () => {
    const count = 1000;
    const creds = await world.mailbox([]);
    const base = Date.UTC(2026, 0, 1);
    let total = 0;
    for (let i = 0; i < count; i += 1) {
      // 1 KB to ~400 KB, deterministic
      const body = `${'x'.repeat(72)}\n`.repeat(1 + ((i * 7919) % 5500));
      const raw = message({ subject: `[${String(i).padStart(4, '0')}] 1`, messageId: `<big${i}@test>`, body, date: new Date(base + i * 1000) });
      total += raw.length;
      await dovecot.deliver(creds.user, raw, { date: new Date(base + i * 1000) });
    }
    const { dir, log } = await setup(creds);
    // 200 MB through TLS: give a loaded machine time (a harness limit, not a speed claim).
    const result = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: log }, timeoutMs: 240_000 });
    assert.equal(result.code, 0, result.stderr);
    const calls = await handlerCalls(log);
    assert.equal(calls.length, count);
    const subjects = calls.map((c) => String(c.subject));
    assert.deepEqual(subjects, [...subjects].sort(), 'oldest first');
    assert.equal((await world.state(creds.user)).length, 0);

    // Memory: bounded by the batches in hand (two of at most 8 MB of sources), not by the mailbox (200 MB here): the
    // resident size above the first handler call's stays small and does not grow to the end.
    const rss = calls.map((c) => Number(c.rss));
    const baseline = rss[0]!;
    const early = Math.max(...rss.slice(0, 300));
    const late = Math.max(...rss.slice(-300));
    const peak = Math.max(...rss);
    const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;
    assert.ok(total > 150 * 1024 * 1024, `mailbox ${mb(total)}`);
    assert.ok(peak - baseline < 128 * 1024 * 1024, `working set ${mb(peak - baseline)} above ${mb(baseline)} for a ${mb(total)} mailbox`);
    assert.ok(late < early + 32 * 1024 * 1024, `RSS grew from ${mb(early)} to ${mb(late)}`);
  });
});
