/**
 * Folder names that can never work: refused by `validate` (exit 2, the usual `path: expected`
 * line), and looked up literally by the IMAP adapter before it creates a move target.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createImapMailbox } from '../src/mailbox/imap/mailbox.js';
import { runCli, writeConfig } from './helpers/cli.js';
import { message } from './helpers/dovecot.js';
import { scenario } from './helpers/scenario.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot();

const IMAP = { protocol: 'imap', host: 'imap.example.com', user: 'ann', password: 'x' };

test('validate rejects moveTo and quarantineFolder with wildcards, ".." segments, control characters, or the polled folder', async () => {
  const dir = await writeConfig({
    script: './handler.mjs',
    accounts: [
      { ...IMAP, name: 'a', moveTo: 'Done/*', quarantineFolder: '../Quarantine' },
      { ...IMAP, name: 'b', moveTo: 'Done\u0007', quarantineFolder: 'Spam%' },
      { ...IMAP, name: 'c', folder: 'Inbox/Support', moveTo: 'INBOX/Support/', quarantineFolder: 'inbox' },
    ],
  });
  const result = await runCli(['validate'], { cwd: dir });
  assert.equal(result.code, 2, result.stdout + result.stderr);
  for (const line of [
    /accounts\[0\]\.moveTo: expected a folder name without the IMAP wildcards \* and %, got "Done\/\*"/,
    /accounts\[0\]\.quarantineFolder: expected a folder name without "\." or "\.\." segments, got "\.\.\/Quarantine"/,
    /accounts\[1\]\.moveTo: expected a folder name without control characters, got "Done\\u0007"/,
    /accounts\[1\]\.quarantineFolder: expected a folder name without the IMAP wildcards \* and %, got "Spam%"/,
    /accounts\[2\]\.moveTo: is the folder being polled \("INBOX\/Support\/"\); name another folder/,
  ]) {
    assert.match(result.stderr, line);
  }
  assert.doesNotMatch(result.stderr, /accounts\[2\]\.quarantineFolder/, 'INBOX is not the polled Inbox/Support');
});

test('the existence check before CREATE names the folder literally: a pattern matching other folders does not count', async () => {
  await dovecot.addUser('lit', 'pw-lit-S3cret');
  await dovecot.deliver('lit', message({ subject: 'one', messageId: '<one@test>' }));
  await dovecot.deliver('lit', message({ subject: 'two', messageId: '<two@test>' }));
  const account = scenario(dovecot).adapterAccount('imap', { user: 'lit', password: 'pw-lit-S3cret' });
  const lines: string[] = [];
  const mailbox = createImapMailbox(account, { logger: { debug: (line) => lines.push(line) } });
  try {
    await mailbox.open();
    // Once Archive exists, `LIST "" "Arch%"` matches something while "Arch%" itself does not exist.
    const [first, second] = (await mailbox.list({ onlyUnseen: false })).map((candidate) => candidate.uid);
    assert.deepEqual((await mailbox.apply([{ uid: first!, action: 'move', folder: 'Archive' }])).map((r) => r.status), ['done']);
    const [result] = await mailbox.apply([{ uid: second!, action: 'move', folder: 'Arch%' }]);
    // The adapter itself accepts any name the server does (validate and results refuse wildcards earlier).
    assert.equal(result?.status, 'done', String(result?.error));
    assert.ok(lines.some((line) => /^C: \S+ CREATE "Arch%"$/.test(line)), 'created, not mistaken for Archive');
  } finally {
    await mailbox.close();
  }
});
