/**
 * `mailpoll try` and handler errors that can be fixed, through the real CLI: handlers of
 * every kind (a module, a command run by sh, a webhook on a real local HTTP server) on a
 * fixture file, on stdin and on a ref archived by a real run over a Maildir. What a try must
 * leave alone (the Maildir, the ledger) is read back without mailpoll's help.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FIXTURES, messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { readMaildir } from './helpers/maildir-state.js';
import { makeTempDir } from './helpers/temp.js';

const INVOICE = join(FIXTURES, 'mail', 'multipart-attachment.eml');

/** A subject carrying an escape sequence and a bidi override: a try shows them escaped. */
const HOSTILE = Buffer.from(
  'From: Eve <eve@example.com>\r\nTo: ops@example.com\r\nSubject: =?utf-8?B?' +
    Buffer.from('pay \u001b[31mnow\u001b[0m \u202eexe.pdf').toString('base64') +
    '?=\r\nMessage-ID: <hostile@test>\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\n\r\nbody\r\n',
);

async function handlers(): Promise<string> {
  const dir = await makeTempDir('try');
  await writeFile(join(dir, 'archive.mjs'), "export default async (m, context) => { context.log('saw', m.subject, context.dryRun); return 'move:Archive'; };\n");
  await writeFile(join(dir, 'delete.mjs'), 'export default async () => 3;\n');
  await writeFile(
    join(dir, 'throws.mjs'),
    ['export default async function handle(mailMessage) {', '  const amount = Number(mailMessage.subject);', "  throw new Error(`not an amount: ${amount}`);", '}', ''].join('\n'),
  );
  await writeFile(join(dir, 'broken.mjs'), 'export default async (mailMessage) => {\n  return mailMessage.subject +;\n};\n');
  await writeFile(join(dir, 'broken.ts'), 'const limit: number = 3;\nexport default async (mailMessage: { size: number }) => mailMessage.size > limit ? 3 : ;\n');
  return dir;
}

interface Received {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const servers: http.Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function startServer(status: number, reply: string): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(status, reply === '' ? {} : { 'Content-Type': 'application/json' }).end(reply);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

async function maildir(sources: Buffer[]): Promise<string> {
  const path = join(await makeTempDir('try-md'), 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  for (const [index, source] of sources.entries()) await writeFile(join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`), source);
  return path;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('mailpoll try', () => {
  test('a module that calls process.exit(0) fails the try (exit 1) instead of ending it: it runs in a worker thread, as in a run', async () => {
    const dir = await handlers();
    await writeFile(join(dir, 'exits.mjs'), 'export default async () => { process.exit(0); };\n');
    const result = await runCli(['try', INVOICE, '-s', join(dir, 'exits.mjs')], { cwd: dir });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /process\.exit\(0\)/);
  });

  test('a module on a fixture file: the fields it saw, its decision, what that would do; --json one document', async () => {
    const dir = await handlers();
    const result = await runCli(['try', INVOICE, '-s', join(dir, 'archive.mjs')], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    for (const line of [
      /^from: +"Billing" <billing@example\.net>$/m,
      /^to: +accounts@example\.org$/m,
      /^subject: +Invoice 2024-0042 – March$/m,
      /^date: +2024-03-13T17:42:10\.000Z$/m,
      /^message-id: +<invoice-0042@billing\.example\.net>$/m,
      /^attachments: +2$/m,
      /^ {2}invoice-2024-0042\.pdf {2}application\/pdf {2}97 bytes$/m,
      /^ {2}logo\.png {2}image\/png {2}70 bytes$/m,
      /^decision: +move:Archive \+transition$/m,
      /^would move to Archive \(a try changes nothing\)$/m,
    ]) {
      assert.match(result.stdout, line);
    }
    assert.match(result.stderr, /^\[try\] saw Invoice 2024-0042 – March true$/m, 'context.log to stderr, with dryRun true');

    const json = await runCli(['try', INVOICE, '-s', join(dir, 'archive.mjs'), '--json'], { cwd: dir });
    assert.equal(json.code, 0, json.stderr);
    const document = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(
      { ...document, durationMs: typeof document.durationMs },
      {
        type: 'try',
        message: {
          source: INVOICE,
          ref: null,
          size: (await readFile(INVOICE)).length,
          from: '"Billing" <billing@example.net>',
          to: 'accounts@example.org',
          subject: 'Invoice 2024-0042 – March',
          date: '2024-03-13T17:42:10.000Z',
          messageId: '<invoice-0042@billing.example.net>',
          attachments: [
            { filename: 'invoice-2024-0042.pdf', contentType: 'application/pdf', size: 97 },
            { filename: 'logo.png', contentType: 'image/png', size: 70 },
          ],
          parseError: null,
        },
        handler: `module ${join(dir, 'archive.mjs')}`,
        status: 'ok',
        action: 'move',
        moveTo: 'Archive',
        flags: [],
        unflags: [],
        copyTo: null,
        transition: true,
        would: 'move to Archive',
        error: null,
        code: null,
        location: null,
        stack: null,
        durationMs: 'number',
      },
    );
  });

  test('stdin with a command run by sh; its exit status is the verdict; mail text escaped', async () => {
    const dir = await handlers();
    const command = 'test "$MAILPOLL_DRY_RUN" = 1 || exit 9; cat > seen.eml; echo "$MAILPOLL_SUBJECT" >&2; echo delete';
    const ok = await runCli(['try', '-', '--command', command], { cwd: dir, input: HOSTILE });
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok((await readFile(join(dir, 'seen.eml'))).equals(HOSTILE), 'the source arrives byte for byte on stdin');
    assert.match(ok.stdout, /^message: +stdin \(\d+ bytes\)$/m);
    assert.match(ok.stdout, /^subject: +pay \\u001b\[31mnow\\u001b\[0m \\u202eexe\.pdf$/m);
    assert.match(ok.stdout, /^would delete it \(a try changes nothing\)$/m);
    assert.ok(!/[\u001b\u202e]/.test(ok.stdout + ok.stderr), 'a raw control character reached the terminal');

    const failed = await runCli(['try', '-', '--command', 'echo "no such queue" >&2; exit 3'], { cwd: dir, input: HOSTILE });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stdout, /^failed: +handler failed: command exited with 3: no such queue \(E_HANDLER_THREW\)$/m);
    assert.doesNotMatch(failed.stdout, /^stack:/m, 'a command failure has no stack of its own');
  });

  test('a webhook on a local server: it is told it is a dry run; 2xx JSON is the decision, 4xx a failure', async () => {
    const dir = await handlers();
    const server = await startServer(200, '{"action":"keep","transition":false}');
    const ok = await runCli(['try', INVOICE, '--webhook', server.url, '--webhook-body', 'json'], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^decision: +keep$/m);
    assert.match(ok.stdout, /^would keep it/m);
    const [request] = server.received;
    assert.equal(request?.headers['x-mailpoll-dry-run'], '1');
    const document = JSON.parse(request!.body.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual([document.ref, document.dryRun, document.subject], [null, true, 'Invoice 2024-0042 – March']);

    const refusing = await startServer(422, '');
    const failed = await runCli(['try', INVOICE, '--webhook', refusing.url, '--json'], { cwd: dir });
    assert.equal(failed.code, 1, failed.stderr);
    const result = JSON.parse(failed.stdout) as Record<string, unknown>;
    assert.deepEqual([result.status, result.code, result.action], ['failed', 'E_HANDLER_THREW', null]);
    assert.match(String(result.error), /webhook answered 422/);
    assert.equal(refusing.received[0]?.headers['content-type'], 'message/rfc822');
  });

  test("a thrown error: exit 1 with the handler's file:line and its stack", async () => {
    const dir = await handlers();
    const result = await runCli(['try', INVOICE, '-s', join(dir, 'throws.mjs')], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^failed: +handler failed: not an amount: NaN \(E_HANDLER_THREW\)$/m);
    assert.match(result.stdout, new RegExp(`^at: +${join(dir, 'throws.mjs')}:3:9$`, 'm'));
    assert.match(result.stdout, /^stack:\n {2}Error: not an amount: NaN\n {6}at handle \(file:\/\/.*\/throws\.mjs:3:9\)$/m);
    assert.doesNotMatch(result.stdout, /dist\/|node:internal/, "mailpoll's and Node's frames are left out");
  });

  test('an archived ref from a real run: tried with another handler and with its own; nothing changes on disk or in the ledger', async () => {
    const dir = await handlers();
    const path = await maildir([HOSTILE]);
    await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, script: './throws.mjs', after: 'keep', maxAttempts: 5 }] }, dir);
    const run = await runCli(['--json'], { cwd: dir });
    assert.equal(run.code, 1, run.stderr);
    const ref = String(messageEvents(run)[0]?.ref);

    const before = { maildir: await readMaildir(path), show: (await runCli(['show', ref, '--json'], { cwd: dir })).stdout, store: sha256(await readFile(join(dir, 'mailpoll.db'))) };
    assert.match(before.show, /"attempts":1/);

    const other = await runCli(['try', ref, '-s', './delete.mjs'], { cwd: dir });
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, new RegExp(`^message: +ref ${ref} \\(${HOSTILE.length} bytes\\)$`, 'm'));
    assert.match(other.stdout, /^message-id: +<hostile@test>$/m);
    assert.match(other.stdout, /^would delete it/m);

    // Its own handler: the account that received it, found in the config.
    const own = await runCli(['try', ref, '--json'], { cwd: dir });
    assert.equal(own.code, 1, own.stderr);
    const result = JSON.parse(own.stdout) as { message: { ref: number }; code: string; location: string };
    assert.deepEqual([result.message.ref, result.code, result.location], [Number(ref), 'E_HANDLER_THREW', `${join(dir, 'throws.mjs')}:3:9`]);

    assert.deepEqual(await readMaildir(path), before.maildir, 'the Maildir changed');
    assert.equal((await runCli(['show', ref, '--json'], { cwd: dir })).stdout, before.show, 'the ledger changed');
    assert.equal(sha256(await readFile(join(dir, 'mailpoll.db'))), before.store, 'the store file was written');

    const missing = await runCli(['try', '999', '-s', './delete.mjs'], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no message with ref 999 in /);
  });

  test('usage: no handler named, two handlers named, no such file', async () => {
    const dir = await handlers();
    const none = await runCli(['try', INVOICE], { cwd: dir });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /try: name the handler: -s FILE, --command LINE, --webhook URL, or -a ACCOUNT/);
    const two = await runCli(['try', INVOICE, '-s', './delete.mjs', '--command', 'cat'], { cwd: dir });
    assert.equal(two.code, 2);
    assert.match(two.stderr, /give one of them/);
    const nofile = await runCli(['try', 'nope.eml', '-s', './delete.mjs'], { cwd: dir });
    assert.equal(nofile.code, 2);
    assert.match(nofile.stderr, /try: cannot read \S*nope\.eml: no such file/);
  });
});

describe('handler errors that can be fixed', () => {
  test('a syntax error (JS and TS) names file:line:column and shows the line in run, validate and try', async () => {
    const dir = await handlers();
    const path = await maildir([HOSTILE]);
    const cases = [
      { file: 'broken.mjs', at: ':2:31: SyntaxError: Unexpected token \';\'', line: '  2 |   return mailMessage.subject +;', caret: `    | ${' '.repeat(30)}^` },
      { file: 'broken.ts', at: ':2:88: SyntaxError: Unexpected ";"', line: '  2 | export default async (mailMessage: { size: number }) => mailMessage.size > limit ? 3 : ;', caret: `    | ${' '.repeat(87)}^` },
    ];
    for (const { file, at, line, caret } of cases) {
      await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, script: `./${file}` }] }, dir);
      for (const args of [[], ['validate'], ['try', INVOICE, '-s', file]]) {
        const result = await runCli(args, { cwd: dir });
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        const prefix = args[0] === 'validate' ? 'local: handler ' : 'mailpoll: handler ';
        const lines = result.stderr.split('\n');
        const index = lines.indexOf(`${prefix}${join(dir, file)}${at}`);
        assert.ok(index >= 0, `${args.join(' ') || 'run'} (${file}): ${result.stderr}`);
        assert.deepEqual(lines.slice(index + 1, index + 3), [line, caret]);
      }
    }
    assert.equal((await readMaildir(path))[0]?.flags, '', 'the message is untouched');
  });

  test("a thrown error's stack: under -v in the run, and in show", async () => {
    const dir = await handlers();
    const path = await maildir([HOSTILE]);
    await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, script: './throws.mjs' }] }, dir);
    const quiet = await runCli(['--json'], { cwd: dir });
    assert.equal(quiet.code, 1);
    assert.doesNotMatch(quiet.stderr, /at handle/, 'no stack without -v');
    const ref = String(messageEvents(quiet)[0]?.ref);

    const verbose = await runCli(['--json', '-v'], { cwd: dir, env: { MAILPOLL_NOW: new Date(Date.now() + 86_400_000).toISOString() } });
    assert.equal(verbose.code, 1, verbose.stderr);
    assert.match(verbose.stderr, new RegExp(`^debug: local #\\S+ ref:${ref}: Error: not an amount: NaN$`, 'm'));
    assert.match(verbose.stderr, /^ {4}at handle \(file:\/\/\S*\/throws\.mjs:3:9\)$/m);

    const show = await runCli(['show', ref], { cwd: dir });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^last error: +handler failed: not an amount: NaN$/m);
    assert.match(show.stdout, /^error detail:\n {2}Error: not an amount: NaN\n {6}at handle \(file:\/\/\S*\/throws\.mjs:3:9\)$/m);
    const record = JSON.parse((await runCli(['show', ref, '--json'], { cwd: dir })).stdout) as { lastErrorDetail: string };
    assert.match(record.lastErrorDetail, /^Error: not an amount: NaN\n {4}at handle/);
  });

  test('validate loads every handler and reports every problem at once, each with its accounts', async () => {
    const dir = await handlers();
    const path = await maildir([]);
    await writeFile(join(dir, 'plain.sh'), 'cat > /dev/null\n');
    await writeConfig(
      {
        accounts: [
          { name: 'first', protocol: 'maildir', path, script: './broken.mjs' },
          { name: 'second', protocol: 'maildir', path, script: './broken.mjs' },
          { name: 'fine', protocol: 'maildir', path, script: './delete.mjs' },
          { name: 'shell', protocol: 'maildir', path, command: ['./plain.sh'] },
          { name: 'hook', protocol: 'maildir', path, webhook: { url: 'http://bad host/hook' } },
        ],
      },
      dir,
    );
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, '', 'no resolved config printed when a handler fails');
    // Each problem's line, without the offending source line and caret under it.
    const problems = result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith(' '));
    assert.deepEqual(problems, [
      `first, second: handler ${join(dir, 'broken.mjs')}:2:31: SyntaxError: Unexpected token ';'`,
      `shell: command ${join(dir, 'plain.sh')}: not executable (chmod +x it, or name its interpreter first: ["python3", "handle.py"])`,
      'hook: webhook http://bad host/hook: not a URL (expected http://host/path or https://host/path)',
      `${join(dir, 'mailpoll.config.json')}: 3 handler problems`,
    ]);
  });
});
