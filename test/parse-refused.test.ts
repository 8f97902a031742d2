/**
 * Messages mailparser refuses (over its limits: too many MIME parts, parts nested too deep, a
 * header block over 1 MiB, too many header lines) still reach the handler, over IMAP and
 * Maildir: with `raw` byte for byte, the header fields that could be read and `parseError`,
 * and the handler's decision is carried out. Real CLI, real Dovecot, messages built here.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { handlerCalls, SPEC_HANDLER } from './helpers/scenario.js';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { bySubject, readMaildir } from './helpers/maildir-state.js';
import { makeTempDir } from './helpers/temp.js';

const dovecot = useDovecot();

let counter = 0;

function head(subject: string): string {
  counter += 1;
  return [
    'From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.com>',
    'To: support@example.com',
    `Subject: ${subject}`,
    'Date: Thu, 01 Jan 2026 10:00:00 +0000',
    `Message-ID: <refused-${counter}@test>`,
    'MIME-Version: 1.0',
  ].join('\r\n');
}

/** One multipart with 1,001 text parts: 1,002 MIME nodes. */
function tooManyParts(subject: string): Buffer {
  let source = `${head(subject)}\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n`;
  for (let i = 0; i < 1001; i += 1) source += `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`;
  return Buffer.from(`${source}--b--\r\n`);
}

/** Multiparts nested 2,000 deep. */
function tooDeep(subject: string): Buffer {
  let source = `${head(subject)}\r\n`;
  for (let i = 0; i < 2000; i += 1) source += `Content-Type: multipart/mixed; boundary="n${i}"\r\n\r\n--n${i}\r\n`;
  source += 'Content-Type: text/plain\r\n\r\ndeep\r\n';
  for (let i = 1999; i >= 0; i -= 1) source += `--n${i}--\r\n`;
  return Buffer.from(source);
}

/** A header block of 1.1 MB: one huge field before the usual ones. */
function hugeHeader(subject: string): Buffer {
  return Buffer.from(`X-Padding: ${'a'.repeat(1_100_000)}\r\n${head(subject)}\r\nContent-Type: text/plain\r\n\r\nbody\r\n`);
}

/** 20,000 short header lines before the usual ones. */
function manyHeaderLines(subject: string): Buffer {
  let lines = '';
  for (let i = 0; i < 20_000; i += 1) lines += `X-Line-${i}: v\r\n`;
  return Buffer.from(`${lines}${head(subject)}\r\nContent-Type: text/plain\r\n\r\nbody\r\n`);
}

function plain(subject: string): Buffer {
  return Buffer.from(`${head(subject)}\r\nContent-Type: text/plain\r\n\r\nfine\r\n`);
}

const REFUSED = [
  ['parts', tooManyParts, 'Max allowed child nodes exceeded'],
  ['nesting', tooDeep, 'Max allowed child nodes exceeded'],
  ['huge header', hugeHeader, 'Max header size for a MIME node exceeded'],
  ['header lines', manyHeaderLines, 'Max header size for a MIME node exceeded'],
] as const;

/** Records what it got (a hash of `raw`, parseError, header fields); deletes what the parser refused. */
const DECIDING_HANDLER = `
import { appendFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
export default function handle(mailMessage) {
  appendFileSync(process.env.HANDLER_LOG, JSON.stringify({
    subject: mailMessage.subject,
    from: mailMessage.from?.value?.[0]?.name,
    messageId: mailMessage.messageId,
    parseError: mailMessage.parseError ?? null,
    parseErrorCode: mailMessage.parseErrorCode ?? null,
    sha256: createHash('sha256').update(mailMessage.raw).digest('hex'),
  }) + '\\n');
  return mailMessage.parseError ? 'delete' : 'keep';
}
`;

function sha256(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

interface Where {
  account: Record<string, unknown>;
  subjects(): Promise<string[]>;
}

let users = 0;

const WHERE: Array<[string, (messages: Buffer[]) => Promise<Where>]> = [
  [
    'imap',
    async (messages) => {
      users += 1;
      const user = `refused${users}`;
      await dovecot.addUser(user, 'secret-pw');
      for (const raw of messages) await dovecot.deliver(user, raw);
      return {
        account: { protocol: 'imap', host: '127.0.0.1', port: dovecot.ports.imaps, tls: 'implicit', ca: dovecot.caFile, user, password: 'secret-pw' },
        subjects: async () => (await readMaildir(dovecot.maildir(user))).map((m) => m.subject),
      };
    },
  ],
  [
    'maildir',
    async (messages) => {
      const path = join(await makeTempDir('refused'), 'Maildir');
      for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
      for (const [index, raw] of messages.entries()) await writeFile(join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`), raw);
      return { account: { protocol: 'maildir', path }, subjects: async () => (await readMaildir(path)).map((m) => m.subject) };
    },
  ],
];

for (const [protocol, mailbox] of WHERE) {
  describe(`${protocol}: messages mailparser refuses`, () => {
    test('reach the handler with raw, header fields and parseError; its decision is carried out', async () => {
      const refused = REFUSED.map(([label, build]) => build(`refused: ${label}`));
      const fine = plain('fine');
      const where = await mailbox([fine, ...refused]);
      const dir = await writeConfig({ script: './handler.mjs', accounts: [{ name: 'support', ...where.account }] });
      await writeFile(join(dir, 'handler.mjs'), DECIDING_HANDLER);
      const log = join(dir, 'calls.ndjson');

      const result = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: log } });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const calls = await handlerCalls(log);
      assert.equal(calls.length, 5, JSON.stringify(calls));
      const fineCall = calls.find((call) => call.subject === 'fine');
      assert.deepEqual([fineCall?.parseError, fineCall?.sha256], [null, sha256(fine)]);
      for (const [index, [label, , reason]] of REFUSED.entries()) {
        const call = calls.find((c) => c.subject === `refused: ${label}`);
        assert.ok(call, `${label}: the handler was called with the subject read; calls: ${JSON.stringify(calls)}`);
        assert.equal(call.parseError, reason, label);
        assert.equal(call.parseErrorCode, 'EMAXLEN', label);
        assert.equal(call.from, 'Jürgen', `${label}: encoded words decoded`);
        assert.match(String(call.messageId), /^<refused-\d+@test>$/, label);
        assert.equal(call.sha256, sha256(refused[index]!), `${label}: raw is the source, byte for byte`);
      }
      const events = messageEvents(result);
      assert.deepEqual(
        events.map((e) => [e.subject, e.action, e.status]).sort(),
        [['fine', 'keep', 'ok'], ...REFUSED.map(([label]) => [`refused: ${label}`, 'delete', 'ok'])].sort(),
      );
      assert.deepEqual(await where.subjects(), ['fine']);
    });

    test('a handler that never looks at parseError still decides them', async () => {
      const messages = [tooManyParts('[1] "delete"'), tooDeep('[2] "markSeen"'), hugeHeader('[3] "delete"')];
      const where = await mailbox(messages);
      const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [{ name: 'support', ...where.account }] });
      const result = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: join(dir, 'calls.ndjson') } });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.deepEqual(
        messageEvents(result).map((e) => [e.subject, e.action, e.status]),
        [
          ['[1] "delete"', 'delete', 'ok'],
          ['[2] "markSeen"', 'markSeen', 'ok'],
          ['[3] "delete"', 'delete', 'ok'],
        ],
      );
      const left = await where.subjects();
      assert.deepEqual(left, ['[2] "markSeen"']);
      if (protocol === 'maildir') {
        const stored = await readMaildir(String(where.account.path));
        assert.equal(bySubject(stored, '[2] "markSeen"')?.flags, 'S');
      }
    });
  });
}
