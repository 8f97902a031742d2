/**
 * Smoke test of the private Dovecot the integration tests run against: it starts, takes
 * users and mail, speaks implicit TLS and STARTTLS with our CA, and leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { message, startDovecot } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot({}, async (started) => {
  await started.addUser('ann', 'ann-password');
  await started.deliver('ann', message({ subject: 'first' }));
  await started.deliver('ann', message({ subject: 'second' }), { seen: true });
});

async function countMessages(options: { port: number; secure: boolean; doSTARTTLS?: boolean }): Promise<{ exists: number; secure: boolean }> {
  const client = dovecot.imapClient('ann', 'ann-password', options);
  await client.connect();
  try {
    const mailbox = await client.mailboxOpen('INBOX');
    return { exists: mailbox.exists, secure: Boolean(client.tls) || client.secureConnection };
  } finally {
    await client.logout();
  }
}

test('implicit TLS verified against the CA: the delivered messages are there', async () => {
  const result = await countMessages({ port: dovecot.ports.imaps, secure: true });
  assert.deepEqual(result, { exists: 2, secure: true });
});

test('STARTTLS on the plain port, verified against the CA', async () => {
  const result = await countMessages({ port: dovecot.ports.imap, secure: false, doSTARTTLS: true });
  assert.deepEqual(result, { exists: 2, secure: true });
});

test('deliver writes new/ and cur/:2,S, folders as Maildir++ subfolders', async () => {
  const inNew = await dovecot.deliver('ann', message({ subject: 'x' }), { folder: 'Archive/2024' });
  const inCur = await dovecot.deliver('ann', message({ subject: 'y' }), { seen: true, folder: 'Archive/2024' });
  const folder = `${dovecot.maildir('ann')}/.Archive.2024`;
  assert.ok(inNew.startsWith(`${folder}/new/`));
  assert.ok(inCur.startsWith(`${folder}/cur/`) && inCur.endsWith(':2,S'));
  assert.ok(existsSync(`${folder}/maildirfolder`));
});

test('the log has the session summary lines', async () => {
  await countMessages({ port: dovecot.ports.imaps, secure: true });
  // The session writes its summary just after answering LOGOUT.
  let lines: string[] = [];
  for (let tries = 0; tries < 100; tries += 1) {
    lines = await dovecot.logLines();
    if (lines.some((line) => /imap\(ann\).*Disconnected: Logged out/.test(line))) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`no session summary in the log:\n${lines.join('\n')}`);
});

test('killSessions ends open sessions', async () => {
  const client = dovecot.imapClient('ann', 'ann-password');
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await client.connect();
  await dovecot.killSessions();
  await closed;
  assert.equal(client.usable, false);
});

test('stop ends the master and open sessions and removes the directory', async () => {
  const own = await startDovecot();
  await own.addUser('bob', 'bob-password');
  const client = own.imapClient('bob', 'bob-password');
  await client.connect();
  assert.ok(processesOf(own.dir).length > 0);

  await own.stop();
  assert.deepEqual(processesOf(own.dir), []);
  assert.equal(existsSync(own.dir), false);
  await own.stop(); // safe twice
  client.close();
});

/** Live processes (not zombies) whose command line or title names this instance's directory. */
function processesOf(dir: string): string[] {
  const tag = dir.split('/').pop()!;
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(tag)) found.push(`${entry} ${cmdline}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}
