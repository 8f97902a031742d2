import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HandlerLoadError } from '../src/errors.js';
import { loadHandler } from '../src/handler/load.js';
import { parseMessage } from '../src/message/parse.js';

const raw = Buffer.from(
  [
    'From: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= <ann@example.org>',
    'To: Support <support@example.org>, bob@example.org',
    'Cc: carol@example.org',
    'Subject: =?UTF-8?B?w5xiZXIgZGllIFJlY2hudW5n?=',
    'Date: Mon, 5 Jan 2026 08:00:00 +0000',
    'Message-ID: <1.42@example.org>',
    'In-Reply-To: <0.42@example.org>',
    'References: <0.42@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello there',
    '--b1',
    'Content-Type: application/octet-stream; name="a.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    'AAECAw==',
    '--b1--',
    '',
  ].join('\r\n'),
);
const fetched = { uid: '7', flags: [], size: raw.length, raw };
const where = { account: 'a', folder: 'INBOX' };

describe("parse = 'headers'", () => {
  it('gives the same header fields as a full parse', async () => {
    const full = await parseMessage(fetched, where);
    const headers = await parseMessage(fetched, { ...where, headersOnly: true });
    for (const key of ['subject', 'from', 'to', 'cc', 'date', 'messageId', 'inReplyTo', 'references', 'headerLines'] as const) {
      assert.deepEqual(headers[key], full[key], key);
    }
    assert.deepEqual([...headers.headers], [...full.headers]);
    assert.equal(headers.subject, 'Über die Rechnung');
    assert.equal(headers.raw, raw);
    assert.equal(headers.size, raw.length);
    assert.equal(full.attachments.length, 1);
  });

  it('throws a clear error when the handler reads the body anyway', async () => {
    const headers = await parseMessage(fetched, { ...where, headersOnly: true });
    assert.throws(() => headers.text, /mailMessage\.text is not parsed: the handler module exports parse = 'headers'/);
    assert.throws(() => headers.attachments, /mailMessage\.attachments is not parsed/);
    // Not enumerable: spreading or JSON does not trip over them.
    assert.equal({ ...headers }.subject, 'Über die Rechnung');
    assert.doesNotThrow(() => JSON.stringify({ subject: headers.subject, ...headers }));
  });

  it('handles a message without a body', async () => {
    const bare = Buffer.from('Subject: only headers\r\nFrom: a@example.org\r\n');
    const headers = await parseMessage({ uid: '8', flags: [], size: bare.length, raw: bare }, { ...where, headersOnly: true });
    assert.equal(headers.subject, 'only headers');
  });

  describe('loadHandler', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'mailpoll-parse-'));
      await writeFile(path.join(dir, 'headers.mjs'), "export const parse = 'headers';\nexport default () => 'keep';\n");
      await writeFile(path.join(dir, 'full.mjs'), "export const parse = 'full';\nexport default () => 'keep';\n");
      await writeFile(path.join(dir, 'plain.mjs'), "export default () => 'keep';\n");
      await writeFile(path.join(dir, 'typo.mjs'), "export const parse = 'header';\nexport default () => 'keep';\n");
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reads the parse export; full is the default', async () => {
      assert.equal((await loadHandler(path.join(dir, 'headers.mjs'))).parse, 'headers');
      assert.equal((await loadHandler(path.join(dir, 'full.mjs'))).parse, 'full');
      assert.equal((await loadHandler(path.join(dir, 'plain.mjs'))).parse, 'full');
    });

    it('refuses an unknown parse value', async () => {
      await assert.rejects(loadHandler(path.join(dir, 'typo.mjs')), (error: unknown) => {
        assert.ok(error instanceof HandlerLoadError);
        assert.match(error.message, /export const parse must be 'headers' or 'full', not "header"/);
        return true;
      });
    });
  });
});
