/**
 * Built-in delivery over SMTP to a real SMTP server started by the test (aiosmtpd): the
 * message unchanged with its envelope, a 4xx answer a temporary failure (not counted), a
 * 5xx one that counts, and a crash between delivery and the ledger's record.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { BIN, messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { maildirWith } from './helpers/maildir-source.js';
import { startSmtpServer, type SmtpServer } from './helpers/smtp-server.js';

const SOURCE = Buffer.from(
  'Return-Path: <bounces@example.org>\r\nFrom: Ann <ann@example.com>\r\nTo: bob@example.com\r\nSubject: forwarded\r\nMessage-ID: <smtp1@test>\r\n\r\nfirst line\r\n.a line starting with a dot\r\nFrom here on\r\ncaf\xe9\r\n',
  'latin1',
);

describe('deliver: smtp://', () => {
  let server: SmtpServer;
  before(async () => {
    server = await startSmtpServer();
  });
  after(async () => {
    await server.stop();
  });

  async function account(deliverTo: string | string[], extra: Record<string, unknown> = {}) {
    const path = await maildirWith([SOURCE]);
    return writeConfig({ accounts: [{ name: 'fwd', protocol: 'maildir', path, deliver: `smtp://127.0.0.1:${server.port}`, deliverTo, ...extra }] });
  }

  test('2xx: the message unchanged, envelope sender from Return-Path, recipients from deliverTo; then after applies', async () => {
    const before = (await server.received()).length;
    const dir = await account(['bob@example.com', 'carol@example.com']);
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => [e.action, e.status]), [['markSeen', 'ok']]);
    const received = (await server.received()).slice(before);
    assert.equal(received.length, 1);
    assert.equal(received[0]!.from, 'bounces@example.org');
    assert.deepEqual(received[0]!.to, ['bob@example.com', 'carol@example.com']);
    assert.equal(received[0]!.raw.toString('hex'), SOURCE.toString('hex'));
  });

  test('4xx: a temporary failure, not counted towards maxAttempts, offered again', async () => {
    const dir = await account('temp@example.com', { maxAttempts: 1 });
    for (let run = 0; run < 2; run += 1) {
      const result = await runCli(['--json'], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      const events = messageEvents(result);
      assert.deepEqual(events.map((e) => [e.status, e.code]), [['failed', 'E_HANDLER_TEMPORARY']]);
      assert.match(String(events[0]?.error), /SMTP delivery to smtp:\/\/127\.0\.0\.1:\d+ failed: .*451 4\.3\.0 mailbox busy/);
    }
  });

  test('5xx: a failure that counts (maxAttempts 1 quarantines)', async () => {
    const dir = await account('perm@example.com', { maxAttempts: 1 });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    const events = messageEvents(result);
    assert.equal(events[0]?.status, 'quarantined');
    assert.match(String(events[0]?.error), /550 5\.1\.1 no such user here/);
  });

  test('one recipient refused among several: the message fails (5xx counts), naming the recipient', async () => {
    const dir = await account(['bob@example.com', 'perm@example.com']);
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.match(String(messageEvents(result)[0]?.error), /550 5\.1\.1/);
  });

  test('requireTls against a server without STARTTLS: nothing sent, a temporary failure', async () => {
    const before = (await server.received()).length;
    const dir = await account('bob@example.com', { requireTls: true });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => [e.status, e.code]), [['failed', 'E_HANDLER_TEMPORARY']]);
    assert.match(String(messageEvents(result)[0]?.error), /TLS not available/);
    assert.equal((await server.received()).length, before);
  });

  test('killed between the server\'s acceptance and the ledger: delivered again by the next run, so twice, never more', async () => {
    const before = (await server.received()).length;
    const dir = await account('crash@example.com');
    const child = spawn(process.execPath, [BIN, '--json'], { cwd: dir, stdio: 'ignore', env: { ...process.env, XDG_STATE_HOME: dir } });
    writeFileSync(server.killFile, String(child.pid));
    const signal = await new Promise((resolve) => child.once('exit', (_code, name) => resolve(name)));
    assert.equal(signal, 'SIGKILL', 'the server killed mailpoll while it waited for the answer');
    assert.equal((await server.received()).length, before + 1);

    const again = await runCli(['--json'], { cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(messageEvents(again).map((e) => [e.action, e.status]), [['markSeen', 'ok']]);
    const third = await runCli(['--json'], { cwd: dir });
    assert.deepEqual(messageEvents(third), [], 'handled now: never a third copy');
    const copies = (await server.received()).slice(before);
    assert.equal(copies.length, 2);
    assert.ok(copies.every((copy) => copy.raw.equals(SOURCE)));
  });
});
