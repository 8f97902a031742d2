/**
 * Copies and keywords (`copy:<Folder>`, `flag:`, `unflag:`, the object keys flags/unflags/copyTo,
 * `after` in those forms, `skipKeyword`) through the real CLI against a real Dovecot, a local
 * Maildir, command and webhook handlers. What the server holds is read over a separate IMAP
 * connection (imapflow, not mailpoll) or from the Maildir on disk.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { bySubject, readMaildir } from './helpers/maildir-state.js';
import { handlerCalls, scenario, SPEC_HANDLER, type Credentials } from './helpers/scenario.js';
import { makeTempDir } from './helpers/temp.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot();
const { mailbox, imapAccount } = scenario(dovecot);

/** Subject -> flags of every message in `folder`, as the server reports them over its own IMAP connection. */
async function serverFlags(creds: Credentials, folder: string): Promise<Map<string, string[]>> {
  const client = dovecot.imapClient(creds.user, creds.password);
  await client.connect();
  const found = new Map<string, string[]>();
  try {
    const exists = (await client.list()).some((entry) => entry.path === folder);
    if (!exists) return found;
    await client.mailboxOpen(folder, { readOnly: true });
    for await (const message of client.fetch('1:*', { envelope: true, flags: true })) {
      const subject = message.envelope?.subject ?? '';
      assert.equal(found.has(subject), false, `${subject} is in ${folder} twice`);
      // \Recent is the server's, set on whatever arrived since the last session.
      found.set(subject, [...(message.flags ?? [])].filter((flag) => flag !== '\\Recent').sort());
    }
  } finally {
    await client.logout();
  }
  return found;
}

describe('copy and keywords over IMAP', () => {
  test('flag, unflag, copy and the object form leave \\Seen alone with after: keep', async () => {
    const subjects = [
      '[1] "flag:$Processed"',
      '[2] {"action":"keep","flags":["$Processed","\\\\Flagged"],"copyTo":"Archive"}',
      '[3] "copy:Archive"',
      '[4] "unflag:\\\\Seen"',
      '[5] undefined',
      '[6] "flag:\\\\Deleted"',
    ];
    const creds = await mailbox(subjects, { seen: ['[4] "unflag:\\\\Seen"'] });
    const account = imapAccount(creds, { onlyUnseen: false, after: { action: 'keep', flags: ['$ByAfter'] } });
    const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [account] });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, `exit 1: one invalid result\n${result.stderr}`);
    assert.deepEqual(
      messageEvents(result).map((e) => [e.subject, e.action, e.flags, e.unflags, e.copyTo, e.status]),
      [
        [subjects[0], 'keep', ['$Processed'], [], null, 'ok'],
        [subjects[1], 'keep', ['$Processed', '\\Flagged'], [], 'Archive', 'ok'],
        [subjects[2], 'keep', [], [], 'Archive', 'ok'],
        [subjects[3], 'keep', [], ['\\Seen'], null, 'ok'],
        [subjects[4], 'keep', ['$ByAfter'], [], null, 'ok'],
        [subjects[5], 'keep', [], [], null, 'failed'],
      ],
    );
    const failed = messageEvents(result)[5]!;
    assert.equal(failed.code, 'E_INVALID_RESULT');
    assert.match(String(failed.error), /\\Deleted is set by the action delete/);

    const inbox = await serverFlags(creds, 'INBOX');
    assert.deepEqual(inbox.get(subjects[0]!), ['$Processed']);
    assert.deepEqual(inbox.get(subjects[1]!), ['$Processed', '\\Flagged']);
    assert.deepEqual(inbox.get(subjects[2]!), []);
    assert.deepEqual(inbox.get(subjects[3]!), [], 'unflag:\\Seen makes a read message unread');
    assert.deepEqual(inbox.get(subjects[4]!), ['$ByAfter']);
    assert.deepEqual(inbox.get(subjects[5]!), []);
    const archive = await serverFlags(creds, 'Archive');
    // The copy is made before the flags are set: it carries the message as it was.
    assert.deepEqual([...archive.keys()].sort(), [subjects[1], subjects[2]].sort());
    assert.deepEqual(archive.get(subjects[1]!), []);

    // `history` and `show` name the flags and the copy.
    const history = await runCli(['history'], { cwd: dir });
    assert.match(history.stdout, /keep flag:\$Processed flag:\\Flagged copy:Archive/);
  });

  test('skipKeyword leaves out what carries the keyword (a store that never saw them)', async () => {
    const subjects = ['[1] "flag:$Processed"', '[2] "keep"', '[3] "flag:$Processed"'];
    const creds = await mailbox(subjects);
    const first = await writeConfig({ script: SPEC_HANDLER, accounts: [imapAccount(creds, { after: 'keep', maxMessages: 1 })] });
    const run1 = await runCli(['--json'], { cwd: first });
    assert.equal(run1.code, 0, run1.stderr);
    assert.deepEqual(messageEvents(run1).map((e) => e.subject), [subjects[0]]);

    // Another store (another machine, a lost ledger): only the keyword says what was processed.
    const second = await writeConfig({ script: SPEC_HANDLER, accounts: [imapAccount(creds, { after: 'keep', skipKeyword: '$Processed' })] });
    const log = join(second, 'calls.ndjson');
    const run2 = await runCli(['--json', '-v'], { cwd: second, env: { HANDLER_LOG: log } });
    assert.equal(run2.code, 0, run2.stderr);
    assert.deepEqual((await handlerCalls(log)).map((call) => call.subject), [subjects[1], subjects[2]]);
    assert.match(run2.stderr, /UID SEARCH UNSEEN UNKEYWORD \$Processed/);
  });

  test('a crash between handled and the copy: the next run copies and flags without the handler', async () => {
    const keep = '[1] {"action":"keep","flags":["$Processed"],"copyTo":"Archive"}';
    const creds = await mailbox([keep, '[2] die-once']);
    const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [imapAccount(creds, { after: 'keep' })] });
    const log = join(dir, 'calls.ndjson');
    const crashed = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.notEqual(crashed.code, 0, 'the run was killed');
    assert.equal((await serverFlags(creds, 'Archive')).size, 0, 'nothing copied before the decision was carried out');
    assert.deepEqual((await serverFlags(creds, 'INBOX')).get(keep), []);

    const next = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.equal(next.code, 0, next.stderr);
    const recovered = messageEvents(next).find((e) => e.subject === keep);
    assert.deepEqual([recovered?.recovered, recovered?.flags, recovered?.copyTo], [true, ['$Processed'], 'Archive']);
    assert.equal((await handlerCalls(log)).filter((call) => call.subject === keep).length, 1, 'the handler ran once');
    assert.deepEqual((await serverFlags(creds, 'INBOX')).get(keep), ['$Processed']);
    assert.deepEqual([...(await serverFlags(creds, 'Archive')).keys()], [keep]);
  });
});

describe('command and webhook handlers answer in the same words', () => {
  const servers: http.Server[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  test('a command prints flag:/copy: or an object; a webhook replies with the object form', async () => {
    const server = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ action: 'keep', flags: ['$Webhook'], copyTo: 'Hooked' }));
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    const byCommand = await mailbox(['[1] word', '[2] object']);
    const byWebhook = await mailbox(['[1] hooked']);
    const script = 'read -r line; case "$MAILPOLL_SUBJECT" in *word*) echo "flag:\\$Command";; *) echo \'{"action":"keep","unflags":["$None"],"copyTo":"Commanded"}\';; esac; cat > /dev/null';
    const dir = await writeConfig({
      accounts: [
        imapAccount(byCommand, { name: 'cmd', after: 'keep', command: ['sh', '-c', script] }),
        imapAccount(byWebhook, { name: 'hook', after: 'keep', webhook: { url } }),
      ],
    });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      messageEvents(result).map((e) => [e.account, e.subject, e.flags, e.unflags, e.copyTo]),
      [
        ['cmd', '[1] word', ['$Command'], [], null],
        ['cmd', '[2] object', [], ['$None'], 'Commanded'],
        ['hook', '[1] hooked', ['$Webhook'], [], 'Hooked'],
      ],
    );
    assert.deepEqual((await serverFlags(byCommand, 'INBOX')).get('[1] word'), ['$Command']);
    assert.deepEqual([...(await serverFlags(byCommand, 'Commanded')).keys()], ['[2] object']);
    assert.deepEqual((await serverFlags(byWebhook, 'INBOX')).get('[1] hooked'), ['$Webhook']);
    assert.deepEqual([...(await serverFlags(byWebhook, 'Hooked')).keys()], ['[1] hooked']);
  });
});

describe('POP3 and Maildir refuse what they cannot store', () => {
  test('validate refuses copies and keywords on POP3, keywords on a Maildir, all at once', async () => {
    const creds = await mailbox([]);
    const dir = await writeConfig({
      script: SPEC_HANDLER,
      accounts: [
        { name: 'pop', protocol: 'pop3', host: '127.0.0.1', port: dovecot.ports.pop3s, tls: 'implicit', ca: dovecot.caFile, user: creds.user, password: creds.password, after: 'copy:Archive', skipKeyword: '$Processed' },
        { name: 'local', protocol: 'maildir', path: 'Maildir', after: { action: 'keep', flags: ['$Processed', '\\Flagged'] } },
      ],
    });
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 2, result.stdout);
    assert.match(result.stderr, /accounts\[0\]\.skipKeyword: POP3 has no flags or keywords to look for; remove skipKeyword/);
    assert.match(result.stderr, /accounts\[0\]\.after: POP3 has no folders to copy to; use after: keep or delete/);
    assert.match(result.stderr, /accounts\[1\]\.after: a Maildir stores only the flags \\Seen and \\Flagged: \$Processed cannot be set or cleared/);
  });

  test('a POP3 handler asking for a keyword gets an invalid result that says why; the message stays', async () => {
    const creds = await mailbox(['[1] "flag:$Processed"', '[2] {"action":"keep","copyTo":"Archive"}']);
    const dir = await writeConfig({
      script: SPEC_HANDLER,
      accounts: [{ name: 'pop', protocol: 'pop3', host: '127.0.0.1', port: dovecot.ports.pop3s, tls: 'implicit', ca: dovecot.caFile, user: creds.user, password: creds.password }],
    });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(
      messageEvents(result).map((e) => [e.status, e.code, e.error]),
      [
        ['failed', 'E_INVALID_RESULT', "POP3 has no flags: $Processed cannot be set or cleared; return 'keep' or 'delete' (or set after to keep or delete)"],
        ['failed', 'E_INVALID_RESULT', "POP3 cannot copy messages: copy:Archive is not possible; return 'keep' or 'delete' (or set after to keep or delete)"],
      ],
    );
    assert.equal((await serverFlags(creds, 'INBOX')).size, 2);
  });

  test('a Maildir maps \\Flagged and \\Seen to F and S, copies into .Folder, refuses other keywords; skipKeyword \\Flagged', async () => {
    const root = await makeTempDir('md-flags');
    const path = join(root, 'Maildir');
    for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
    const subjects = ['[1] "flag:\\\\Flagged"', '[2] {"action":"keep","flags":["\\\\Seen"],"copyTo":"Done/2026"}', '[3] "flag:$Processed"', '[4] "copy:Done/2026"'];
    for (const [index, subject] of subjects.entries()) {
      const file = join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`);
      await writeFile(file, `From: a@example.com\r\nSubject: ${subject}\r\nMessage-ID: <md${index}@test>\r\n\r\nbody ${index}\r\n`);
      await utimes(file, 1_767_000_000 + index, 1_767_000_000 + index);
    }
    const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path, after: 'keep' }] });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => e.status), ['ok', 'ok', 'failed', 'ok']);
    assert.match(String(messageEvents(result)[2]?.error), /a Maildir stores only the flags \\Seen and \\Flagged: \$Processed cannot be set or cleared/);

    const stored = await readMaildir(path);
    const where = (subject: string) => stored.filter((m) => m.subject === subject).map((m) => [m.folder, m.flags]).sort();
    assert.deepEqual(where(subjects[0]!), [['', 'F']]);
    assert.deepEqual(where(subjects[1]!), [['', 'S'], ['Done.2026', '']]);
    assert.deepEqual(where(subjects[2]!), [['', '']]);
    assert.deepEqual(where(subjects[3]!), [['', ''], ['Done.2026', '']]);
    assert.ok(bySubject(stored, subjects[3]!));

    // A fresh store with skipKeyword \Flagged: the F message is not handed over again.
    const other = await writeConfig({ script: SPEC_HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path, after: 'keep', skipKeyword: '\\Flagged', onlyUnseen: false }] });
    const log = join(other, 'calls.ndjson');
    await runCli(['--json'], { cwd: other, env: { HANDLER_LOG: log } });
    const seen = (await handlerCalls(log)).map((call) => call.subject);
    assert.equal(seen.includes(subjects[0]), false);
    assert.equal(seen.includes(subjects[1]), true);
  });
});
