/**
 * The IMAP adapter against a real private Dovecot (test/helpers/dovecot.ts). Server state
 * is checked with a separate imapflow client. Each test has its own user, so tests do not
 * see each other's mail. Cases Dovecot cannot produce on loopback (a server without
 * STARTTLS, one that never greets, one that stalls) use a tiny TCP stand-in or proxy.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccountConfig } from '../src/config/types.js';
import { AuthError, ConnectionError, MailboxError, TimeoutError, TlsError } from '../src/errors.js';
import { systemTimers, type Timers } from '../src/mailbox/imap/idle.js';
import { createImapMailbox } from '../src/mailbox/imap/mailbox.js';
import { describeNetworkError } from '../src/mailbox/net-errors.js';
import type { Disposition, DispositionResult, Mailbox } from '../src/mailbox/types.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { closeRelays, startRelay } from './helpers/tcp-relay.js';
import { collect, openError as openErrorOf, rejection } from './helpers/mailbox.js';
import { scenario } from './helpers/scenario.js';

const dovecot = useDovecot();
const servers: net.Server[] = [];

after(() => {
  for (const server of servers) server.close();
});

const world = scenario(dovecot);
const newUser = () => world.user();
const account = (overrides: Partial<AccountConfig> = {}) => world.adapterAccount('imap', overrides);
const openError = (config: AccountConfig) => openErrorOf(createImapMailbox(config));

/** Run `work` with an opened mailbox, always closing it. */
/** apply, then commit (expunge) what it left pending: a whole cycle's server actions. The commit confirms exactly the pending uids. */
async function applyAndCommit(mailbox: Mailbox, dispositions: Disposition[]): Promise<DispositionResult[]> {
  const results = await mailbox.apply(dispositions);
  const pending = new Set(results.filter((result) => result.status === 'pending').map((result) => result.uid));
  assert.deepEqual((await mailbox.commit()).sort(), [...pending].sort());
  return results;
}

async function withMailbox<T>(config: AccountConfig, work: (mailbox: Mailbox) => Promise<T>, debug?: (line: string) => void, timers?: Timers): Promise<T> {
  const mailbox = createImapMailbox(config, { logger: { debug }, timers });
  try {
    await mailbox.open();
    return await work(mailbox);
  } finally {
    await mailbox.close();
  }
}

/** What the server holds, seen through an independent client: UID -> flags, per folder. */
async function serverState(user: string, password: string, folder = 'INBOX'): Promise<Map<number, string[]>> {
  const client = dovecot.imapClient(user, password);
  await client.connect();
  try {
    const mailbox = await client.mailboxOpen(folder, { readOnly: true });
    const state = new Map<number, string[]>();
    if (mailbox.exists === 0) return state;
    for (const row of await client.fetchAll('1:*', { uid: true, flags: true })) {
      state.set(row.uid, [...(row.flags ?? [])].filter((flag) => flag !== '\\Recent').sort());
    }
    return state;
  } finally {
    await client.logout();
  }
}

async function folderNames(user: string, password: string): Promise<string[]> {
  const client = dovecot.imapClient(user, password);
  await client.connect();
  try {
    return (await client.list()).map((entry) => entry.path).sort();
  } finally {
    await client.logout();
  }
}

/** A TCP server on a free loopback port; closed after the file. */
async function listen(onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer(onConnection);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

test('open: status of INBOX, any spelling of inbox', async () => {
  const { user, password } = await newUser();
  await dovecot.deliver(user, message({ subject: 'one' }));
  await dovecot.deliver(user, message({ subject: 'two' }), { seen: true });
  await dovecot.deliver(user, message({ subject: 'three' }));

  const status = await withMailbox(account({ user, password, folder: 'inbox' }), (mailbox) => mailbox.open());
  assert.equal(status.folder, 'INBOX');
  assert.equal(status.total, 3);
  assert.equal(status.unseen, 2);
  assert.equal(typeof status.uidValidity, 'bigint');
  assert.ok(status.uidValidity! > 0n);
});

test('open: a nested folder in config syntax maps to the server delimiter', async () => {
  const { user, password } = await newUser();
  await dovecot.deliver(user, message({ subject: 'incident' }), { folder: 'INBOX/Incidents' });

  const mailbox = createImapMailbox(account({ user, password, folder: 'Inbox/Incidents' }));
  try {
    const status = await mailbox.open();
    assert.equal(status.folder, 'INBOX.Incidents');
    assert.equal(status.total, 1);
    assert.equal((await mailbox.list({ onlyUnseen: true })).length, 1);
  } finally {
    await mailbox.close();
  }
});

test('open: a missing folder is a MailboxError naming the folder and the account', async () => {
  const { user, password } = await newUser();
  const error = await openError(account({ user, password, folder: 'Inbox/Nope' }));
  assert.ok(error instanceof MailboxError, String(error));
  assert.match(error.message, /^support: folder "Inbox\/Nope" \(INBOX\.Nope\) does not exist on 127\.0\.0\.1:\d+\. Check folder:/);
  assert.equal((error as MailboxError).account, 'support');
});

test('list: unseen only, oldest first, at most `limit`, with size and INTERNALDATE', async () => {
  const { user, password } = await newUser();
  const days = [1, 2, 3, 4, 5].map((day) => new Date(Date.UTC(2024, 0, day, 12)));
  const raws: string[] = [];
  for (const [index, date] of days.entries()) {
    const raw = message({ subject: `message ${index + 1}`, body: 'x'.repeat(index * 10) });
    raws.push(raw);
    await dovecot.deliver(user, raw, { seen: index === 1, date });
  }

  await withMailbox(account({ user, password }), async (mailbox) => {
    const unseen = await mailbox.list({ onlyUnseen: true, limit: 3 });
    assert.deepEqual(unseen.map((candidate) => candidate.uid), ['1', '3', '4']);
    assert.deepEqual(unseen.map((candidate) => candidate.size), [raws[0]!.length, raws[2]!.length, raws[3]!.length]);
    assert.deepEqual(unseen.map((candidate) => candidate.date?.toISOString()), [days[0], days[2], days[3]].map((day) => day!.toISOString()));
    assert.ok(unseen.every((candidate) => !candidate.flags.includes('\\Seen')));

    const all = await mailbox.list({ onlyUnseen: false });
    assert.deepEqual(all.map((candidate) => candidate.uid), ['1', '2', '3', '4', '5']);
    assert.ok(all[1]!.flags.includes('\\Seen'));
    assert.deepEqual(await mailbox.list({ onlyUnseen: true, limit: 0 }), []);
  });
});

test('list: one UID SEARCH and one UID FETCH', async () => {
  const { user, password } = await newUser();
  for (let i = 0; i < 4; i += 1) await dovecot.deliver(user, message());
  const lines: string[] = [];
  await withMailbox(account({ user, password }), (mailbox) => mailbox.list({ onlyUnseen: true, limit: 3 }), (line) => lines.push(line));
  const commands = lines.filter((line) => /^C: \S+ UID (SEARCH|FETCH)/.test(line));
  assert.equal(commands.length, 2, commands.join('\n'));
  assert.match(commands[0]!, /UID SEARCH UNSEEN$/);
  assert.match(commands[1]!, /UID FETCH 1:3 \(/);
});

test('list: skip is applied to the search result, before limit and before the one metadata UID FETCH', async () => {
  const { user, password } = await newUser();
  for (let i = 1; i <= 6; i += 1) await dovecot.deliver(user, message({ subject: `m${i}` }));
  const lines: string[] = [];
  const asked: string[] = [];
  await withMailbox(
    account({ user, password }),
    async (mailbox) => {
      const done = new Set(['1', '3']);
      const listed = await mailbox.list({ onlyUnseen: true, limit: 2, skip: async (uids) => (asked.push(...uids), new Set(uids.filter((uid) => done.has(uid)))) });
      assert.deepEqual(listed.map((candidate) => candidate.uid), ['2', '4']);
      assert.deepEqual(asked, ['1', '2', '3', '4', '5', '6']);
      // Everything skipped: no FETCH at all.
      assert.deepEqual(await mailbox.list({ onlyUnseen: false, skip: async (uids) => new Set(uids) }), []);
    },
    (line) => lines.push(line),
  );
  const commands = lines.filter((line) => /^C: \S+ UID (SEARCH|FETCH)/.test(line)).map((line) => line.replace(/^C: \S+ /, ''));
  assert.equal(commands.length, 3, commands.join('\n'));
  assert.equal(commands[0], 'UID SEARCH UNSEEN');
  assert.match(commands[1]!, /^UID FETCH 2,4 \(/);
  assert.match(commands[1]!, /BODY\.PEEK\[HEADER\.FIELDS \(MESSAGE-ID DATE\)\]/i);
  assert.doesNotMatch(commands[1]!, /ENVELOPE|BODY\[/);
  assert.equal(commands[2], 'UID SEARCH ALL');
});

test('list: Message-ID and the Date header as written (unfolded), without setting \\Seen', async () => {
  const { user, password } = await newUser();
  const sent = new Date(Date.UTC(2024, 2, 5, 8, 0, 0));
  const first = message({ subject: 'plain', messageId: '<plain.1@example.com>', date: sent });
  const folded =
    'From: a@example.com\r\nMessage-ID:\r\n <folded.2@example.com>\r\nDate: Tue, 5 Mar 2024 09:00:00\r\n +0100 (CET)\r\nSubject: folded\r\nDate: Wed, 6 Mar 2024 10:00:00 +0000\r\n\r\nbody\r\n';
  const bare = 'From: a@example.com\r\nSubject: no message-id, no date\r\n\r\nbody\r\n';
  for (const raw of [first, folded, bare]) await dovecot.deliver(user, raw);

  const listed = await withMailbox(account({ user, password }), (mailbox) => mailbox.list({ onlyUnseen: true }));
  assert.deepEqual(
    listed.map((candidate) => [candidate.uid, candidate.messageId, candidate.sentDate, candidate.size]),
    [
      ['1', '<plain.1@example.com>', 'Tue, 05 Mar 2024 08:00:00 +0000', first.length],
      // The first of two Date fields, continuation whitespace kept as written.
      ['2', '<folded.2@example.com>', 'Tue, 5 Mar 2024 09:00:00 +0100 (CET)', folded.length],
      ['3', undefined, undefined, bare.length],
    ],
  );
  assert.deepEqual([...(await serverState(user, password)).values()], [[], [], []]);
});

test('present: one UID SEARCH UID <set> answers which UIDs are still there; no round trip for none', async () => {
  const { user, password } = await newUser();
  for (let i = 1; i <= 4; i += 1) await dovecot.deliver(user, message());
  const lines: string[] = [];
  await withMailbox(
    account({ user, password }),
    async (mailbox) => {
      assert.equal((await applyAndCommit(mailbox, [{ uid: '2', action: 'delete' }]))[0]!.status, 'pending');
      const before = lines.length;
      const present = await mailbox.present(['1', '2', '3', '99', 'abc', '0', '3']);
      assert.deepEqual([...present].sort(), ['1', '3']);
      const searches = lines.slice(before).filter((line) => /^C: \S+ UID SEARCH/.test(line));
      assert.deepEqual(searches.map((line) => line.replace(/^C: \S+ /, '')), ['UID SEARCH UID 1:3,99']);

      const quiet = lines.length;
      assert.deepEqual(await mailbox.present([]), new Set());
      assert.deepEqual(await mailbox.present(['not-a-uid']), new Set());
      assert.deepEqual(lines.slice(quiet).filter((line) => line.startsWith('C: ')), []);
    },
    (line) => lines.push(line),
  );
  // Not open: an error, not an empty answer.
  const closed = createImapMailbox(account({ user, password }));
  const error = await rejection(closed.present(['1']));
  assert.ok(error instanceof MailboxError && /not open/.test(error.message), String(error));
});

test('fetch: the exact bytes, 8-bit content included, in order, without setting \\Seen', async () => {
  const { user, password } = await newUser();
  const raws = [
    Buffer.from(message({ subject: 'utf-8', body: 'Grüße, naïve café — 日本語\r\n' })),
    Buffer.concat([Buffer.from(message({ subject: 'latin-1', body: '' })), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a])]),
    Buffer.from(message({ subject: 'plain', body: 'line one\r\n.\r\n..dots\r\nlast line without newline' })),
  ];
  for (const raw of raws) await dovecot.deliver(user, raw);

  const fetched = await withMailbox(account({ user, password }), async (mailbox) => collect(mailbox.fetch(await mailbox.list({ onlyUnseen: true }))));
  assert.deepEqual(fetched.map((item) => item.uid), ['1', '2', '3']);
  for (const [index, item] of fetched.entries()) {
    assert.ok(item.raw.equals(raws[index]!), `message ${index + 1} differs`);
    assert.equal(item.size, raws[index]!.length);
    assert.ok(!item.flags.includes('\\Seen'));
  }
  const state = await serverState(user, password);
  assert.deepEqual([...state.values()], [[], [], []]);
});

test('fetch: candidates are streamed in the order given; nothing for an empty list', async () => {
  const { user, password } = await newUser();
  for (let i = 1; i <= 3; i += 1) await dovecot.deliver(user, message({ subject: `n${i}` }));
  await withMailbox(account({ user, password }), async (mailbox) => {
    const candidates = await mailbox.list({ onlyUnseen: true });
    const reversed = await collect(mailbox.fetch([...candidates].reverse()));
    assert.deepEqual(reversed.map((item) => item.uid), ['3', '2', '1']);
    assert.deepEqual(await collect(mailbox.fetch([])), []);
    // Leaving the loop early leaves the connection usable.
    for await (const item of mailbox.fetch(candidates)) {
      assert.equal(item.uid, '1');
      break;
    }
    assert.equal((await mailbox.list({ onlyUnseen: false })).length, 3);
  });
});

test('apply: markSeen, delete (only those UIDs), move into a new nested folder, keep', async () => {
  const { user, password } = await newUser();
  for (let i = 1; i <= 6; i += 1) await dovecot.deliver(user, message({ subject: `m${i}` }));

  const results = await withMailbox(account({ user, password }), (mailbox) =>
    applyAndCommit(mailbox, [
      { uid: '1', action: 'markSeen' },
      { uid: '2', action: 'delete' },
      { uid: '3', action: 'move', folder: 'Archive/2024' },
      { uid: '4', action: 'keep' },
      { uid: '5', action: 'markSeen' },
      { uid: '6', action: 'move', folder: 'Archive/2024' },
    ]),
  );
  assert.deepEqual(
    results.map((result) => [result.uid, result.status, result.error?.message]),
    [['1', 'done', undefined], ['2', 'pending', undefined], ['3', 'done', undefined], ['4', 'done', undefined], ['5', 'done', undefined], ['6', 'done', undefined]],
  );

  const inbox = await serverState(user, password);
  assert.deepEqual([...inbox.entries()], [[1, ['\\Seen']], [4, []], [5, ['\\Seen']]]);
  assert.ok((await folderNames(user, password)).includes('Archive.2024'));
  const archive = await serverState(user, password, 'Archive.2024');
  assert.equal(archive.size, 2);
});

test('apply: an existing move target is reused; groups use one command each', async () => {
  const { user, password } = await newUser();
  for (let i = 1; i <= 4; i += 1) await dovecot.deliver(user, message());
  await dovecot.deliver(user, message(), { folder: 'Done' });
  const lines: string[] = [];
  await withMailbox(
    account({ user, password }),
    async (mailbox) => {
      const results = await mailbox.apply([
        { uid: '1', action: 'move', folder: 'Done' },
        { uid: '2', action: 'move', folder: 'Done' },
        { uid: '3', action: 'markSeen' },
        { uid: '4', action: 'markSeen' },
      ]);
      assert.ok(results.every((result) => result.status === 'done'));
    },
    (line) => lines.push(line),
  );
  const commands = lines.filter((line) => /^C: \S+ (UID |)(STORE|MOVE|CREATE|EXPUNGE)/.test(line)).map((line) => line.replace(/^C: \S+ /, ''));
  assert.deepEqual(commands, ['UID STORE 3:4 +FLAGS (\\Seen)', 'UID MOVE 1:2 Done']);
  assert.equal((await serverState(user, password, 'Done')).size, 3);
});

test('apply: a failing group does not throw and does not stop the others', async () => {
  const { user, password } = await newUser();
  for (let i = 1; i <= 2; i += 1) await dovecot.deliver(user, message());
  const results = await withMailbox(account({ user, password }), (mailbox) =>
    mailbox.apply([
      { uid: '1', action: 'move', folder: '' },
      { uid: 'abc', action: 'delete' },
      { uid: '2', action: 'markSeen' },
    ]),
  );
  assert.equal(results[0]!.status, 'failed');
  assert.ok(results[0]!.error instanceof MailboxError);
  assert.equal(results[1]!.status, 'failed');
  assert.match(results[1]!.error!.message, /"abc" is not an IMAP UID/);
  assert.deepEqual([results[2]!.uid, results[2]!.status], ['2', 'done']);
  assert.deepEqual([...(await serverState(user, password)).entries()], [[1, []], [2, ['\\Seen']]]);
});

/** The UID STORE/MOVE/EXPUNGE commands of a debug log, without tags. */
function dispositionCommands(lines: string[]): string[] {
  return lines.filter((line) => /^C: \S+ (UID |)(STORE|MOVE|COPY|EXPUNGE|SEARCH UID)/.test(line)).map((line) => line.replace(/^C: \S+ /, ''));
}

test('apply: delete, move and markSeen of UIDs no longer in the folder are ok, and re-applying is idempotent', async () => {
  const { user, password } = await newUser();
  for (let i = 1; i <= 3; i += 1) await dovecot.deliver(user, message({ subject: `m${i}` }));
  const decisions = [
    { uid: '1', action: 'delete' as const },
    { uid: '2', action: 'move' as const, folder: 'Done' },
    { uid: '3', action: 'markSeen' as const },
  ];
  const first = await withMailbox(account({ user, password }), (mailbox) => applyAndCommit(mailbox, decisions));
  assert.deepEqual(first.map((result) => [result.uid, result.status]), [['1', 'pending'], ['2', 'done'], ['3', 'done']]);

  // The same decisions again (recovery after a crash), plus UIDs that never existed.
  const lines: string[] = [];
  const again = await withMailbox(
    account({ user, password }),
    (mailbox) =>
      applyAndCommit(mailbox, [
        ...decisions,
        { uid: '1', action: 'markSeen' },
        { uid: '2', action: 'delete' },
        { uid: '98', action: 'move', folder: 'Done' },
        { uid: '99', action: 'delete' },
      ]),
    (line) => lines.push(line),
  );
  assert.deepEqual(
    again.map((result) => [result.uid, result.status, result.error?.message]),
    [['1', 'pending', undefined], ['2', 'done', undefined], ['3', 'done', undefined], ['1', 'done', undefined], ['2', 'pending', undefined], ['98', 'done', undefined], ['99', 'pending', undefined]],
  );
  // Dovecot answers OK to all of them (MOVE: "No messages found", no COPYUID): no lookup needed.
  assert.deepEqual(dispositionCommands(lines), [
    'UID STORE 1,3 +FLAGS (\\Seen)',
    'UID MOVE 2,98 Done',
    'UID STORE 1:2,99 +FLAGS (\\Deleted)',
    // commit: imapflow sets \Deleted again right before, so exactly these are expunged.
    'UID STORE 1:2,99 +FLAGS (\\Deleted)',
    'UID EXPUNGE 1:2,99',
  ]);
  assert.deepEqual([...(await serverState(user, password)).entries()], [[3, ['\\Seen']]]);
  assert.equal((await serverState(user, password, 'Done')).size, 1);
});

test('commit: one that failed leaves its UIDs flagged for the next, which fails too rather than claim them', async () => {
  const { user, password } = await newUser();
  await dovecot.deliver(user, message({ subject: 'flagged' }));
  // Plaintext, so the relay sees the command it cuts at.
  const relay = await startRelay(dovecot.ports.imap, { cutWhen: (chunk) => chunk.toString('latin1').includes('UID EXPUNGE') });
  const mailbox = createImapMailbox(account({ user, password, tls: 'none', port: relay.port, ca: undefined }));
  try {
    await mailbox.open();
    assert.deepEqual((await mailbox.apply([{ uid: '1', action: 'delete' }])).map((result) => result.status), ['pending']);
    assert.match((await rejection(mailbox.commit())).message, /expunging 1 deleted message from INBOX failed/);
    // The cycle commits again at its end: that UID was not expunged, so this must not succeed.
    assert.ok((await rejection(mailbox.commit())) instanceof ConnectionError);
  } finally {
    await mailbox.close();
    relay.close();
  }
  assert.deepEqual([...(await serverState(user, password)).entries()], [[1, ['\\Deleted']]]);
});

test('apply: a real refusal is still an error; a gone UID in the same group is ok', async () => {
  const { user, password } = await newUser();
  await dovecot.deliver(user, message({ subject: 'stays' }));
  const lines: string[] = [];
  const results = await withMailbox(
    account({ user, password }),
    (mailbox) =>
      mailbox.apply([
        { uid: '1', action: 'move', folder: '~bad' },
        { uid: '7', action: 'move', folder: '~bad' },
      ]),
    (line) => lines.push(line),
  );
  assert.equal(results[0]!.status, 'failed');
  assert.ok(results[0]!.error instanceof MailboxError, String(results[0]!.error));
  assert.match(results[0]!.error.message, /^support \(127\.0\.0\.1:\d+\): cannot create folder ~bad: \[CANNOT\] Invalid mailbox name/);
  assert.deepEqual([results[1]!.uid, results[1]!.status, results[1]!.error], ['7', 'done', undefined]);
  // One lookup after the refusal, one more try for what is still there.
  assert.deepEqual(dispositionCommands(lines), ['UID SEARCH UID 1,7']);
  assert.equal(lines.filter((line) => /^C: \S+ CREATE ~bad$/.test(line)).length, 4);
  assert.deepEqual([...(await serverState(user, password)).keys()], [1]);
});

/**
 * A relay to Dovecot's plaintext port that plays a stricter server: UID STORE/MOVE/EXPUNGE
 * naming a UID in `refuse` gets `NO [EXPUNGEISSUED] <text>` and never reaches Dovecot.
 */
async function refusingRelay(refuse: Set<number>, text: string): Promise<number> {
  const uidsOf = (set: string): number[] =>
    set.split(',').flatMap((range) => {
      const [from, to = from] = range.split(':').map(Number);
      return Array.from({ length: to! - from! + 1 }, (_, i) => from! + i);
    });
  return listen((client) => {
    const upstream = net.connect({ host: dovecot.host, port: dovecot.ports.imap });
    upstream.pipe(client);
    let pending = '';
    client.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let at = pending.indexOf('\r\n'); at !== -1; at = pending.indexOf('\r\n')) {
        const line = pending.slice(0, at + 2);
        pending = pending.slice(at + 2);
        const command = /^(\S+) UID (?:STORE|MOVE|COPY|EXPUNGE) (\S+)/i.exec(line);
        if (command && uidsOf(command[2]!).some((uid) => refuse.has(uid))) {
          client.write(`${command[1]} NO [EXPUNGEISSUED] ${text}\r\n`);
        } else {
          upstream.write(Buffer.from(line, 'latin1'));
        }
      }
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
}

// imapflow turns a NO whose text has "Some of the requested messages no longer exist" (Dovecot's
// wording) into success for any command; other wordings come back as false.
for (const text of ['Some of the requested messages no longer exist.', 'Message has been expunged.']) {
test(`apply: a server refusing commands that name expunged UIDs ("${text}"): those are done, the rest is tried once more`, async () => {
  const { user, password } = await newUser();
  for (let i = 1; i <= 5; i += 1) await dovecot.deliver(user, message({ subject: `m${i}` }));
  // UID 2 is gone (expunged by an earlier run), and the stand-in refuses every command naming it.
  await withMailbox(account({ user, password }), (mailbox) => applyAndCommit(mailbox, [{ uid: '2', action: 'delete' }]));
  const refuse = new Set([2]);
  const port = await refusingRelay(refuse, text);
  const config = account({ user, password, tls: 'none', port, ca: undefined });

  const lines: string[] = [];
  const results = await withMailbox(
    config,
    (mailbox) =>
      applyAndCommit(mailbox, [
        { uid: '1', action: 'markSeen' },
        { uid: '2', action: 'markSeen' },
        { uid: '3', action: 'markSeen' },
        { uid: '2', action: 'move', folder: 'Done' },
        { uid: '4', action: 'move', folder: 'Done' },
        { uid: '2', action: 'delete' },
      ]),
    (line) => lines.push(line),
  );
  assert.deepEqual(
    results.map((result) => [result.uid, result.status, result.error?.message]),
    [['1', 'done', undefined], ['2', 'done', undefined], ['3', 'done', undefined], ['2', 'done', undefined], ['4', 'done', undefined], ['2', 'pending', undefined]],
  );
  assert.deepEqual(dispositionCommands(lines), [
    'UID STORE 1:3 +FLAGS (\\Seen)',
    'UID SEARCH UID 1:3',
    'UID STORE 1,3 +FLAGS (\\Seen)',
    'UID MOVE 2,4 Done',
    'UID SEARCH UID 2,4',
    'UID MOVE 4 Done',
    // apply flags it; the refusal is checked: gone, so done.
    'UID STORE 2 +FLAGS (\\Deleted)',
    'UID SEARCH UID 2',
    // commit: imapflow's STORE before the EXPUNGE; it took the refused STORE for done and
    // went on with the first wording only. Checked again: gone.
    'UID STORE 2 +FLAGS (\\Deleted)',
    ...(text.startsWith('Some') ? ['UID EXPUNGE 2'] : []),
    'UID SEARCH UID 2',
  ]);
  assert.deepEqual([...(await serverState(user, password)).entries()], [[1, ['\\Seen']], [3, ['\\Seen']], [5, []]]);
  assert.equal((await serverState(user, password, 'Done')).size, 1);

  // A refusal for a message that is still there stands.
  refuse.add(5);
  const [refused] = await withMailbox(config, (mailbox) => mailbox.apply([{ uid: '5', action: 'markSeen' }]));
  assert.equal(refused!.status, 'failed');
  assert.ok(refused!.error instanceof MailboxError);
  assert.match(
    refused!.error.message,
    text.startsWith('Some')
      ? /marking 1 message as seen in INBOX failed: the server did not carry out UID STORE \+FLAGS \(\\Seen\) for every message \((\[EXPUNGEISSUED\] )?Some of the requested messages no longer exist\.\)$/
      : /marking 1 message as seen in INBOX failed: the server refused UID STORE \+FLAGS \(\\Seen\): \[EXPUNGEISSUED\] Message has been expunged\.$/,
  );
  assert.deepEqual([...(await serverState(user, password)).get(5)!], []);
});
}

test('STARTTLS verified against the CA; tls: none stays in plaintext', async () => {
  const { user, password } = await newUser();
  await dovecot.deliver(user, message());
  const starttls: string[] = [];
  const status = await withMailbox(account({ user, password, tls: 'starttls', port: dovecot.ports.imap }), (mailbox) => mailbox.open(), (line) => starttls.push(line));
  assert.equal(status.total, 1);
  assert.ok(starttls.some((line) => /^C: \S+ STARTTLS$/.test(line)));

  const plain: string[] = [];
  await withMailbox(account({ user, password, tls: 'none', port: dovecot.ports.imap, ca: undefined }), (mailbox) => mailbox.open(), (line) => plain.push(line));
  assert.ok(!plain.some((line) => /STARTTLS$/.test(line) && line.startsWith('C:')));
});

test('without the CA the certificate is refused (TlsError), unless verification is off', async () => {
  const { user, password } = await newUser();
  const implicit = await openError(account({ user, password, ca: undefined }));
  assert.ok(implicit instanceof TlsError, String(implicit));
  assert.match(implicit.message, /^support \(127\.0\.0\.1:\d+\): TLS certificate not trusted \(\w+\)\. Set ca: to the server's CA file, or tlsRejectUnauthorized: false \(insecure\)\.$/);

  const starttls = await openError(account({ user, password, ca: undefined, tls: 'starttls', port: dovecot.ports.imap }));
  assert.ok(starttls instanceof TlsError, String(starttls));

  const status = await withMailbox(account({ user, password, ca: undefined, tlsRejectUnauthorized: false }), (mailbox) => mailbox.open());
  assert.equal(status.folder, 'INBOX');
});

test('the certificate is checked against the host name', async () => {
  const { user, password } = await newUser();
  const status = await withMailbox(account({ user, password, host: 'localhost' }), (mailbox) => mailbox.open());
  assert.equal(status.folder, 'INBOX');
});

test('wrong password: AuthError with the server text, and the password appears nowhere', async () => {
  const { user } = await newUser();
  const wrong = 'Wrong-Pa55word';
  const lines: string[] = [];
  const mailbox = createImapMailbox(account({ user, password: wrong }), { logger: { debug: (line) => lines.push(line) } });
  const error = await rejection(mailbox.open());
  await mailbox.close();
  assert.ok(error instanceof AuthError, String(error));
  assert.equal(error.message, `support (127.0.0.1:${dovecot.ports.imaps}): login failed: [AUTHENTICATIONFAILED] Authentication failed. Check user/login (${user}) and password.`);
  assert.ok(!error.message.includes(wrong));
  assert.ok(lines.length > 0);
  assert.deepEqual(lines.filter((line) => line.includes(wrong)), []);
});

test('the password never reaches the debug log (AUTHENTICATE PLAIN and LOGIN)', async () => {
  const { user, password } = await newUser();
  for (const tls of ['implicit', 'none'] as const) {
    const lines: string[] = [];
    const port = tls === 'none' ? dovecot.ports.imap : dovecot.ports.imaps;
    await withMailbox(account({ user, password, tls, port }), async () => undefined, (line) => lines.push(line));
    assert.ok(lines.some((line) => /AUTHENTICATE|LOGIN/.test(line)), lines.join('\n'));
    assert.deepEqual(lines.filter((line) => line.includes(password) || line.includes(Buffer.from(password).toString('base64'))), []);
    const plainBlob = Buffer.from(`\0${user}\0${password}`).toString('base64');
    assert.deepEqual(lines.filter((line) => line.includes(plainBlob)), []);
  }
});

test('a refused port is a ConnectionError', async () => {
  const port = await listen(() => undefined);
  await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
  const error = await openError(account({ user: 'x', password: 'y', port }));
  assert.ok(error instanceof ConnectionError, String(error));
  assert.equal(error.message, `support: cannot connect to 127.0.0.1:${port} (connection refused). Check host and port.`);
});

test('an unknown host is a ConnectionError', async () => {
  const error = await openError(account({ user: 'x', password: 'y', host: 'no-such-host.invalid' }));
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /^support: cannot connect to no-such-host\.invalid:\d+ \(host (not found|name lookup failed.*)\)\. Check host\.$/);
});

test('tls: implicit against the plaintext port is a TlsError that suggests starttls', async () => {
  const error = await openError(account({ user: 'x', password: 'y', port: dovecot.ports.imap }));
  assert.ok(error instanceof TlsError, String(error));
  assert.match(error.message, /plaintext.*tls: starttls/);
});

test('tls: starttls with a server that does not offer STARTTLS is a TlsError', async () => {
  const port = await listen((socket) => {
    socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] stand-in ready\r\n');
    socket.on('data', (data) => {
      const tag = data.toString().split(' ')[0];
      socket.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK done\r\n`);
    });
    socket.on('error', () => undefined);
  });
  const error = await openError(account({ user: 'x', password: 'y', tls: 'starttls', port, ca: undefined }));
  assert.ok(error instanceof TlsError, String(error));
  assert.match(error.message, /^support \(127\.0\.0\.1:\d+\): the server does not offer STARTTLS/);
});

test('a server that closes before the greeting: ConnectionError', async () => {
  const port = await listen((socket) => socket.destroy());
  const error = await openError(account({ user: 'x', password: 'y', tls: 'none', port }));
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, new RegExp(`^support: connection to 127\\.0\\.0\\.1:${port} (closed by the server before login|lost)`));
});

test('describeNetworkError: the Node codes Dovecot cannot produce here', () => {
  const context = { account: 'support', host: 'imap.example.com', port: 993 };
  const coded = (code: string, extra: object = {}) => Object.assign(new Error(code), { code }, extra);
  const cases: Array<[Error, Function, RegExp]> = [
    [coded('CERT_HAS_EXPIRED'), TlsError, /^support \(imap\.example\.com:993\): TLS certificate not valid now \(CERT_HAS_EXPIRED\)\. /],
    [coded('SELF_SIGNED_CERT_IN_CHAIN'), TlsError, /TLS certificate not trusted \(SELF_SIGNED_CERT_IN_CHAIN\)\. Set ca: /],
    [coded('DEPTH_ZERO_SELF_SIGNED_CERT'), TlsError, /not trusted/],
    [coded('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), TlsError, /not trusted/],
    [coded('ERR_TLS_CERT_ALTNAME_INVALID', { reason: "Host: imap.example.com. is not in the cert's altnames: DNS:mail.example.com" }), TlsError, /does not match the host name \(Host: imap\.example\.com\. is not in the cert's altnames: DNS:mail\.example\.com\)\. Set host:/],
    [coded('ECONNRESET'), ConnectionError, /^support: connection to imap\.example\.com:993 lost \(reset by the server\)/],
    [coded('EAI_AGAIN'), ConnectionError, /^support: cannot connect to imap\.example\.com:993 \(host name lookup failed temporarily\)\. Check host\.$/],
    [coded('ETIMEDOUT'), TimeoutError, /^support: connecting to imap\.example\.com:993 timed out/],
    [Object.assign(new Error('wrapper'), { _err: coded('CERT_HAS_EXPIRED') }), TlsError, /CERT_HAS_EXPIRED/],
  ];
  for (const [error, type, pattern] of cases) {
    const described = describeNetworkError(error, context);
    assert.ok(described instanceof type, `${error.message}: ${String(described)}`);
    assert.match(described.message, pattern);
    assert.equal(described.account, 'support');
    assert.equal(described.cause, error);
  }
  assert.equal(describeNetworkError(new Error('NO [ALERT] something'), context), undefined);
});

test('a server that never greets: TimeoutError after connectTimeout', async () => {
  const sockets: net.Socket[] = [];
  const port = await listen((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  const started = Date.now();
  const error = await openError(account({ user: 'x', password: 'y', tls: 'none', port, connectTimeout: 300 }));
  assert.ok(error instanceof TimeoutError, String(error));
  assert.match(error.message, new RegExp(`^support: connecting to 127\\.0\\.0\\.1:${port} timed out after 300ms`));
  assert.ok(Date.now() - started < 3000);
  for (const socket of sockets) socket.destroy();
});

test('a stalled fetch: TimeoutError naming the batch, connection closed, later calls fail fast', async () => {
  const { user, password } = await newUser();
  for (let i = 0; i < 3; i += 1) await dovecot.deliver(user, message());
  // A TCP relay to Dovecot that can stop passing the server's bytes on.
  const upstreams: net.Socket[] = [];
  const port = await listen((client) => {
    const upstream = net.connect({ host: dovecot.host, port: dovecot.ports.imaps });
    upstreams.push(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });

  const mailbox = createImapMailbox(account({ user, password, port, fetchTimeout: 400 }));
  try {
    await mailbox.open();
    const candidates = await mailbox.list({ onlyUnseen: true });
    for (const upstream of upstreams) upstream.unpipe();
    const error = await rejection(collect(mailbox.fetch(candidates)));
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal(error.message, 'support: fetch of uids 1:3 from INBOX timed out after 400ms');
    const again = await rejection(mailbox.list({ onlyUnseen: true }));
    assert.equal(again, error);
    const results = await mailbox.apply([{ uid: '1', action: 'markSeen' }]);
    assert.equal(results[0]!.error, error);
  } finally {
    await mailbox.close();
    await mailbox.close();
  }
  // Nothing was marked seen.
  assert.deepEqual([...(await serverState(user, password)).values()], [[], [], []]);
});

test('the server ending the session: ConnectionError on the next call, close() still fine', async () => {
  const { user, password } = await newUser();
  await dovecot.deliver(user, message());
  const mailbox = createImapMailbox(account({ user, password }));
  try {
    await mailbox.open();
    await dovecot.killSessions();
    const error = await rejection(mailbox.list({ onlyUnseen: true }));
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /^support: connection to 127\.0\.0\.1:\d+ (closed by the server|is closed)/);
  } finally {
    await mailbox.close();
  }
});

test('close: safe before open, twice, and after a failed open; calls after close fail clearly', async () => {
  const { user, password } = await newUser();
  const mailbox = createImapMailbox(account({ user, password }));
  await mailbox.close();
  await mailbox.open();
  await mailbox.close();
  await mailbox.close();
  const error = await rejection(mailbox.list({ onlyUnseen: true }));
  assert.ok(error instanceof MailboxError);
  assert.match(error.message, /not open/);

  const failed = createImapMailbox(account({ user, password: 'nope' }));
  await rejection(failed.open());
  await failed.close();
  await failed.close();

  // A mailbox can be opened again after close.
  assert.equal((await mailbox.open()).folder, 'INBOX');
  await mailbox.close();
});

describe('waitForChange (IDLE)', () => {
  after(() => closeRelays());

  /** Resolves once `check()` holds (polled every 20 ms); fails the test after `ms`. */
  async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
    const started = Date.now();
    while (!check()) {
      if (Date.now() - started > ms) assert.fail(`timed out waiting for ${what}`);
      await sleep(20);
    }
  }

  /** The server accepted IDLE: its `+` continuation is in the log, at or after `from`. */
  const idleAccepted = (lines: string[], from = 0) => () => lines.slice(from).some((line) => /^S: \+/.test(line));

  /** The commands the client sent (tag dropped), from `from` on. */
  const sent = (lines: string[], from = 0) =>
    lines
      .slice(from)
      .filter((line) => line.startsWith('C: '))
      .map((line) => line.replace(/^C: /, '').replace(/^\S+ (?=[A-Z])/, ''));

  test('capabilities.idle: false before open, true on Dovecot after open, false again after close', async () => {
    const { user, password } = await newUser();
    const mailbox = createImapMailbox(account({ user, password }));
    assert.equal(mailbox.capabilities.idle, false);
    try {
      await mailbox.open();
      assert.equal(mailbox.capabilities.idle, true);
      assert.equal(typeof mailbox.waitForChange, 'function');
    } finally {
      await mailbox.close();
    }
    assert.equal(mailbox.capabilities.idle, false);
  });

  test('mail delivered while waiting: changed; list, fetch and apply work after it; a second wait works', async () => {
    const { user, password } = await newUser();
    await dovecot.deliver(user, message({ subject: 'old' }));
    const lines: string[] = [];
    await withMailbox(
      account({ user, password }),
      async (mailbox) => {
        const first = await mailbox.list({ onlyUnseen: true });
        assert.deepEqual(first.map((candidate) => candidate.uid), ['1']);
        const mark = lines.length;
        const waiting = mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000 });
        await until(idleAccepted(lines, mark), 'IDLE to be accepted');
        await dovecot.deliver(user, message({ subject: 'new one' }));
        assert.equal(await waiting, 'changed');
        assert.deepEqual(sent(lines, mark), ['IDLE']);
        assert.ok(lines.slice(mark).some((line) => /^S: \* 2 EXISTS$/.test(line)), lines.slice(mark).join('\n'));

        // The next command ends IDLE first (DONE, the IDLE's OK), then runs.
        const afterWait = lines.length;
        const candidates = await mailbox.list({ onlyUnseen: true });
        assert.deepEqual(candidates.map((candidate) => candidate.uid), ['1', '2']);
        const commands = sent(lines, afterWait);
        assert.equal(commands[0], 'DONE', commands.join('\n'));
        assert.match(commands[1]!, /^UID SEARCH UNSEEN$/);
        const fetched = await collect(mailbox.fetch(candidates));
        assert.match(fetched[1]!.raw.toString(), /Subject: new one/);
        const results = await mailbox.apply(candidates.map((candidate) => ({ uid: candidate.uid, action: 'markSeen' as const })));
        assert.ok(results.every((result) => result.status === 'done'));

        // Again, and nothing new after that: timeout.
        const second = lines.length;
        const again = mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000 });
        await until(idleAccepted(lines, second), 'the second IDLE to be accepted');
        await dovecot.deliver(user, message({ subject: 'third' }));
        assert.equal(await again, 'changed');
        assert.deepEqual((await mailbox.list({ onlyUnseen: true })).map((candidate) => candidate.uid), ['3']);
        assert.equal(await mailbox.waitForChange!({ maxMs: 300, healthCheckMs: 10_000 }), 'timeout');
        assert.deepEqual((await mailbox.list({ onlyUnseen: true })).map((candidate) => candidate.uid), ['3']);
      },
      (line) => lines.push(line),
    );
    assert.deepEqual([...(await serverState(user, password)).values()], [['\\Seen'], ['\\Seen'], []]);
  });

  test('mail reported during the cycle (after the last list): changed at once, without IDLE; list() clears it', async () => {
    const { user, password } = await newUser();
    await dovecot.deliver(user, message({ subject: 'first' }));
    const lines: string[] = [];
    await withMailbox(
      account({ user, password }),
      async (mailbox) => {
        const candidates = await mailbox.list({ onlyUnseen: true });
        assert.equal(candidates.length, 1);
        await dovecot.deliver(user, message({ subject: 'during the cycle' }));
        // A command of the cycle carries the server's news (`* 2 EXISTS`) with its answer.
        await mailbox.apply([{ uid: '1', action: 'markSeen' }]);
        assert.ok(lines.some((line) => /^S: \* 2 EXISTS$/.test(line)), lines.join('\n'));
        const mark = lines.length;
        assert.equal(await mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000 }), 'changed');
        assert.deepEqual(sent(lines, mark), []);
        // Still changed until a list() has searched.
        assert.equal(await mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000 }), 'changed');
        assert.deepEqual((await mailbox.list({ onlyUnseen: true })).map((candidate) => candidate.uid), ['2']);
        assert.equal(await mailbox.waitForChange!({ maxMs: 300, healthCheckMs: 10_000 }), 'timeout');
      },
      (line) => lines.push(line),
    );
  });

  test('mail delivered after the last list but before the wait, with no command between: changed (IDLE reports it)', async () => {
    const { user, password } = await newUser();
    await withMailbox(account({ user, password }), async (mailbox) => {
      assert.deepEqual(await mailbox.list({ onlyUnseen: true }), []);
      await dovecot.deliver(user, message());
      assert.equal(await mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000 }), 'changed');
      assert.equal((await mailbox.list({ onlyUnseen: true })).length, 1);
    });
  });

  test('no mail: timeout after maxMs; the watchdog re-issues IDLE around each NOOP; IDLE/DONE/NOOP in the debug log', async () => {
    const { user, password } = await newUser();
    const lines: string[] = [];
    // The system's timers, with the delay of each recorded.
    const armed: number[] = [];
    const timers: Timers = { ...systemTimers, setTimeout: (run, ms) => (armed.push(ms), systemTimers.setTimeout(run, ms)) };
    await withMailbox(
      account({ user, password }),
      async (mailbox) => {
        const controller = new AbortController();
        assert.equal(await mailbox.waitForChange!({ maxMs: 300, healthCheckMs: 10_000, signal: controller.signal }), 'timeout');
        // The deadline of maxMs ended it (the watchdog's first NOOP was 5 s away).
        assert.deepEqual(armed, [300, 5000]);
        // Nothing left behind on the caller's signal.
        assert.equal(getEventListeners(controller.signal, 'abort').length, 0);

        const mark = lines.length;
        // Waits of 1.5 s until two NOOPs were seen: how many fit in one wait depends on the
        // machine's load, not on the behaviour under test.
        let commands: string[] = [];
        let noops = 0;
        for (let wait = 0; wait < 10 && noops < 2; wait += 1) {
          assert.equal(await mailbox.waitForChange!({ maxMs: 1500, healthCheckMs: 300 }), 'timeout');
          commands = sent(lines, mark);
          noops = commands.filter((command) => command === 'NOOP').length;
        }
        assert.ok(noops >= 2, commands.join('\n'));
        // Each NOOP ends an IDLE (DONE) and is followed by a new IDLE.
        for (const [index, command] of commands.entries()) {
          if (command !== 'NOOP') continue;
          assert.equal(commands[index - 1], 'DONE', commands.join('\n'));
        }
        assert.ok(commands.filter((command) => command === 'IDLE').length >= noops);
        assert.deepEqual(await mailbox.list({ onlyUnseen: false }), []);

        // The intervals: NOOP + answer within healthCheckMs; IDLE re-issued at least every 10 minutes.
        assert.equal(await mailbox.waitForChange!({ maxMs: 50, healthCheckMs: 300_000 }), 'timeout');
        assert.equal(await mailbox.waitForChange!({ maxMs: 50, healthCheckMs: 3_600_000 }), 'timeout');
        const plans = lines.filter((line) => line.startsWith('info: support: waiting for new mail in INBOX (')).slice(-2);
        assert.deepEqual(plans, [
          'info: support: waiting for new mail in INBOX (IDLE; NOOP every 270s, answer within 30s; at most 50ms)',
          'info: support: waiting for new mail in INBOX (IDLE; NOOP every 10m, answer within 30s; at most 50ms)',
        ]);
      },
      (line) => lines.push(line),
      timers,
    );
    assert.deepEqual(lines.filter((line) => line.includes(password)), []);
  });

  test('abort: aborted promptly (also when already aborted); the connection stays usable; close() while waiting ends it too', async () => {
    const { user, password } = await newUser();
    const lines: string[] = [];
    const mailbox = createImapMailbox(account({ user, password }), { logger: { debug: (line) => lines.push(line) } });
    try {
      await mailbox.open();
      const before = new AbortController();
      before.abort();
      const mark = lines.length;
      assert.equal(await mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000, signal: before.signal }), 'aborted');
      assert.deepEqual(sent(lines, mark), []);

      const controller = new AbortController();
      const waiting = mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000, signal: controller.signal });
      await until(idleAccepted(lines, mark), 'IDLE to be accepted');
      controller.abort();
      assert.equal(await waiting, 'aborted');
      // The next command ends the IDLE first.
      const afterAbort = lines.length;
      assert.deepEqual(await mailbox.list({ onlyUnseen: true }), []);
      assert.deepEqual(sent(lines, afterAbort), ['DONE', 'UID SEARCH UNSEEN']);

      const closing = mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000 });
      await mailbox.close();
      assert.equal(await closing, 'aborted');
    } finally {
      await mailbox.close();
    }
  });

  test('a stalled link: the watchdog NOOP goes unanswered -> TimeoutError naming account and host:port; mailbox closed; reopen works', async () => {
    const { user, password } = await newUser();
    const relay = await startRelay(dovecot.ports.imaps);
    const lines: string[] = [];
    const mailbox = createImapMailbox(account({ user, password, port: relay.port }), { logger: { debug: (line) => lines.push(line) } });
    try {
      await mailbox.open();
      await mailbox.list({ onlyUnseen: true });
      // rejection() attaches its handler now: the rejection may come before it is awaited.
      const failed = rejection(mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 300 }));
      await until(idleAccepted(lines), 'IDLE to be accepted');
      relay.stall();
      const error = await failed;
      assert.ok(error instanceof TimeoutError, String(error));
      assert.equal(error.message, `support: connection to 127.0.0.1:${relay.port} lost while waiting for new mail (no answer to NOOP within 1s).`);
      assert.equal((error as TimeoutError).account, 'support');
      // Closed: later calls fail with the same error, close() is fine.
      assert.equal(await rejection(mailbox.list({ onlyUnseen: true })), error);
      await mailbox.close();
      relay.resume();
      await dovecot.deliver(user, message());
      await mailbox.open();
      assert.equal((await mailbox.list({ onlyUnseen: true })).length, 1);
    } finally {
      await mailbox.close();
      relay.close();
    }
  });

  test('a stall before IDLE is even acknowledged is caught too', async () => {
    const { user, password } = await newUser();
    const relay = await startRelay(dovecot.ports.imaps);
    const mailbox = createImapMailbox(account({ user, password, port: relay.port, fetchTimeout: 500 }));
    try {
      await mailbox.open();
      relay.stall();
      const error = await rejection(mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 200 }));
      assert.ok(error instanceof TimeoutError, String(error));
      // min(healthCheckMs, fetchTimeout, 30 s), at least 1 s unless fetchTimeout is shorter.
      assert.match(error.message, /lost while waiting for new mail \(no answer to NOOP within 500ms\)\.$/);
    } finally {
      await mailbox.close();
      relay.close();
    }
  });

  test('a cut link: ConnectionError naming account and host:port', async () => {
    const { user, password } = await newUser();
    const relay = await startRelay(dovecot.ports.imaps);
    const lines: string[] = [];
    const mailbox = createImapMailbox(account({ user, password, port: relay.port }), { logger: { debug: (line) => lines.push(line) } });
    try {
      await mailbox.open();
      const failed = rejection(mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000 }));
      await until(idleAccepted(lines), 'IDLE to be accepted');
      relay.cut();
      const error = await failed;
      assert.ok(error instanceof ConnectionError, String(error));
      assert.match(error.message, new RegExp(`^support: connection to 127\\.0\\.0\\.1:${relay.port} lost while waiting for new mail \\(.+\\)\\.$`));
      assert.equal(await rejection(mailbox.list({ onlyUnseen: true })), error);
    } finally {
      await mailbox.close();
      await mailbox.close();
      relay.close();
    }
  });

  test('the server ending the session while waiting: ConnectionError', async () => {
    const { user, password } = await newUser();
    const mailbox = createImapMailbox(account({ user, password }));
    try {
      await mailbox.open();
      const failed = rejection(mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 10_000 }));
      await sleep(200);
      await dovecot.killSessions();
      const error = await failed;
      assert.ok(error instanceof ConnectionError, String(error));
      assert.match(error.message, new RegExp(`^support: connection to 127\\.0\\.0\\.1:${dovecot.ports.imaps} lost while waiting for new mail \\(`));
    } finally {
      await mailbox.close();
    }
  });

  test('a server without IDLE: capabilities.idle false; a wait still sees new mail through the watchdog NOOPs', async () => {
    const { user, password } = await newUser();
    // Plaintext, so the capability lists can be rewritten on the way.
    const relay = await startRelay(dovecot.ports.imap, { rewrite: (chunk) => Buffer.from(chunk.toString('latin1').replace(/ IDLE\b/g, ''), 'latin1') });
    const lines: string[] = [];
    const mailbox = createImapMailbox(account({ user, password, tls: 'none', port: relay.port, ca: undefined }), { logger: { debug: (line) => lines.push(line) } });
    try {
      await mailbox.open();
      assert.equal(mailbox.capabilities.idle, false);
      assert.deepEqual(await mailbox.list({ onlyUnseen: true }), []);
      const mark = lines.length;
      const waiting = mailbox.waitForChange!({ maxMs: 20_000, healthCheckMs: 300 });
      await sleep(100);
      await dovecot.deliver(user, message());
      assert.equal(await waiting, 'changed');
      const commands = sent(lines, mark);
      assert.ok(commands.length > 0 && commands.every((command) => command === 'NOOP'), commands.join('\n'));
      assert.equal((await mailbox.list({ onlyUnseen: true })).length, 1);
    } finally {
      await mailbox.close();
      relay.close();
    }
  });

  test('not open: MailboxError; nonsense options: RangeError', async () => {
    const { user, password } = await newUser();
    const mailbox = createImapMailbox(account({ user, password }));
    const error = await rejection(mailbox.waitForChange!({ maxMs: 1000, healthCheckMs: 1000 }));
    assert.ok(error instanceof MailboxError && /not open/.test(error.message), String(error));
    await assert.rejects(mailbox.waitForChange!({ maxMs: Number.NaN, healthCheckMs: 1000 }), RangeError);
    await assert.rejects(mailbox.waitForChange!({ maxMs: 1000, healthCheckMs: 0 }), RangeError);
  });
});
