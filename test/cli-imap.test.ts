/**
 * The real CLI, as a child process, against a real private Dovecot over IMAP.
 * Server state is read straight from Dovecot's Maildir storage, not through mailpoll.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { bySubject } from './helpers/maildir-state.js';
import { expectMessage, handlerCalls, scenario, SPEC_HANDLER } from './helpers/scenario.js';
import { useDovecot } from './helpers/use-dovecot.js';

const HANDLER = SPEC_HANDLER;
const dovecot = useDovecot();
const { mailbox, imapAccount, state } = scenario(dovecot);

describe('every handler result form, end to end', () => {
  test('codes 1-4, strings, objects, undefined and invalid results do what the README says', async () => {
    const subjects = [
      '[01] 1',
      '[02] 2',
      '[03] 3',
      '[04] 4',
      '[05] "delete"',
      '[06] "keep"',
      '[07] "markSeen"',
      '[08] "move:Archive/2024"',
      '[09] {"action":"move","folder":"Done","transition":false}',
      '[10] undefined',
      '[11] 5',
      '[12] "foo"',
      '[13] {}',
      '[14] throw',
    ];
    const creds = await mailbox(subjects);
    const dir = await writeConfig({ script: HANDLER, accounts: [imapAccount(creds)] });
    const log = join(dir, 'calls.ndjson');
    const result = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: log } });

    assert.equal(result.code, 1, `exit 1 when a message failed\n${result.stderr}`);
    const events = messageEvents(result);
    assert.deepEqual(
      events.map((e) => [e.subject, e.action, e.moveTo, e.transition, e.status]),
      [
        ['[01] 1', 'delete', null, true, 'ok'],
        ['[02] 2', 'keep', null, true, 'ok'],
        ['[03] 3', 'delete', null, false, 'ok'],
        ['[04] 4', 'keep', null, false, 'ok'],
        ['[05] "delete"', 'delete', null, true, 'ok'],
        ['[06] "keep"', 'keep', null, true, 'ok'],
        ['[07] "markSeen"', 'markSeen', null, true, 'ok'],
        ['[08] "move:Archive/2024"', 'move', 'Archive/2024', true, 'ok'],
        ['[09] {"action":"move","folder":"Done","transition":false}', 'move', 'Done', false, 'ok'],
        ['[10] undefined', 'markSeen', null, true, 'ok'],
        ['[11] 5', 'keep', null, false, 'failed'],
        ['[12] "foo"', 'keep', null, false, 'failed'],
        ['[13] {}', 'keep', null, false, 'failed'],
        ['[14] throw', 'keep', null, false, 'failed'],
      ],
    );
    const failed = events.filter((e) => e.status === 'failed');
    assert.match(String(failed[0]?.error), /returned 5.*expected/);
    assert.match(String(failed[3]?.error), /boom from handler/);
    for (const event of events) {
      assert.equal(event.account, 'support');
      assert.equal(event.protocol, 'imap');
      assert.equal(event.folder, 'INBOX');
      assert.match(String(event.uid), /^\d+$/);
      assert.match(String(event.messageId), /^<m\d+\.u\d+x\d+@test>$/);
      assert.equal(typeof event.durationMs, 'number');
    }
    const account = result.events.find((e) => e.type === 'account');
    assert.deepEqual(
      [account?.status, account?.fetched, account?.processed, account?.failed, account?.transitions],
      ['ok', 14, 10, 4, 7],
    );
    const summary = result.events.at(-1);
    assert.equal(summary?.type, 'summary');
    assert.equal(summary?.exitCode, 1);

    const stored = await state(creds.user);
    for (const gone of ['[01] 1', '[03] 3', '[05] "delete"']) assert.equal(bySubject(stored, gone), undefined, `${gone} deleted`);
    for (const kept of ['[02] 2', '[04] 4', '[06] "keep"']) expectMessage(stored, kept, { folder: '', seen: false });
    expectMessage(stored, '[07] "markSeen"', { folder: '', seen: true });
    expectMessage(stored, '[10] undefined', { folder: '', seen: true });
    expectMessage(stored, '[08] "move:Archive/2024"', { folder: 'Archive.2024', seen: false });
    expectMessage(stored, '[09] {"action":"move","folder":"Done","transition":false}', { folder: 'Done', seen: false });
    // Failures leave the message exactly as it was: unseen, in INBOX.
    for (const untouched of ['[11] 5', '[12] "foo"', '[13] {}', '[14] throw']) {
      expectMessage(stored, untouched, { folder: '', seen: false });
    }

    // The next run once retryDelay has passed (the store's clock, an hour on) retries the
    // failures only: kept mail is done in the ledger, seen mail is not listed.
    const calls = (await handlerCalls(log)).length;
    const hourLater = new Date(Date.now() + 3_600_000).toISOString();
    const again = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: log, MAILPOLL_NOW: hourLater } });
    assert.equal(again.code, 1);
    const retried = (await handlerCalls(log)).slice(calls).map((call) => call.subject);
    assert.deepEqual(retried, ['[11] 5', '[12] "foo"', '[13] {}', '[14] throw']);
    assert.deepEqual(
      messageEvents(again).map((e) => [e.subject, e.status]),
      retried.map((subject) => [subject, 'failed']),
    );
  });

  test('the handler receives the exact source, size and flags', async () => {
    const creds = await mailbox(['[1] "keep"']);
    const dir = await writeConfig({ script: HANDLER, accounts: [imapAccount(creds)] });
    const log = join(dir, 'calls.ndjson');
    const result = await runCli([], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.equal(result.code, 0, result.stderr);
    const [call] = await handlerCalls(log);
    const [stored] = await state(creds.user);
    const bytes = (await readFile(stored!.file)).length;
    assert.equal(call?.rawBytes, bytes);
    assert.equal(call?.size, bytes);
    assert.equal(call?.dryRun, false);
    assert.equal(call?.account, 'support');
    // Handler logs go to stderr, prefixed with the account; stdout holds only the report.
    assert.match(result.stderr, /\[support\] handling \[1\] "keep"/);
    assert.doesNotMatch(result.stdout, /handling/);
  });
});

describe('cycle options', () => {
  test('--dry-run runs the handler but changes nothing on the server', async () => {
    const creds = await mailbox(['[1] 1', '[2] "markSeen"', '[3] "move:Elsewhere"']);
    const dir = await writeConfig({ script: HANDLER, accounts: [imapAccount(creds)] });
    const log = join(dir, 'calls.ndjson');
    const before = await state(creds.user);
    const result = await runCli(['--json', '--dry-run'], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      messageEvents(result).map((e) => [e.action, e.status]),
      [
        ['delete', 'dry-run'],
        ['markSeen', 'dry-run'],
        ['move', 'dry-run'],
      ],
    );
    assert.ok((await handlerCalls(log)).every((call) => call.dryRun === true));
    const afterRun = await state(creds.user);
    assert.deepEqual(
      afterRun.map((m) => [m.subject, m.folder, m.flags.includes('S')]),
      before.map((m) => [m.subject, m.folder, m.flags.includes('S')]),
    );
    assert.equal(result.events.at(-1)?.dryRun, true);
  });

  test('--first stops after the first successfully processed message', async () => {
    const creds = await mailbox(['[1] throw', '[2] "markSeen"', '[3] "markSeen"', '[4] "markSeen"']);
    const dir = await writeConfig({ script: HANDLER, accounts: [imapAccount(creds)] });
    const result = await runCli(['--json', '--first'], { cwd: dir });
    assert.equal(result.code, 1, 'the failure before the first success is still reported');
    assert.deepEqual(
      messageEvents(result).map((e) => [e.subject, e.status]),
      [
        ['[1] throw', 'failed'],
        ['[2] "markSeen"', 'ok'],
      ],
    );
    const stored = await state(creds.user);
    expectMessage(stored, '[2] "markSeen"', { folder: '', seen: true });
    expectMessage(stored, '[3] "markSeen"', { folder: '', seen: false });
    expectMessage(stored, '[4] "markSeen"', { folder: '', seen: false });
  });

  test('maxMessages and --limit take the oldest first; the rest waits for the next run', async () => {
    const creds = await mailbox(['[1] "markSeen"', '[2] "markSeen"', '[3] "markSeen"', '[4] "markSeen"', '[5] "markSeen"']);
    const dir = await writeConfig({ script: HANDLER, accounts: [imapAccount(creds, { maxMessages: 3 })] });
    const first = await runCli(['--json', '--limit', '2'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(messageEvents(first).map((e) => e.subject), ['[1] "markSeen"', '[2] "markSeen"']);
    const second = await runCli(['--json'], { cwd: dir });
    assert.deepEqual(messageEvents(second).map((e) => e.subject), ['[3] "markSeen"', '[4] "markSeen"', '[5] "markSeen"']);
    const third = await runCli(['--json'], { cwd: dir });
    assert.deepEqual(messageEvents(third), [], 'nothing left to do');
    assert.equal(third.code, 0);
  });

  test('onlyUnseen (default) skips read mail; onlyUnseen: false takes it too', async () => {
    const creds = await mailbox(['[1] "keep"', '[2] "keep"'], { seen: ['[1] "keep"'] });
    const dir = await writeConfig({ script: HANDLER, accounts: [imapAccount(creds)] });
    const unseenOnly = await runCli(['--json'], { cwd: dir });
    assert.deepEqual(messageEvents(unseenOnly).map((e) => e.subject), ['[2] "keep"']);
    await writeConfig({ script: HANDLER, accounts: [imapAccount(creds, { onlyUnseen: false })] }, dir);
    const all = await runCli(['--json'], { cwd: dir });
    // The read message comes in now; the other was kept by the first run and is done in the ledger.
    assert.deepEqual(messageEvents(all).map((e) => e.subject), ['[1] "keep"']);
  });

  test('after: move with a nested moveTo creates the folder', async () => {
    const creds = await mailbox(['[1] undefined', '[2] "move"']);
    const dir = await writeConfig({
      script: HANDLER,
      accounts: [imapAccount(creds, { after: 'move', moveTo: 'Inbox/Processed/2026' })],
    });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const stored = await state(creds.user);
    expectMessage(stored, '[1] undefined', { folder: 'INBOX.Processed.2026', seen: false });
    expectMessage(stored, '[2] "move"', { folder: 'INBOX.Processed.2026', seen: false });
  });

  test('a hanging handler is cut by handlerTimeout and the message stays untouched', async () => {
    const creds = await mailbox(['[1] hang', '[2] "markSeen"']);
    const dir = await writeConfig({ script: HANDLER, accounts: [imapAccount(creds, { handlerTimeout: '1s' })] });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    const [hung, ok] = messageEvents(result);
    assert.equal(hung?.status, 'failed');
    assert.match(String(hung?.error), /timed out after 1s/);
    assert.equal(ok?.status, 'ok');
    expectMessage(await state(creds.user), '[1] hang', { folder: '', seen: false });
  });
});

describe('connections, TLS and failures', () => {
  test('STARTTLS and implicit TLS verified against the CA', async () => {
    const creds = await mailbox(['[1] "keep"']);
    for (const account of [
      imapAccount(creds, { tls: 'starttls', port: dovecot.ports.imap }),
      imapAccount(creds, { tls: 'implicit', port: dovecot.ports.imaps }),
    ]) {
      const dir = await writeConfig({ script: HANDLER, accounts: [account] });
      const result = await runCli(['--json'], { cwd: dir });
      assert.equal(result.code, 0, `${String(account.tls)}: ${result.stderr}${result.stdout}`);
      assert.equal(messageEvents(result).length, 1);
    }
  });

  test('a certificate that is not trusted is refused, naming the fix', async () => {
    const creds = await mailbox(['[1] "keep"']);
    for (const account of [
      imapAccount(creds, { tls: 'implicit', ca: undefined }),
      imapAccount(creds, { tls: 'starttls', port: dovecot.ports.imap, ca: undefined }),
    ]) {
      const dir = await writeConfig({ script: HANDLER, accounts: [account] });
      const result = await runCli([], { cwd: dir });
      assert.equal(result.code, 3, `${String(account.tls)}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /support.*certificate.*ca:/i);
      assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, 'no stack trace');
    }
    expectMessage(await state(creds.user), '[1] "keep"', { folder: '', seen: false });
  });

  test('a wrong password gives exit 3 while a second account still succeeds; no password is printed', async () => {
    const good = await mailbox(['[1] "markSeen"']);
    const bad = await mailbox(['[1] "markSeen"']);
    const dir = await writeConfig({
      script: HANDLER,
      accounts: [
        imapAccount(bad, { name: 'broken', password: 'wrong-Pa55word' }),
        imapAccount(good, { name: 'support' }),
      ],
    });
    for (const args of [[], ['--json']]) {
      const result = await runCli(args, { cwd: dir });
      assert.equal(result.code, 3, result.stdout + result.stderr);
      assert.match(result.stdout, /broken.*login failed/);
      assert.doesNotMatch(result.stdout + result.stderr, /wrong-Pa55word|pw-\d+-s3cret/);
    }
    expectMessage(await state(good.user), '[1] "markSeen"', { folder: '', seen: true });
    expectMessage(await state(bad.user), '[1] "markSeen"', { folder: '', seen: false });
  });

  test('an unreachable server names the account, host:port and cause; 3 wins over 1', async () => {
    const creds = await mailbox(['[1] throw']);
    const dir = await writeConfig({
      script: HANDLER,
      accounts: [
        imapAccount(creds),
        { name: 'down', protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'x', password: 'y' },
      ],
    });
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.match(result.stdout, /down.*127\.0\.0\.1:1.*refused/);
    assert.match(result.stdout, /support ref:\d+ .*failed: .*boom from handler/);
  });

  test('mailpoll check shows counts and fails with exit 3 for a bad account', async () => {
    const creds = await mailbox(['[1] "keep"', '[2] "keep"'], { seen: ['[1] "keep"'] });
    const dir = await writeConfig({
      accounts: [imapAccount(creds), imapAccount(creds, { name: 'broken', password: 'nope' })],
    });
    const result = await runCli(['check', '--json'], { cwd: dir });
    assert.equal(result.code, 3, result.stderr);
    const [ok, broken] = result.events;
    assert.deepEqual([ok?.status, ok?.folder, ok?.total, ok?.unseen], ['ok', 'INBOX', 2, 1]);
    assert.equal(broken?.status, 'error');
    assert.equal(broken?.code, 'E_AUTH');
    const good = await runCli(['check', '-a', 'support'], { cwd: dir });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /support: imap 127\.0\.0\.1:\d+ INBOX: 2 messages, 1 unseen ok/);
  });

  test('text report: one line per message and a summary per account', async () => {
    const creds = await mailbox(['[1] 1', '[2] throw']);
    const dir = await writeConfig({ script: HANDLER, accounts: [imapAccount(creds)] });
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 1);
    const lines = result.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^support ref:\d+ Sender <sender@example\.com> "\[1\] 1" delete \+transition ok$/);
    assert.match(lines[1] ?? '', /^support ref:\d+ .* "\[2\] throw" failed: handler failed: boom from handler$/);
    assert.match(lines[2] ?? '', /^support: 2 fetched, 1 processed, 1 failed, 1 transition/);
    assert.doesNotMatch(result.stdout, /\u001b\[/, 'no colours when not a TTY / NO_COLOR');
  });
});
