/**
 * Servers without UIDPLUS (Courier announces only `IMAP4rev1 CHILDREN NAMESPACE`): their only
 * EXPUNGE removes every message flagged \Deleted. mailpoll's deletes and moves must still
 * remove only its own messages: what another client flagged \Deleted without expunging stays,
 * flagged. A private Dovecot with UIDPLUS and MOVE left out of its announced capabilities
 * plays such a server (Dovecot itself would still take UID EXPUNGE: what counts is that
 * mailpoll reads the list and does without it). The verbose log shows which commands ran.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createImapMailbox } from '../src/mailbox/imap/mailbox.js';
import { accountConfig } from './helpers/account.js';
import { message, type Dovecot } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { runCli, writeConfig } from './helpers/cli.js';
import { scenario, SPEC_HANDLER, type Credentials } from './helpers/scenario.js';

/** Dovecot's own list without UIDPLUS, MOVE (and the rest of what imapflow could pick up). */
const BASE = ['IMAP4rev1', 'SASL-IR', 'LOGIN-REFERRALS', 'ID', 'ENABLE', 'IDLE', 'NAMESPACE', 'CHILDREN', 'LITERAL+'];

const bare = useDovecot({ imapCapability: BASE });
const uidplus = useDovecot({ imapCapability: [...BASE, 'UIDPLUS'] });

/**
 * A mailbox where another client has flagged "[0] other's" \Deleted and not expunged it
 * (read, so mailpoll's default onlyUnseen leaves it alone), then the messages `subjects`.
 */
async function mailboxWithOthersDeletion(dovecot: Dovecot, subjects: string[]): Promise<Credentials> {
  const creds = await scenario(dovecot).mailbox(["[0] other's", ...subjects], { seen: ["[0] other's"] });
  const client = dovecot.imapClient(creds.user, creds.password);
  await client.connect();
  try {
    await client.mailboxOpen('INBOX');
    const [uid] = (await client.search({ header: { subject: "[0] other's" } }, { uid: true })) || [];
    assert.ok(uid, "the other client's message");
    assert.ok(await client.messageFlagsAdd(String(uid), ['\\Deleted'], { uid: true }));
  } finally {
    await client.logout();
  }
  return creds;
}

/** The folder and IMAP flags (without the session-bound \Recent) of every message, by subject, asked over IMAP. */
async function serverView(dovecot: Dovecot, creds: Credentials, folders: string[]): Promise<Map<string, { folder: string; flags: string[] }>> {
  const client = dovecot.imapClient(creds.user, creds.password);
  await client.connect();
  const view = new Map<string, { folder: string; flags: string[] }>();
  try {
    for (const folder of ['INBOX', ...folders]) {
      await client.mailboxOpen(folder);
      for (const row of await client.fetchAll('1:*', { envelope: true, flags: true })) {
        view.set(row.envelope?.subject ?? '', { folder, flags: [...(row.flags ?? [])].filter((flag) => flag !== '\\Recent').sort() });
      }
    }
  } finally {
    await client.logout();
  }
  return view;
}

async function run(dovecot: Dovecot, creds: Credentials, extra: Record<string, unknown> = {}) {
  const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [scenario(dovecot).imapAccount(creds, extra)] });
  const result = await runCli(['--json', '-v'], { cwd: dir });
  return { ...result, dir, commands: clientLines(result.stderr) };
}

/** The IMAP commands mailpoll sent, without their tags: `UID EXPUNGE 2`, `EXPUNGE`. */
function clientLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((line) => /\bC: \S+ (.*)$/.exec(line)?.[1])
    .filter((line): line is string => line !== undefined);
}

describe('without UIDPLUS (and without MOVE)', () => {
  test("a delete leaves another client's \\Deleted message in place, flagged again", async () => {
    const creds = await mailboxWithOthersDeletion(bare, ['[1] "delete"']);
    const result = await run(bare, creds);
    assert.equal(result.code, 0, result.stderr);

    const view = await serverView(bare, creds, []);
    assert.equal(view.has('[1] "delete"'), false, 'our delete is carried out');
    assert.deepEqual(view.get("[0] other's"), { folder: 'INBOX', flags: ['\\Deleted', '\\Seen'] });
    assert.ok(result.commands.includes('EXPUNGE'), `a plain EXPUNGE: ${result.commands.join(' | ')}`);
    assert.ok(!result.commands.some((line) => line.startsWith('UID EXPUNGE')), 'no UID EXPUNGE: it was not announced');
  });

  test("a move (COPY, then expunge) leaves another client's \\Deleted message in place, flagged again", async () => {
    const creds = await mailboxWithOthersDeletion(bare, ['[1] {"action":"move","folder":"Done"}']);
    const result = await run(bare, creds);
    assert.equal(result.code, 0, result.stderr);

    const view = await serverView(bare, creds, ['Done']);
    assert.equal(view.get('[1] {"action":"move","folder":"Done"}')?.folder, 'Done');
    assert.deepEqual(view.get("[0] other's"), { folder: 'INBOX', flags: ['\\Deleted', '\\Seen'] });
    assert.ok(!result.commands.some((line) => /^UID (MOVE|EXPUNGE)\b/.test(line)), `neither UID MOVE nor UID EXPUNGE: ${result.commands.join(' | ')}`);
  });

  test('a delete flagged before a move: the move\'s expunge takes it along, and the next commit confirms it', async () => {
    const creds = await mailboxWithOthersDeletion(bare, ['[1] delete', '[2] move']);
    const mailbox = createImapMailbox(
      accountConfig({ protocol: 'imap', host: bare.host, port: bare.ports.imaps, ca: bare.caFile, user: creds.user, password: creds.password }),
    );
    try {
      await mailbox.open();
      const uids = new Map((await mailbox.list({ onlyUnseen: true })).map((candidate, index) => [index, candidate.uid]));
      assert.deepEqual((await mailbox.apply([{ uid: uids.get(0)!, action: 'delete' }])).map((result) => result.status), ['pending']);
      assert.deepEqual((await mailbox.apply([{ uid: uids.get(1)!, action: 'move', folder: 'Done' }])).map((result) => result.status), ['done']);
      assert.equal((await serverView(bare, creds, [])).has('[1] delete'), false, 'expunged with the moved original');
      assert.deepEqual(await mailbox.commit(), [uids.get(0)]);
      assert.deepEqual(await mailbox.commit(), []);
    } finally {
      await mailbox.close();
    }
    assert.deepEqual((await serverView(bare, creds, [])).get("[0] other's"), { folder: 'INBOX', flags: ['\\Deleted', '\\Seen'] });
  });

  test('deletes and moves in one run: each message ends where its decision says, the other client\'s stays', async () => {
    const creds = await mailboxWithOthersDeletion(bare, ['[1] "delete"', '[2] {"action":"move","folder":"Done"}', '[3] "markSeen"']);
    const result = await run(bare, creds);
    assert.equal(result.code, 0, result.stderr);
    const outcomes = result.events.filter((event) => event.type === 'message').map((event) => [event.subject, event.status]);
    assert.deepEqual(outcomes, [
      ['[1] "delete"', 'ok'],
      ['[2] {"action":"move","folder":"Done"}', 'ok'],
      ['[3] "markSeen"', 'ok'],
    ]);

    const view = await serverView(bare, creds, ['Done']);
    assert.deepEqual(
      [...view].map(([subject, where]) => [subject, where.folder, where.flags.join(' ')]).sort(),
      [
        ["[0] other's", 'INBOX', '\\Deleted \\Seen'],
        ['[2] {"action":"move","folder":"Done"}', 'Done', ''],
        ['[3] "markSeen"', 'INBOX', '\\Seen'],
      ],
    );
    // A second run finds nothing left to do (the deletes were counted done).
    const again = await runCli(['--json'], { cwd: result.dir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.events.filter((event) => event.type === 'message').length, 0);
  });

  test("mailpoll retry moves a quarantined message back without expunging the other client's deletion there", async () => {
    const creds = await scenario(bare).mailbox(['[1] "throw"']);
    const account = { maxAttempts: 1, quarantineFolder: 'Quarantine' };
    const first = await run(bare, creds, account);
    assert.equal(first.code, 1, first.stderr);
    // Another client leaves a deletion pending in the quarantine folder.
    await bare.deliver(creds.user, message({ subject: "[9] other's" }), { folder: 'Quarantine', seen: true });
    const client = bare.imapClient(creds.user, creds.password);
    await client.connect();
    try {
      await client.mailboxOpen('Quarantine');
      const found = await client.search({ header: { subject: "[9] other's" } }, { uid: true });
      assert.ok(Array.isArray(found) && found.length === 1);
      assert.ok(await client.messageFlagsAdd(String(found[0]), ['\\Deleted'], { uid: true }));
    } finally {
      await client.logout();
    }

    const retry = await runCli(['retry', '1'], { cwd: first.dir });
    assert.equal(retry.code, 0, retry.stderr);
    const view = await serverView(bare, creds, ['Quarantine']);
    assert.equal(view.get('[1] "throw"')?.folder, 'INBOX');
    assert.deepEqual(view.get("[9] other's"), { folder: 'Quarantine', flags: ['\\Deleted', '\\Seen'] });
  });
});

describe('with UIDPLUS (no MOVE)', () => {
  test('deletes and moves are UID EXPUNGEs of our own UIDs, as before: nothing is searched or unflagged', async () => {
    const creds = await mailboxWithOthersDeletion(uidplus, ['[1] "delete"', '[2] {"action":"move","folder":"Done"}']);
    const result = await run(uidplus, creds);
    assert.equal(result.code, 0, result.stderr);

    const view = await serverView(uidplus, creds, ['Done']);
    assert.equal(view.has('[1] "delete"'), false);
    assert.equal(view.get('[2] {"action":"move","folder":"Done"}')?.folder, 'Done');
    assert.deepEqual(view.get("[0] other's"), { folder: 'INBOX', flags: ['\\Deleted', '\\Seen'] });
    assert.ok(result.commands.some((line) => line.startsWith('UID EXPUNGE')), `UID EXPUNGE: ${result.commands.join(' | ')}`);
    assert.ok(!result.commands.some((line) => /^(EXPUNGE$|UID SEARCH DELETED|UID STORE \S+ -FLAGS)/.test(line)), result.commands.join(' | '));
  });
});
