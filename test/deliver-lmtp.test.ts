/**
 * Built-in delivery over LMTP into Dovecot's own LMTP service (dovecot-lmtpd), enabled in
 * this file's private Dovecot only: the message lands in the user's Maildir unchanged (after
 * the trace headers Dovecot adds); each recipient's answer counts: a user over quota (452,
 * temporary) and an unknown user (550, counted).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { maildirWith } from './helpers/maildir-source.js';
import { useDovecot } from './helpers/use-dovecot.js';

/** A free port, known before the Dovecot config is written (module load: no await). */
const LMTP_PORT = Number(execFileSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"], { encoding: 'utf8' }).trim());

const dovecot = useDovecot(
  {
    extraConfig: `protocols = imap pop3 lmtp
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${LMTP_PORT}
  }
}
protocol lmtp {
  mail_plugins = $mail_plugins quota
}
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=40K
}
quota_full_tempfail = yes`,
  },
  async (server) => {
    await server.addUser('lena', 'secret');
    await server.addUser('otto', 'secret');
    // otto is nearly at his quota: a 25 KB message no longer fits for him, but does for lena.
    await server.deliver('otto', `Subject: filler\r\n\r\n${'z'.repeat(76).concat('\r\n').repeat(400)}`);
  },
);

const SOURCE = 'From: Ann <ann@example.com>\r\nTo: lena@example.com\r\nSubject: via lmtp\r\nMessage-ID: <lmtp1@test>\r\n\r\nbody line\r\nFrom the start\r\n';

async function delivered(user: string): Promise<string[]> {
  const folder = join(dovecot.maildir(user), 'new');
  const names = await readdir(folder).catch(() => []);
  return Promise.all(names.map((name) => readFile(join(folder, name), 'utf8')));
}

async function account(source: string, deliverTo: string | string[], extra: Record<string, unknown> = {}) {
  const path = await maildirWith([source]);
  return writeConfig({ accounts: [{ name: 'lmtp', protocol: 'maildir', path, deliver: `lmtp://127.0.0.1:${LMTP_PORT}`, deliverTo, ...extra }] });
}

test('2xx: over STARTTLS (Dovecot offers it; its CA trusted through NODE_EXTRA_CA_CERTS), delivered into the user\'s Maildir, the source unchanged after its trace headers', async () => {
  const dir = await account(SOURCE, 'lena');
  // Without the test CA the STARTTLS handshake fails: proof that TLS was used, as it is offered.
  const untrusted = await runCli(['--json'], { cwd: dir });
  assert.deepEqual(messageEvents(untrusted).map((e) => [e.status, e.code]), [['failed', 'E_HANDLER_TEMPORARY']]);
  assert.match(String(messageEvents(untrusted)[0]?.error), /certificate/);
  assert.deepEqual(await delivered('lena'), []);
  const result = await runCli(['--json'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: dovecot.caFile } });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(messageEvents(result).map((e) => [e.action, e.status]), [['markSeen', 'ok']]);
  const [stored] = await delivered('lena');
  assert.ok(stored?.endsWith(SOURCE.replace(/\r\n/g, '\n')), `the source at the end of ${stored}`);
});

test('per-recipient answers: one user over quota (452) among two fails the message as temporary, naming only that user', async () => {
  const big = `${SOURCE}${'y'.repeat(76).concat('\r\n').repeat(320)}`;
  const before = (await delivered('lena')).length;
  const dir = await account(big, ['otto', 'lena'], { maxAttempts: 1 });
  const result = await runCli(['--json'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: dovecot.caFile } });
  assert.equal(result.code, 1, result.stderr);
  const [event] = messageEvents(result);
  assert.deepEqual([event?.status, event?.code], ['failed', 'E_HANDLER_TEMPORARY']);
  assert.match(String(event?.error), /LMTP delivery to lmtp:\/\/127\.0\.0\.1:\d+ failed: otto: 452 4\.2\.2/);
  assert.doesNotMatch(String(event?.error), /lena/);
  assert.equal((await delivered('lena')).length, before + 1, 'lena accepted it');
});

test('5xx: an unknown user is a failure that counts (maxAttempts 1 quarantines)', async () => {
  const dir = await account(SOURCE, 'nobody-here', { maxAttempts: 1 });
  const result = await runCli(['--json'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: dovecot.caFile } });
  assert.equal(result.code, 1, result.stderr);
  const [event] = messageEvents(result);
  assert.equal(event?.status, 'quarantined');
  assert.match(String(event?.error), /5\d\d/);
});
