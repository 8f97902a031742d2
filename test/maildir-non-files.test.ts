/**
 * Only regular files in a Maildir are messages. A symlink (to a secret file), a FIFO or a
 * folder in new/ or cur/ is skipped with a warning naming it, and left as it is: never read,
 * handed to the handler, archived, moved or deleted; the other messages are handled as usual
 * and the run exits 0 (a warning, not a failure). Through the real CLI.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, readdir, readlink, rename, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { createMaildirMailbox } from '../src/mailbox/maildir.js';
import type { FetchedMessage } from '../src/mailbox/types.js';
import { accountConfig } from './helpers/account.js';
import { FIXTURES, messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';

const HANDLER = join(FIXTURES, 'handlers', 'spec-from-subject.mjs');

/** Looks like mail on purpose: if it were followed, it would be parsed and its subject obeyed (delete). */
const SECRET = 'From: root@example.com\r\nSubject: [9] 1\r\nMessage-ID: <secret@test>\r\n\r\nTOP SECRET root:$6$hash\r\n';

function mail(subject: string, index: number): string {
  return `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <nf${index}@test>\r\nDate: Thu, 01 Jan 2026 10:0${index}:00 +0000\r\n\r\nbody ${index}\r\n`;
}

interface Layout {
  maildir: string;
  secret: string;
  /** The names that are not regular files, relative to the Maildir, with what they are. */
  nonFiles: Array<{ name: string; kind: 'symlink' | 'fifo' | 'folder' }>;
}

async function hostileMaildir(): Promise<Layout> {
  const root = await makeTempDir('nonfile');
  const maildir = join(root, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(maildir, sub), { recursive: true });
  const secret = join(root, 'shadow');
  await writeFile(secret, SECRET);

  const messages = [
    ['new/1767000001.M1P1.test', mail('[1] 1', 1)],
    ['cur/1767000002.M2P1.test:2,', mail('[2] "move:Archive"', 2)],
  ] as const;
  for (const [index, [name, raw]] of messages.entries()) {
    await writeFile(join(maildir, name), raw);
    await utimes(join(maildir, name), 1_767_000_000 + index, 1_767_000_000 + index);
  }

  const nonFiles: Layout['nonFiles'] = [
    { name: 'new/1767000003.M3P1.link', kind: 'symlink' },
    { name: 'new/1767000004.M4P1.fifo', kind: 'fifo' },
    { name: 'new/1767000005.M5P1.dir', kind: 'folder' },
    { name: 'cur/1767000006.M6P1.link:2,', kind: 'symlink' },
    { name: 'cur/1767000007.M7P1.fifo:2,', kind: 'fifo' },
    { name: 'cur/1767000008.M8P1.dir:2,', kind: 'folder' },
    // A name that would rewrite the terminal if printed as it is (ESC ] 0 ; title BEL).
    { name: 'new/1767000009.\u001b]0;pwned\u0007.link', kind: 'symlink' },
  ];
  for (const { name, kind } of nonFiles) {
    const path = join(maildir, name);
    if (kind === 'symlink') await symlink(secret, path);
    if (kind === 'fifo') await promisify(execFile)('mkfifo', [path]);
    if (kind === 'folder') await mkdir(path);
  }
  return { maildir, secret, nonFiles };
}

/** What each non-file is now: still the same kind, the symlinks still pointing at the secret. */
async function describeNonFiles(layout: Layout): Promise<string[]> {
  return Promise.all(
    layout.nonFiles.map(async ({ name }) => {
      const stats = await lstat(join(layout.maildir, name));
      if (stats.isSymbolicLink()) return `${name} -> ${await readlink(join(layout.maildir, name))}`;
      return `${name} ${stats.isFIFO() ? 'fifo' : stats.isDirectory() ? 'folder' : 'other'}`;
    }),
  );
}

describe('maildir entries that are not regular files', () => {
  test('a symlink, a FIFO and a folder in new/ and cur/ are skipped with a warning and left alone', async () => {
    const layout = await hostileMaildir();
    const before = await describeNonFiles(layout);
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path: layout.maildir }] });
    const log = join(dir, 'handler.log');

    const result = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: log } });
    // A FIFO opened for reading would block forever: the run would be killed (code null).
    assert.equal(result.code, 0, `a skipped non-file is a warning, not a failure: ${result.stderr}`);

    // The real messages were handled as usual, and only they.
    assert.deepEqual(
      messageEvents(result).map((event) => [event.subject, event.action, event.status]),
      [
        ['[1] 1', 'delete', 'ok'],
        ['[2] "move:Archive"', 'move', 'ok'],
      ],
    );
    const calls = (await readFile(log, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { subject: string });
    assert.deepEqual(calls.map((call) => call.subject), ['[1] 1', '[2] "move:Archive"'], 'the secret never reached the handler');
    assert.deepEqual(await readdir(join(layout.maildir, '.Archive', 'cur')), ['1767000002.M2P1.test:2,']);

    // One warning per non-file, naming it (controls escaped) and what it is.
    const warnings = result.stderr.split('\n').filter((line) => line.includes('skipped'));
    assert.equal(warnings.length, layout.nonFiles.length, result.stderr);
    const words = { symlink: 'a symbolic link', fifo: 'a named pipe (FIFO)', folder: 'a folder' };
    for (const { name, kind } of layout.nonFiles) {
      const shown = join(layout.maildir, name).replace('\u001b', '\\u001b').replace('\u0007', '\\u0007');
      assert.ok(
        warnings.includes(`mailpoll: local: warning: skipped ${shown}: ${words[kind]}, not a message file; left as it is`),
        `no warning for ${JSON.stringify(name)} in:\n${result.stderr}`,
      );
    }
    assert.doesNotMatch(result.stderr, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no raw control character reaches the terminal');

    // Left exactly as they were, the secret untouched, nothing of it in the store.
    assert.deepEqual(await describeNonFiles(layout), before);
    assert.equal(await readFile(layout.secret, 'utf8'), SECRET);
    const history = await runCli(['history', '--json'], { cwd: dir });
    const records = history.events.filter((event) => event.type === 'record');
    assert.deepEqual(records.map((record) => record.subject).sort(), ['[1] 1', '[2] "move:Archive"']);
    for (const record of records) {
      const raw = await runCli(['show', String(record.ref), '--raw'], { cwd: dir });
      assert.doesNotMatch(raw.stdout, /TOP SECRET/);
    }

    // The next run says it again (they are still there), handles nothing, and still exits 0.
    const again = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(messageEvents(again).length, 0);
    assert.equal(again.stderr.split('\n').filter((line) => line.includes('skipped')).length, layout.nonFiles.length);
    assert.deepEqual(await describeNonFiles(layout), before);
  });

  test('check counts only the messages and warns about the rest', async () => {
    const layout = await hostileMaildir();
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path: layout.maildir }] });
    const result = await runCli(['check', '--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const [check] = result.events.filter((event) => event.type === 'check');
    assert.equal(check?.total, 2);
    assert.equal(result.stderr.split('\n').filter((line) => line.includes('skipped')).length, layout.nonFiles.length);
  });
});

describe('a message file swapped for a non-file after the scan', () => {
  // The file is looked up again without following symlinks before it is opened (and opened
  // with O_NOFOLLOW | O_NONBLOCK, checked on the descriptor, for a swap in the last instant):
  // the symlink is not followed, the FIFO neither read nor waited on (the timeout only turns
  // a hang into a failure).
  test('a symlink or a FIFO put in its place is refused at open, with a warning', { timeout: 20_000 }, async () => {
    const layout = await hostileMaildir();
    const warnings: string[] = [];
    const mailbox = createMaildirMailbox(
      accountConfig({ name: 'local', protocol: 'maildir', tls: 'none', path: layout.maildir }),
      { warn: (line) => warnings.push(line) },
    );
    await mailbox.open();
    const candidates = await mailbox.list({ onlyUnseen: false });
    assert.deepEqual(candidates.map((c) => c.uid), ['1767000001.M1P1.test', '1767000002.M2P1.test']);
    warnings.length = 0;

    const first = join(layout.maildir, 'new', '1767000001.M1P1.test');
    const second = join(layout.maildir, 'cur', '1767000002.M2P1.test:2,');
    await rename(first, `${first}.aside`);
    await symlink(layout.secret, first);
    await unlink(second);
    await promisify(execFile)('mkfifo', [second]);

    const fetched: FetchedMessage[] = [];
    for await (const message of mailbox.fetch(candidates)) fetched.push(message);
    assert.deepEqual(fetched, [], 'neither the secret nor the FIFO was read');
    assert.deepEqual(warnings.sort(), [
      `local: warning: skipped ${second}: a named pipe (FIFO), not a message file; left as it is`,
      `local: warning: skipped ${first}: a symbolic link, not a message file; left as it is`,
    ]);
    assert.ok((await lstat(first)).isSymbolicLink());
    assert.ok((await lstat(second)).isFIFO());
    await mailbox.close();
  });
});
