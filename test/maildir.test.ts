import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AccountConfig } from '../src/config/types.js';
import { MailboxError } from '../src/errors.js';
import { createMaildirMailbox } from '../src/mailbox/maildir.js';
import type { FetchedMessage, Mailbox } from '../src/mailbox/types.js';
import { parseMessage } from '../src/message/parse.js';
import { accountConfig } from './helpers/account.js';
import { collect } from './helpers/mailbox.js';

const mailFixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'mail');

function accountFor(maildirPath: string | undefined): AccountConfig {
  return accountConfig({ name: 'inbox', protocol: 'maildir', tls: 'none', path: maildirPath });
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'mailpoll-maildir-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let counter = 0;
async function makeMaildir(dir = path.join(scratch, `md${++counter}`)): Promise<string> {
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(path.join(dir, sub), { recursive: true });
  return dir;
}

const T0 = new Date('2024-03-01T10:00:00Z');
/** Write `<dir>/<file>` with `body`, its mtime `minutes` after T0. */
async function put(dir: string, file: string, body: string | Buffer, minutes = 0): Promise<string> {
  const full = path.join(dir, file);
  await writeFile(full, body);
  const time = new Date(T0.getTime() + minutes * 60_000);
  await utimes(full, time, time);
  return full;
}

const message = (subject: string) => `From: a@example.com\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n`;

/** Every file under the Maildir++ root, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(at: string): Promise<void> {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) await walk(full);
      else found.push(path.relative(dir, full));
    }
  }
  await walk(dir);
  return found.sort();
}

describe('maildir: open', () => {
  it('reports the folder, total and unseen', async () => {
    const dir = await makeMaildir();
    await put(dir, 'new/1000.a.host', message('new one'));
    await put(dir, 'cur/1001.b.host:2,S', message('seen'));
    await put(dir, 'cur/1002.c.host:2,F', message('flagged, unseen'));
    await put(dir, 'cur/1003.d.host', message('cur without info'));
    await put(dir, 'tmp/1004.e.host', message('still being delivered'));
    const status = await createMaildirMailbox(accountFor(dir)).open();
    assert.deepEqual(status, { folder: dir, total: 4, unseen: 3 });
  });

  const notMaildir: [string, () => Promise<string>][] = [
    ['a missing path', async () => path.join(scratch, 'does-not-exist')],
    ['a folder without cur/new/tmp', async () => mkdtemp(path.join(scratch, 'plain-'))],
    [
      'a folder missing tmp/',
      async () => {
        const dir = await makeMaildir();
        await rm(path.join(dir, 'tmp'), { recursive: true });
        return dir;
      },
    ],
    ['a file', async () => put(scratch, 'a-file', 'x')],
  ];
  for (const [name, makePath] of notMaildir) {
    it(`refuses ${name}`, async () => {
      const dir = await makePath();
      await assert.rejects(createMaildirMailbox(accountFor(dir)).open(), (error: unknown) => {
        assert.ok(error instanceof MailboxError);
        assert.equal(error.message, `inbox: ${dir} is not a Maildir (no cur/, new/, tmp/). Check path.`);
        assert.equal(error.account, 'inbox');
        return true;
      });
    });
  }

  it('refuses an account without path', async () => {
    await assert.rejects(createMaildirMailbox(accountFor(undefined)).open(), /^MailboxError: inbox: no path is set/);
  });

  it('declares its capabilities and closes (twice) without effect', async () => {
    const mailbox = createMaildirMailbox(accountFor(await makeMaildir()));
    assert.equal(mailbox.protocol, 'maildir');
    assert.deepEqual(mailbox.capabilities, { move: true, markSeen: true, copy: true, flags: ['\\Seen', '\\Flagged'], idle: false, commitEndsSession: false });
    await mailbox.close();
    await mailbox.close();
  });
});

describe('maildir: list', () => {
  let dir: string;
  let mailbox: Mailbox;

  before(async () => {
    dir = await makeMaildir();
    await put(dir, 'new/3000.c.host', message('newest new'), 30);
    await put(dir, 'new/1000.b.host', message('old new'), 10);
    await put(dir, 'new/1000.a.host', message('old new, same time, first by name'), 10);
    await put(dir, 'cur/2000.s.host:2,RS', message('seen and answered'), 20);
    await put(dir, 'cur/0500.f.host:2,FT', message('flagged and trashed, unseen'), 5);
    await put(dir, 'cur/2500.d.host:2,Da', message('draft with a keyword'), 25);
    await put(dir, 'new/.hidden', 'not a message', 1);
    await mkdir(path.join(dir, 'new', 'a-directory'));
    await put(dir, 'tmp/0001.t.host', message('in tmp'), 0);
    mailbox = createMaildirMailbox(accountFor(dir));
    await mailbox.open();
  });

  it('lists unseen messages oldest first (mtime, then name), with uid, flags, size and date', async () => {
    const candidates = await mailbox.list({ onlyUnseen: true });
    assert.deepEqual(
      candidates.map((c) => [c.uid, c.flags]),
      [
        ['0500.f.host', ['\\Flagged', '\\Deleted']],
        ['1000.a.host', []],
        ['1000.b.host', []],
        ['2500.d.host', ['\\Draft']],
        ['3000.c.host', []],
      ],
    );
    const first = candidates[0]!;
    assert.equal(first.size, Buffer.byteLength(message('flagged and trashed, unseen')));
    assert.deepEqual(first.date, new Date(T0.getTime() + 5 * 60_000));
  });

  it('lists all messages of new/ and cur/ without onlyUnseen', async () => {
    const candidates = await mailbox.list({ onlyUnseen: false });
    assert.deepEqual(
      candidates.map((c) => c.uid),
      ['0500.f.host', '1000.a.host', '1000.b.host', '2000.s.host', '2500.d.host', '3000.c.host'],
    );
    assert.deepEqual(candidates[3]!.flags, ['\\Answered', '\\Seen']);
  });

  it('returns at most limit messages, the oldest', async () => {
    assert.deepEqual(
      (await mailbox.list({ onlyUnseen: true, limit: 2 })).map((c) => c.uid),
      ['0500.f.host', '1000.a.host'],
    );
    assert.deepEqual(await mailbox.list({ onlyUnseen: true, limit: 0 }), []);
  });

  it('leaves out what skip says before limit counts; no messageId/sentDate (the name is the key)', async () => {
    const asked: string[] = [];
    const skip = async (uids: readonly string[]) => (asked.push(...uids), new Set(uids.filter((uid) => uid === '0500.f.host' || uid === '1000.b.host')));
    const listed = await mailbox.list({ onlyUnseen: true, limit: 2, skip });
    assert.deepEqual(listed.map((c) => c.uid), ['1000.a.host', '2500.d.host']);
    assert.deepEqual(asked.sort(), ['0500.f.host', '1000.a.host', '1000.b.host', '2500.d.host', '3000.c.host']);
    assert.ok(listed.every((c) => c.messageId === undefined && c.sentDate === undefined));
    assert.deepEqual(await mailbox.list({ onlyUnseen: false, skip: async (uids) => new Set(uids) }), []);
  });

  it('gives an empty list for an empty Maildir', async () => {
    const empty = createMaildirMailbox(accountFor(await makeMaildir()));
    assert.deepEqual(await empty.list({ onlyUnseen: false }), []);
  });
});

describe('maildir: fetch', () => {
  it('yields the exact bytes of every candidate, in order', async () => {
    const dir = await makeMaildir();
    const binary = Buffer.concat([Buffer.from('Subject: bytes\r\n\r\n'), Buffer.from([0x00, 0xff, 0xe9, 0x0d, 0x0a, 0x80])]);
    await put(dir, 'new/1.x', binary, 1);
    await put(dir, 'cur/2.x:2,S', message('two'), 2);
    const mailbox = createMaildirMailbox(accountFor(dir));
    const candidates = await mailbox.list({ onlyUnseen: false });
    const fetched = await collect(mailbox.fetch(candidates));
    assert.deepEqual(
      fetched.map((m) => [m.uid, m.size, m.flags]),
      [
        ['1.x', binary.length, []],
        ['2.x', Buffer.byteLength(message('two')), ['\\Seen']],
      ],
    );
    assert.ok(fetched[0]!.raw.equals(binary));
    assert.equal(fetched[1]!.raw.toString(), message('two'));
    assert.deepEqual(fetched[1]!.date, new Date(T0.getTime() + 2 * 60_000));
  });

  it('skips a message another program removed, without throwing', async () => {
    const dir = await makeMaildir();
    await put(dir, 'new/1.x', message('one'), 1);
    const gone = await put(dir, 'new/2.x', message('two'), 2);
    await put(dir, 'new/3.x', message('three'), 3);
    const mailbox = createMaildirMailbox(accountFor(dir));
    const candidates = await mailbox.list({ onlyUnseen: true });
    await unlink(gone);
    assert.deepEqual((await collect(mailbox.fetch(candidates))).map((m) => m.uid), ['1.x', '3.x']);
  });

  it('finds a message another program renamed (new/ -> cur/ with flags)', async () => {
    const dir = await makeMaildir();
    await put(dir, 'new/1.x', message('one'));
    const mailbox = createMaildirMailbox(accountFor(dir));
    const candidates = await mailbox.list({ onlyUnseen: true });
    await rename(path.join(dir, 'new/1.x'), path.join(dir, 'cur/1.x:2,F'));
    const [fetched] = await collect(mailbox.fetch(candidates));
    assert.equal(fetched?.uid, '1.x');
    assert.deepEqual(fetched?.flags, ['\\Flagged']);
  });
});

describe('maildir: present', () => {
  it('answers which unique names are still in new/ or cur/, wherever they moved between the two', async () => {
    const dir = await makeMaildir();
    await put(dir, 'new/1.x', message('one'), 1);
    await put(dir, 'cur/2.x:2,S', message('two'), 2);
    await put(dir, 'new/3.x', message('three'), 3);
    await put(dir, 'tmp/4.x', message('four, still being delivered'), 4);
    const mailbox = createMaildirMailbox(accountFor(dir));
    await mailbox.list({ onlyUnseen: false });
    await rename(path.join(dir, 'new/1.x'), path.join(dir, 'cur/1.x:2,FS'));
    await unlink(path.join(dir, 'new/3.x'));
    const present = await mailbox.present(['1.x', '2.x', '3.x', '4.x', 'never', '1.x']);
    assert.deepEqual([...present].sort(), ['1.x', '2.x']);
    // The renamed message is found where it is now.
    assert.deepEqual(await mailbox.apply([{ uid: '1.x', action: 'delete' }]), [{ uid: '1.x', status: 'done' }]);
    assert.deepEqual(await tree(dir), ['cur/2.x:2,S', 'tmp/4.x']);
    // Deleted at once: nothing waits for a commit.
    assert.deepEqual(await mailbox.commit(), []);
  });

  it('answers an empty set for no uids without touching the disk', async () => {
    const missing = createMaildirMailbox(accountFor(path.join(scratch, 'no-such-maildir')));
    assert.deepEqual(await missing.present([]), new Set());
    await assert.rejects(missing.present(['1.x']), MailboxError);
  });
});

describe('maildir: apply', () => {
  let root: string;
  let mailbox: Mailbox;

  beforeEach(async () => {
    root = await makeMaildir();
    await put(root, 'new/1.new', message('one'), 1);
    await put(root, 'cur/2.cur:2,RF', message('two'), 2);
    await put(root, 'cur/3.cur:2,Sa', message('three'), 3);
    await put(root, 'cur/4.cur', message('four'), 4);
    mailbox = createMaildirMailbox(accountFor(root));
    await mailbox.open();
    await mailbox.list({ onlyUnseen: false });
  });

  it('deletes', async () => {
    assert.deepEqual(await mailbox.apply([{ uid: '1.new', action: 'delete' }, { uid: '2.cur', action: 'delete' }]), [
      { uid: '1.new', status: 'done' },
      { uid: '2.cur', status: 'done' },
    ]);
    assert.deepEqual(await tree(root), ['cur/3.cur:2,Sa', 'cur/4.cur']);
  });

  it('keeps without touching anything', async () => {
    const before = await tree(root);
    assert.deepEqual(await mailbox.apply([{ uid: '1.new', action: 'keep' }]), [{ uid: '1.new', status: 'done' }]);
    assert.deepEqual(await tree(root), before);
  });

  it('marks as seen: new/ -> cur/:2,S, flags merged and sorted, already seen unchanged', async () => {
    const results = await mailbox.apply([
      { uid: '1.new', action: 'markSeen' },
      { uid: '2.cur', action: 'markSeen' },
      { uid: '3.cur', action: 'markSeen' },
      { uid: '4.cur', action: 'markSeen' },
    ]);
    assert.ok(results.every((result) => result.status === 'done'));
    assert.deepEqual(await tree(root), ['cur/1.new:2,S', 'cur/2.cur:2,FRS', 'cur/3.cur:2,Sa', 'cur/4.cur:2,S']);
    // The renamed message is still found by uid, and now counts as seen.
    assert.deepEqual((await mailbox.list({ onlyUnseen: true })).map((c) => c.uid), []);
    assert.equal((await collect(mailbox.fetch([{ uid: '1.new', size: undefined, flags: [] }])))[0]?.raw.toString(), message('one'));
  });

  it('moves into .Archive.2024, created with cur/ new/ tmp/ and maildirfolder; the message keeps its place and flags', async () => {
    const results = await mailbox.apply([
      { uid: '1.new', action: 'move', folder: 'Archive/2024' },
      { uid: '2.cur', action: 'move', folder: 'Archive/2024' },
    ]);
    assert.deepEqual(results, [
      { uid: '1.new', status: 'done' },
      { uid: '2.cur', status: 'done' },
    ]);
    assert.deepEqual(await tree(root), [
      '.Archive.2024/cur/2.cur:2,RF',
      '.Archive.2024/maildirfolder',
      '.Archive.2024/new/1.new',
      'cur/3.cur:2,Sa',
      'cur/4.cur',
    ]);
    assert.ok((await stat(path.join(root, '.Archive.2024', 'tmp'))).isDirectory());
    assert.equal(await readFile(path.join(root, '.Archive.2024/new/1.new'), 'utf8'), message('one'));
    // The moved messages have left this Maildir.
    assert.deepEqual((await mailbox.list({ onlyUnseen: false })).map((c) => c.uid), ['3.cur', '4.cur']);
  });

  it('moves into an existing folder', async () => {
    await makeMaildir(path.join(root, '.Spam'));
    assert.deepEqual(await mailbox.apply([{ uid: '4.cur', action: 'move', folder: 'Spam' }]), [{ uid: '4.cur', status: 'done' }]);
    assert.ok(existsSync(path.join(root, '.Spam/cur/4.cur')));
    assert.equal(existsSync(path.join(root, '.Spam/maildirfolder')), false, 'an existing folder is left as it is');
  });

  it('counts a message that is no longer there as done, for every action', async () => {
    await unlink(path.join(root, 'new/1.new'));
    await rename(path.join(root, 'cur/2.cur:2,RF'), path.join(scratch, `elsewhere-${counter}`));
    const results = await mailbox.apply([
      { uid: '1.new', action: 'markSeen' },
      { uid: '1.new', action: 'delete' },
      { uid: '2.cur', action: 'move', folder: 'Archive' },
      { uid: 'never-there', action: 'delete' },
      { uid: '4.cur', action: 'delete' },
    ]);
    assert.deepEqual(results, [
      { uid: '1.new', status: 'done' },
      { uid: '1.new', status: 'done' },
      { uid: '2.cur', status: 'done' },
      { uid: 'never-there', status: 'done' },
      { uid: '4.cur', status: 'done' },
    ]);
    assert.deepEqual(await tree(root), ['cur/3.cur:2,Sa']);
    assert.equal(existsSync(path.join(root, '.Archive')), false, 'nothing to move, no folder created');
  });

  it('re-applying the same decisions (recovery after a crash) is idempotent', async () => {
    const decisions = [
      { uid: '1.new', action: 'delete' as const },
      { uid: '2.cur', action: 'move' as const, folder: 'Archive' },
      { uid: '3.cur', action: 'markSeen' as const },
      { uid: '4.cur', action: 'markSeen' as const },
    ];
    const ok = decisions.map((decision) => ({ uid: decision.uid, status: 'done' }));
    assert.deepEqual(await mailbox.apply(decisions), ok);
    const after = await tree(root);
    assert.deepEqual(after, ['.Archive/cur/2.cur:2,RF', '.Archive/maildirfolder', 'cur/3.cur:2,Sa', 'cur/4.cur:2,S']);
    // A new mailbox object, as after a restart: nothing known from list().
    assert.deepEqual(await createMaildirMailbox(accountFor(root)).apply(decisions), ok);
    assert.deepEqual(await tree(root), after);
  });

  it('finds a message another program renamed since list, and acts on it', async () => {
    await rename(path.join(root, 'new/1.new'), path.join(root, 'cur/1.new:2,F'));
    assert.deepEqual(await mailbox.apply([{ uid: '1.new', action: 'markSeen' }]), [{ uid: '1.new', status: 'done' }]);
    assert.ok(existsSync(path.join(root, 'cur/1.new:2,FS')));
  });

  it('refuses an unusable folder name even when the message is gone', async () => {
    const results = await mailbox.apply([
      { uid: 'never-there', action: 'move', folder: '../x' },
      { uid: 'never-there', action: 'move' },
    ]);
    assert.deepEqual(results.map((result) => result.status), ['failed', 'failed']);
    assert.match(results[0]!.error!.message, /^inbox: message never-there: invalid folder name "\.\.\/x"/);
    assert.match(results[1]!.error!.message, /no folder given/);
  });

  it('refuses unusable folder names per message', async () => {
    const results = await mailbox.apply([
      { uid: '1.new', action: 'move', folder: 'Archive//2024' },
      { uid: '2.cur', action: 'move', folder: '' },
      { uid: '3.cur', action: 'move', folder: '../x' },
      { uid: '4.cur', action: 'move' },
    ]);
    assert.deepEqual(results.map((result) => result.status), ['failed', 'failed', 'failed', 'failed']);
    assert.match(results[0]!.error!.message, /^inbox: message 1\.new: invalid folder name "Archive\/\/2024"/);
    assert.match(results[3]!.error!.message, /no folder given/);
    assert.deepEqual(await tree(root), ['cur/2.cur:2,RF', 'cur/3.cur:2,Sa', 'cur/4.cur', 'new/1.new']);
  });

  it('never replaces an existing file', async () => {
    await makeMaildir(path.join(root, '.Archive'));
    await put(root, '.Archive/new/1.new', 'another message with the same name');
    const [result] = await mailbox.apply([{ uid: '1.new', action: 'move', folder: 'Archive' }]);
    assert.equal(result?.status, 'failed');
    assert.ok(result!.error instanceof MailboxError);
    assert.match(result!.error.message, /already exists$/);
    assert.ok(existsSync(path.join(root, 'new/1.new')));
    assert.equal(await readFile(path.join(root, '.Archive/new/1.new'), 'utf8'), 'another message with the same name');
    // Still refused when tried again: the message is there, so this is no "already done".
    const [again] = await mailbox.apply([{ uid: '1.new', action: 'move', folder: 'Archive' }]);
    assert.equal(again?.status, 'failed');
  });

  it('uses the parent as Maildir++ root when the path is a subfolder (.Lists)', async () => {
    const sub = await makeMaildir(path.join(root, '.Lists'));
    await put(sub, 'new/9.list', message('nine'));
    await put(sub, 'new/8.list', message('eight'));
    const subMailbox = createMaildirMailbox(accountFor(sub));
    assert.equal((await subMailbox.open()).total, 2);
    const results = await subMailbox.apply([
      { uid: '9.list', action: 'move', folder: 'Archive' },
      { uid: '8.list', action: 'move', folder: 'INBOX' },
    ]);
    assert.ok(results.every((result) => result.status === 'done'));
    assert.ok(existsSync(path.join(root, '.Archive/new/9.list')));
    assert.ok(existsSync(path.join(root, 'new/8.list')));
    assert.equal(existsSync(path.join(sub, '.Archive')), false);
  });
});

describe('parseMessage', () => {
  const meta = { account: 'inbox', folder: 'INBOX' };

  async function parseFixture(name: string) {
    const raw = await readFile(path.join(mailFixtures, name));
    const fetched: FetchedMessage = { uid: name, raw, size: raw.length, flags: ['\\Seen'] };
    return { raw, parsed: await parseMessage(fetched, meta) };
  }

  it('reads the fixtures through a Maildir, byte for byte', async () => {
    const dir = await makeMaildir();
    const names = (await readdir(mailFixtures)).filter((name) => name.endsWith('.eml')).sort();
    for (const [index, name] of names.entries()) await put(dir, `new/${name}`, await readFile(path.join(mailFixtures, name)), index);
    const mailbox = createMaildirMailbox(accountFor(dir));
    const fetched = await collect(mailbox.fetch(await mailbox.list({ onlyUnseen: true })));
    assert.deepEqual(fetched.map((m) => m.uid), names);
    for (const message of fetched) {
      const parsed = await parseMessage(message, meta);
      const original = await readFile(path.join(mailFixtures, message.uid));
      assert.ok(parsed.raw.equals(original), `${message.uid}: raw differs`);
      assert.equal(parsed.size, original.length);
    }
  });

  it('a simple message', async () => {
    const { raw, parsed } = await parseFixture('simple.eml');
    assert.equal(parsed.subject, 'Printer on 3rd floor is out of toner');
    assert.deepEqual(parsed.from?.value, [{ address: 'alice@example.com', name: 'Alice Example' }]);
    assert.deepEqual(parsed.date, new Date('2024-03-12T08:15:00Z'));
    assert.equal(parsed.messageId, '<20240312081500.1234@example.com>');
    assert.match(parsed.text ?? '', /out of toner again/);
    assert.deepEqual(parsed.attachments, []);
    assert.equal(parsed.uid, 'simple.eml');
    assert.equal(parsed.account, 'inbox');
    assert.equal(parsed.folder, 'INBOX');
    assert.deepEqual(parsed.flags, ['\\Seen']);
    assert.equal(parsed.size, raw.length);
    assert.equal(parsed.raw, raw);
  });

  it('multipart/alternative with an attachment and an inline image', async () => {
    const { parsed } = await parseFixture('multipart-attachment.eml');
    assert.equal(parsed.subject, 'Invoice 2024-0042 – March');
    assert.equal(parsed.text, 'Please find invoice 2024-0042 attached. Amount due: 120,00 €.\n');
    assert.match(String(parsed.html), /<b>2024-0042<\/b>/);
    assert.equal(parsed.cc && !Array.isArray(parsed.cc) ? parsed.cc.text : '', '"Bob" <bob@example.org>');
    assert.deepEqual(
      parsed.attachments.map((a) => [a.filename, a.contentType, a.contentDisposition, a.cid]),
      [
        ['invoice-2024-0042.pdf', 'application/pdf', 'attachment', undefined],
        ['logo.png', 'image/png', 'inline', 'logo@billing'],
      ],
    );
    assert.match(parsed.attachments[0]!.content.toString(), /^%PDF-1\.4\n% invoice 2024-0042/);
  });

  it('raw 8-bit ISO-8859-1 headers are decoded with the message charset', async () => {
    const { raw, parsed } = await parseFixture('latin1-8bit.eml');
    assert.equal(parsed.subject, 'Grüße aus Köln');
    assert.deepEqual(parsed.from?.value, [{ address: 'juergen@example.de', name: 'Jürgen Müller' }]);
    assert.equal(parsed.text, 'Schöne Grüße, Jürgen\n');
    assert.ok(raw.includes(Buffer.from('Gr\xfc\xdfe', 'latin1')), 'raw keeps the original bytes');
    assert.equal(parsed.raw, raw);
  });

  it('raw 8-bit headers without a charset fall back to windows-1252', async () => {
    const raw = Buffer.from('Subject: Caf\xe9 \x80 5\r\nFrom: Ren\xe9 <r@example.fr>\r\n\r\nbody\r\n', 'latin1');
    const parsed = await parseMessage({ uid: 'x', raw, size: raw.length, flags: [] }, meta);
    assert.equal(parsed.subject, 'Café € 5');
    assert.equal(parsed.from?.value[0]?.name, 'René');
    assert.equal(parsed.raw, raw);
  });

  it('raw 8-bit UTF-8 headers (RFC 6532)', async () => {
    const { parsed } = await parseFixture('utf8-8bit.eml');
    assert.equal(parsed.subject, 'Привет, 안녕하세요 – naïve café');
    assert.deepEqual(parsed.from?.value, [{ address: 'minjun@example.kr', name: '김민준' }]);
    assert.equal(parsed.text, 'Grüße — 你好 — 🙂\n');
  });

  it('garbage parses into an empty message instead of throwing', async () => {
    const { raw, parsed } = await parseFixture('garbage.eml');
    assert.equal(parsed.subject, undefined);
    assert.equal(parsed.from, undefined);
    assert.equal(parsed.date, undefined);
    assert.deepEqual(parsed.attachments, []);
    assert.ok(parsed.raw.equals(raw));
  });

  it('an empty message parses too', async () => {
    const parsed = await parseMessage({ uid: 'e', raw: Buffer.alloc(0), size: 0, flags: [] }, meta);
    assert.equal(parsed.subject, undefined);
    assert.equal(parsed.size, 0);
  });

  it('a truncated multipart keeps what arrived: the text and a shortened attachment', async () => {
    const { parsed } = await parseFixture('truncated.eml');
    assert.equal(parsed.subject, 'Logs attached');
    assert.equal(parsed.text, 'See the attached log.\n');
    assert.equal(parsed.attachments.length, 1);
    assert.equal(parsed.attachments[0]!.filename, 'server.log');
    assert.ok(parsed.attachments[0]!.size < 20 * 36, 'the attachment is cut short');
  });

  it('an unparseable Date header gives no date (not the time of parsing)', async () => {
    const raw = Buffer.from('Date: sometime last week\r\nSubject: x\r\n\r\nbody\r\n');
    const parsed = await parseMessage({ uid: 'd', raw, size: raw.length, flags: [] }, meta);
    assert.equal(parsed.date, undefined);
    assert.equal(parsed.headers.has('date'), false);
    assert.ok(parsed.headerLines.some((line) => line.line === 'Date: sometime last week'));
  });

  it('a message over mailparser\'s limits (1000 MIME nodes) comes back with parseError, its headers and raw', async () => {
    let source = 'Subject: nested\r\n';
    for (let i = 0; i < 1100; i++) source += `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`;
    source += 'Content-Type: text/plain\r\n\r\nhi\r\n';
    const raw = Buffer.from(source);
    const parsed = await parseMessage({ uid: 'n', raw, size: raw.length, flags: [] }, meta);
    assert.equal(parsed.parseError, 'Max allowed child nodes exceeded');
    assert.equal(parsed.parseErrorCode, 'EMAXLEN');
    assert.equal(parsed.subject, 'nested');
    assert.equal(parsed.raw, raw);
    assert.throws(() => parsed.text, /mailMessage\.text is not available: mailparser refused this message/);
    assert.throws(() => parsed.attachments, /parseError/);
  });

  it('a header block over 1 MB: the fields that fit are read, each cut at 16 KB', async () => {
    const raw = Buffer.from(`X-Big: ${'a'.repeat(1_100_000)}\r\nSubject: big\r\nFrom: a@example.com\r\n\r\nbody\r\n`);
    const parsed = await parseMessage({ uid: 'h', raw, size: raw.length, flags: [] }, meta);
    assert.equal(parsed.parseError, 'Max header size for a MIME node exceeded');
    assert.equal(parsed.subject, 'big');
    assert.equal(parsed.from?.text, 'a@example.com');
    const big = parsed.headerLines.find((line) => line.key === 'x-big');
    assert.equal(big?.line.length, 16 * 1024);
  });
});

describe('maildir copies and flags', () => {
  it('a copy applied again (a Decision re-applied after a crash) finds its copy and adds none; flags set again change nothing', async () => {
    const dir = await makeMaildir();
    await put(dir, 'new/100.M1.host', message('one'), 5);
    const mailbox = createMaildirMailbox(accountFor(dir));
    await mailbox.open();
    await mailbox.list({ onlyUnseen: false });
    const disposition = { uid: '100.M1.host', action: 'keep' as const, extras: { flags: ['\\Flagged'], unflags: [], copyTo: 'Done' } };
    assert.deepEqual(await mailbox.apply([disposition]), [{ uid: '100.M1.host', status: 'done' }]);
    assert.deepEqual(await mailbox.apply([disposition]), [{ uid: '100.M1.host', status: 'done' }]);
    assert.deepEqual(await tree(dir), ['.Done/maildirfolder', '.Done/new/100.M1.host', 'cur/100.M1.host:2,F']);
    // The copy keeps the original's mtime (Dovecot's INTERNALDATE).
    assert.equal((await stat(path.join(dir, '.Done/new/100.M1.host'))).mtime.getTime(), T0.getTime() + 5 * 60_000);
    // unflag \Flagged, flag \Seen: the letters follow.
    await mailbox.apply([{ uid: '100.M1.host', action: 'keep', extras: { flags: ['\\Seen'], unflags: ['\\Flagged'], copyTo: undefined } }]);
    assert.deepEqual(await tree(dir), ['.Done/maildirfolder', '.Done/new/100.M1.host', 'cur/100.M1.host:2,S']);
    // A keyword a Maildir cannot store fails that message, and nothing else happens to it.
    const [refused] = await mailbox.apply([{ uid: '100.M1.host', action: 'delete', extras: { flags: ['$Processed'], unflags: [], copyTo: undefined } }]);
    assert.equal(refused?.status, 'failed');
    assert.match(String(refused?.error?.message), /a Maildir stores only the flags \\Seen and \\Flagged; \$Processed cannot be set or cleared/);
    assert.ok(existsSync(path.join(dir, 'cur/100.M1.host:2,S')));
    await mailbox.close();
  });

  it('skipKeyword \\Flagged leaves out what has F', async () => {
    const dir = await makeMaildir();
    await put(dir, 'cur/1.a:2,F', message('flagged'), 1);
    await put(dir, 'cur/2.b:2,S', message('seen'), 2);
    await put(dir, 'new/3.c', message('new'), 3);
    const mailbox = createMaildirMailbox(accountFor(dir));
    await mailbox.open();
    assert.deepEqual((await mailbox.list({ onlyUnseen: false, skipKeyword: '\\Flagged' })).map((c) => c.uid), ['2.b', '3.c']);
    assert.deepEqual((await mailbox.list({ onlyUnseen: true, skipKeyword: '\\Flagged' })).map((c) => c.uid), ['3.c']);
    await mailbox.close();
  });
});
