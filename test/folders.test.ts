/**
 * `folders:` through the real CLI against a real Dovecot whose namespace marks Trash, Junk,
 * Sent and Drafts as SPECIAL-USE (a Dovecot of this file's own): a list, a pattern, `all`,
 * a folder deleted between runs, and what `validate` refuses.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, messageEvents, runCli, startCli, writeConfig } from './helpers/cli.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { scenario, type Credentials } from './helpers/scenario.js';

const KEEP_HANDLER = join(FIXTURES, 'handlers', 'echo-subject.mjs');

const SPECIAL_USE = `namespace inbox {
  inbox = yes
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Drafts {
    special_use = \\Drafts
  }
}`;

const dovecot = useDovecot({ extraConfig: SPECIAL_USE });
const world = scenario(dovecot);

/** One message per folder, its subject naming the folder; folders created by an IMAP client. */
async function seed(folders: string[]): Promise<Credentials> {
  const creds = await world.user();
  const client = dovecot.imapClient(creds.user, creds.password);
  await client.connect();
  for (const folder of folders) {
    if (folder !== 'INBOX') await client.mailboxCreate(folder.split('/'));
    await client.append(folder === 'INBOX' ? 'INBOX' : folder.split('/').join(client.namespace?.delimiter ?? '.'), message({ subject: `in ${folder}` }));
  }
  await client.logout();
  return creds;
}

async function run(creds: Credentials, extra: Record<string, unknown>) {
  const dir = await writeConfig({ script: KEEP_HANDLER, accounts: [world.imapAccount(creds, extra)] });
  return { dir, result: await runCli(['--json'], { cwd: dir }) };
}

const FOLDERS = ['INBOX', 'Support', 'Projects/A', 'Projects/B', 'Projects/B/Deep', 'Trash', 'Junk', 'Sent', 'Drafts', 'Archive'];

/** Folder of each message event, by subject. */
function foldersBySubject(events: Array<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(events.map((event) => [String(event.subject), event.folder]));
}

test('folders: a list and patterns read each named folder and name it in every event', async () => {
  const creds = await seed(FOLDERS);
  const { result } = await run(creds, { folders: ['INBOX', 'Support', 'Projects/%'] });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const seen = foldersBySubject(messageEvents(result));
  assert.deepEqual(Object.keys(seen).sort(), ['in INBOX', 'in Projects/A', 'in Projects/B', 'in Support']);
  assert.match(String(seen['in Projects/A']), /^Projects.A$/);
  assert.equal(seen['in Support'], 'Support');
  // One connection for all of them (the seeding client logged in once before).
  const logins = (await dovecot.logLines()).filter((line) => line.includes('Login: user=<' + creds.user + '>'));
  assert.equal(logins.length, 2, logins.join('\n'));
});

test('folders: "Projects/*" reaches every depth, and a second run hands nothing over again', async () => {
  const creds = await seed(FOLDERS);
  const { dir, result } = await run(creds, { folders: ['Projects/*'] });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.deepEqual(messageEvents(result).map((event) => event.subject).sort(), ['in Projects/A', 'in Projects/B', 'in Projects/B/Deep']);
  const again = await runCli(['--json'], { cwd: dir });
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(messageEvents(again).length, 0);
  // history and show name each message's folder.
  const history = await runCli(['history'], { cwd: dir });
  assert.match(history.stdout, /Projects.B.Deep/, history.stdout + history.stderr);
  const show = await runCli(['show', '1'], { cwd: dir });
  assert.match(show.stdout, /\/Projects.A|\/Projects.B/, show.stdout + show.stderr);
});

test('folders: all skips the special-use folders and the account\'s moveTo', async () => {
  const creds = await seed(FOLDERS);
  const { result } = await run(creds, { folders: 'all', moveTo: 'Archive' });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.deepEqual(messageEvents(result).map((event) => event.subject).sort(), ['in INBOX', 'in Projects/A', 'in Projects/B', 'in Projects/B/Deep', 'in Support']);
});

test('folders: a folder deleted between runs is an error naming it; the others are still read (exit 3)', async () => {
  const creds = await seed(['INBOX', 'Support', 'Gone']);
  const { dir, result } = await run(creds, { folders: ['INBOX', 'Gone', 'Support'] });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(messageEvents(result).length, 3);

  const client = dovecot.imapClient(creds.user, creds.password);
  await client.connect();
  await client.mailboxDelete('Gone');
  await client.append('INBOX', message({ subject: 'new in INBOX' }));
  await client.append('Support', message({ subject: 'new in Support' }));
  await client.logout();

  const second = await runCli(['--json'], { cwd: dir });
  assert.equal(second.code, 3, second.stdout + second.stderr);
  assert.deepEqual(messageEvents(second).map((event) => event.subject).sort(), ['new in INBOX', 'new in Support']);
  const account = second.events.find((event) => event.type === 'account');
  assert.match(String(account?.error), /"Gone" matches no folder/);
  assert.equal(account?.processed, 2);
});

test('validate: folder with folders, and folders on POP3 and Maildir, are refused', async () => {
  const dir = await writeConfig({
    script: KEEP_HANDLER,
    accounts: [
      { name: 'both', protocol: 'imap', host: 'imap.example.com', user: 'u', password: 'p', folder: 'INBOX', folders: ['Support'] },
      { name: 'pop', protocol: 'pop3', host: 'pop.example.com', user: 'u', password: 'p', folders: ['INBOX'] },
      { name: 'md', protocol: 'maildir', path: './Maildir', folders: 'all' },
      { name: 'empty', protocol: 'imap', host: 'imap.example.com', user: 'u', password: 'p', folders: [] },
      { name: 'loop', protocol: 'imap', host: 'imap.example.com', user: 'u', password: 'p', folders: ['INBOX', 'Archive'], after: 'move', moveTo: 'Archive' },
    ],
  });
  const result = await runCli(['validate'], { cwd: dir });
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(result.stderr, /accounts\[0\]\.folders: cannot be used together with folder/);
  assert.match(result.stderr, /accounts\[1\]\.folders/);
  assert.match(result.stderr, /accounts\[2\]\.folders/);
  assert.match(result.stderr, /accounts\[3\]\.folders: expected at least one folder/);
  assert.match(result.stderr, /accounts\[4\]\.moveTo: is the folder being polled \("Archive"\)/);
});

test('folders: a message quarantined out of one folder is counted, and retry -a moves it back to that folder', async () => {
  const creds = await seed(['INBOX']);
  const client = dovecot.imapClient(creds.user, creds.password);
  await client.connect();
  await client.mailboxCreate('Support');
  await client.append('Support', message({ subject: 'please refuse' }));
  await client.logout();
  const { dir, result } = await run(creds, { folders: ['INBOX', 'Support'], maxAttempts: 1, quarantineFolder: 'Held' });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(result.events.find((event) => event.type === 'account')?.quarantined, 1);

  const retry = await runCli(['retry', '-a', 'support'], { cwd: dir });
  assert.equal(retry.code, 0, retry.stdout + retry.stderr);
  const check = dovecot.imapClient(creds.user, creds.password);
  await check.connect();
  const support = await check.status('Support', { messages: true });
  const held = await check.status('Held', { messages: true });
  await check.logout();
  assert.ok(support !== false && held !== false);
  assert.equal(support.messages, 1);
  assert.equal(held.messages, 0);
});

test('--watch: an account with folders and idle: true polls every interval, and the start says so', async () => {
  const creds = await seed(['INBOX', 'Support']);
  const dir = await writeConfig({ script: KEEP_HANDLER, accounts: [world.imapAccount(creds, { folders: ['INBOX', 'Support'], idle: true, interval: '1s' })] });
  const cli = startCli(['--watch', '--json'], { cwd: dir });
  try {
    const started = await cli.waitFor((event) => event.type === 'watch' && event.state === 'started', 'the start');
    assert.match(String(started.reason), /no IDLE with folders \(polling every interval\): support/);
    const cycle = await cli.waitFor((event) => event.type === 'cycle', 'the first cycle');
    assert.equal(cycle.idle, false);
    await cli.waitFor((event) => event.type === 'message' && event.subject === 'in Support', 'the message in Support');
    // Mail arriving later in a folder that is not the first is picked up by the next poll.
    const client = dovecot.imapClient(creds.user, creds.password);
    await client.connect();
    await client.append('Support', message({ subject: 'later in Support' }));
    await client.logout();
    const later = await cli.waitFor((event) => event.type === 'message' && event.subject === 'later in Support', 'the later message', 20_000);
    assert.equal(later.folder, 'Support');
  } finally {
    cli.signal('SIGTERM');
    await cli.exited;
  }
});
