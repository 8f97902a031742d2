/**
 * Both readers of a header block without mailparser's stream parser hold to it, over every
 * fixture (the hostile corpus, its large cases built now, and the mail fixtures) and over
 * header blocks made to find where they could part: the message a `parse = 'headers'` handler
 * receives (parse.ts) has the fields a stream parse of the header block gave, in its order,
 * with the same values (`otp` included); the header reader the main thread uses for the
 * ledger (header-fields.ts) gives the same ledger and report fields and fingerprint.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readHeaderFields } from '../src/message/header-fields.js';
import { simpleParser } from 'mailparser';
import { decodeLegacyHeaders, headerBlockEnd, parseMessage, withoutParseTimeDate } from '../src/message/parse.js';
import { metaOf, sentDateOf } from '../src/poll/message-meta.js';
import { fingerprint } from '../src/store/fingerprint.js';
import { cases as hostileCases } from './fixtures/hostile/generate.mjs';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

interface Recorded {
  meta: ReturnType<typeof metaOf>;
  sentDate: string | undefined;
  print: string | null;
}

async function byParse(raw: Buffer): Promise<Recorded | 'refused'> {
  let message;
  try {
    message = await parseMessage({ uid: '1', raw, size: raw.length, flags: [] }, { account: 'a', folder: 'INBOX', headersOnly: true });
  } catch {
    return 'refused';
  }
  const sentDate = sentDateOf(message);
  return { meta: metaOf(message, raw.length), sentDate, print: fingerprint({ messageId: message.messageId, sentDate, size: raw.length }) };
}

async function byReader(raw: Buffer): Promise<Recorded> {
  const fields = await readHeaderFields(raw);
  const sentDate = sentDateOf(fields);
  return { meta: metaOf(fields, raw.length), sentDate, print: fingerprint({ messageId: fields.messageId, sentDate, size: raw.length }) };
}

async function assertSame(name: string, raw: Buffer): Promise<void> {
  const parsed = await byParse(raw);
  // A message even the fallback parse cannot read fails in its handler's parse instead; the
  // reader's fields are then only the report's (the parse recorded none).
  if (parsed === 'refused') return;
  assert.deepEqual(await byReader(raw), parsed, name);
}

async function emlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.eml')).map((entry) => path.join(entry.parentPath, entry.name));
}

const crlf = (...lines: string[]) => Buffer.from(`${lines.join('\r\n')}\r\n\r\nbody\r\n`);

const MADE: Array<[string, Buffer]> = [
  ['encoded words in subject and name', crlf('From: =?utf-8?B?SsO8cmdlbg==?= <j@example.org>', 'Subject: =?iso-8859-1?Q?Gr=FC=DFe?= und =?utf-8?Q?mehr?=', 'Message-ID: <a@b>', 'Date: Tue, 1 Dec 2026 10:00:00 +0100')],
  ['folded fields', crlf('From: "A, B"\r\n <ab@example.org>', 'Subject: one\r\n\ttwo\r\n  three', 'Date: Tue, 1 Dec 2026\r\n 10:00:00 +0100', 'Message-ID:\r\n <folded@x>')],
  ['bare LF line ends', Buffer.from('From: a@example.org\nSubject: lf only\nDate: Tue, 1 Dec 2026 10:00:00 +0000\nMessage-ID: <lf@x>\n\nbody\n')],
  ['mbox preamble', crlf('From sender@example.org Tue Dec  1 10:00:00 2026', 'From: a@example.org', 'Subject: after the preamble')],
  ['an empty subject before a real one', crlf('Subject:', 'Subject: second', 'From: a@example.org')],
  ['repeated fields: the first counts', crlf('Message-ID: <one@x>', 'Message-ID: <two@x>', 'From: first@example.org', 'From: second@example.org', 'Date: Tue, 1 Dec 2026 10:00:00 +0000', 'Date: Wed, 2 Dec 2026 10:00:00 +0000')],
  ['an unparseable date', crlf('Date: yesterday-ish', 'Subject: x')],
  ['an empty date', crlf('Date:', 'Subject: x')],
  ['a message-id without brackets', crlf('Message-ID: naked@x', 'Subject: x')],
  ['upper-case keys, spaces before the colon', crlf('SUBJECT : shouting', 'FROM: A <a@example.org>', 'MESSAGE-ID : <up@x>')],
  ['a line without a colon, its key on the continuation', crlf('Subject: x', 'Broken', ' line: value', 'From: a@example.org')],
  ['raw ISO-8859-1 bytes', Buffer.concat([Buffer.from('Content-Type: text/plain; charset=iso-8859-1\r\nSubject: Gr'), Buffer.from([0xfc, 0xdf]), Buffer.from('e\r\nFrom: M'), Buffer.from([0xfc]), Buffer.from('ller <m@example.org>\r\n\r\nbody\r\n')])],
  ['raw UTF-8', crlf('Subject: Grüße 🎉', 'From: Jürgen <j@example.org>')],
  ['no header block at all', Buffer.from('\r\njust a body\r\n')],
  ['no empty line', Buffer.from('Subject: only headers\r\nFrom: a@example.org')],
  ['a group and several senders', crlf('From: Team: a@example.org, "B" <b@example.org>;, c@example.org')],
  ['a one-time passcode', crlf('From: a@example.org', 'OTP-Token: "123456"; origin="https://example.org"', 'Subject: your code')],
  ['a folded one-time passcode', crlf('OTP-Token: "98 76";\r\n origin="http://localhost:8080"', 'Subject: x')],
  ['two one-time passcodes: none', crlf('OTP-Token: "1"; origin="https://a.example"', 'otp-token: "2"; origin="https://a.example"')],
  ['a one-time passcode for an insecure origin', crlf('OTP-Token: "1"; origin="http://example.org"', 'Subject: x')],
  ['over the header limit: 20,000 short lines', crlf('Subject: many lines', 'From: a@example.org', ...Array.from({ length: 20_000 }, (_, i) => `X-${i}: y`), 'Message-ID: <late@x>')],
  ['over the header limit: a 2 MB subject', crlf(`Subject: ${'s'.repeat(2 * 1024 * 1024)}`, 'From: a@example.org', 'Message-ID: <big@x>')],
];

/** What a header-only parse gave when it ran mailparser's stream parser over the header block. */
async function byStreamParse(raw: Buffer): Promise<Record<string, unknown> | 'refused'> {
  const end = headerBlockEnd(raw);
  const source = end === raw.length ? raw : Buffer.concat([raw.subarray(0, end), Buffer.from('\r\n')]);
  let parsed;
  try {
    parsed = await simpleParser(decodeLegacyHeaders(source), { skipTextToHtml: true, skipTextLinks: true });
  } catch {
    return 'refused';
  }
  withoutParseTimeDate(parsed);
  return parsed as unknown as Record<string, unknown>;
}

const ORIGIN_FIELDS = new Set(['uid', 'account', 'folder', 'flags', 'size', 'raw']);
const BODY_FIELDS = new Set(['text', 'html', 'textAsHtml', 'attachments']);

/** The header-only message has the stream parse's fields, in its order, with the same values; its body fields throw. */
async function assertSameMessage(name: string, raw: Buffer): Promise<void> {
  const expected = await byStreamParse(raw);
  const message = await parseMessage({ uid: '1', raw, size: raw.length, flags: [] }, { account: 'a', folder: 'INBOX', headersOnly: true });
  const actual = message as unknown as Record<string, unknown>;
  if (expected === 'refused') {
    assert.equal(typeof message.parseError, 'string', `${name}: refused by the stream parse, so refused here`);
    return;
  }
  const expectedKeys = Object.keys(expected).filter((key) => !BODY_FIELDS.has(key));
  assert.deepEqual(Object.keys(actual).filter((key) => !ORIGIN_FIELDS.has(key)), expectedKeys, `${name}: fields`);
  for (const key of expectedKeys) assert.deepEqual(actual[key], expected[key], `${name}: ${key}`);
  for (const key of BODY_FIELDS) assert.throws(() => actual[key], /is not parsed/, `${name}: ${key}`);
}

/** Every fixture .eml, and the hostile cases built at test time (too large to commit), by name. */
async function corpus(): Promise<Array<[string, Buffer]>> {
  const files = await emlFiles(FIXTURES);
  const built = (hostileCases as Array<{ name: string; committed?: boolean; build: () => Buffer }>).filter((c) => c.committed === false);
  assert.ok(files.length > 50 && built.length > 0, `fixtures found: ${files.length}, built: ${built.length}`);
  const read = await Promise.all(files.map(async (file): Promise<[string, Buffer]> => [path.relative(FIXTURES, file), await readFile(file)]));
  return [...read, ...built.map((c): [string, Buffer] => [c.name, c.build()])];
}

describe('the header-only message is the one mailparser\'s stream parse gave', () => {
  test('every fixture .eml and hostile case', async () => {
    for (const [name, raw] of await corpus()) await assertSameMessage(name, raw);
  });

  test('the made header blocks', async () => {
    for (const [name, raw] of MADE) await assertSameMessage(name, raw);
  });

  test('the one-time passcode is mailparser\'s', async () => {
    const raw = MADE.find(([name]) => name === 'a one-time passcode')![1];
    const message = await parseMessage({ uid: '1', raw, size: raw.length, flags: [] }, { account: 'a', folder: 'INBOX', headersOnly: true });
    assert.deepEqual(message.otp, { code: '123456', origin: 'https://example.org' });
  });
});

describe('the header reader gives what a header-only parse gives', () => {
  test('every fixture .eml and hostile case', async () => {
    for (const [name, raw] of await corpus()) await assertSame(name, raw);
  });

  for (const [name, raw] of MADE) {
    test(name, async () => {
      assert.notEqual(await byParse(raw), 'refused', 'the parse reads it');
      await assertSame(name, raw);
    });
  }
});
