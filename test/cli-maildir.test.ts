/**
 * The real CLI against local Maildir accounts (no server), plus the commands that need
 * no server at all: init, validate, bad configs, the bundled example.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FIXTURES, messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { bySubject, readMaildir } from './helpers/maildir-state.js';
import { makeTempDir } from './helpers/temp.js';

const HANDLER = join(FIXTURES, 'handlers', 'spec-from-subject.mjs');
const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function maildir(subjects: string[]): Promise<string> {
  const root = await makeTempDir('md');
  const path = join(root, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  for (const [index, subject] of subjects.entries()) {
    const raw = `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <md${index}@test>\r\nDate: Thu, 01 Jan 2026 10:0${index}:00 +0000\r\n\r\nbody ${index}\r\n`;
    const file = join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`);
    await writeFile(file, raw);
    const { utimes } = await import('node:fs/promises');
    await utimes(file, 1_767_000_000 + index, 1_767_000_000 + index);
  }
  return path;
}

describe('maildir accounts', () => {
  test('results are carried out on the Maildir', async () => {
    const path = await maildir(['[1] 1', '[2] 4', '[3] "markSeen"', '[4] "move:Archive/2024"', '[5] throw']);
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path }] });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(
      messageEvents(result).map((e) => [e.subject, e.action, e.status, e.protocol]),
      [
        ['[1] 1', 'delete', 'ok', 'maildir'],
        ['[2] 4', 'keep', 'ok', 'maildir'],
        ['[3] "markSeen"', 'markSeen', 'ok', 'maildir'],
        ['[4] "move:Archive/2024"', 'move', 'ok', 'maildir'],
        ['[5] throw', 'keep', 'failed', 'maildir'],
      ],
    );
    const stored = await readMaildir(path);
    assert.equal(bySubject(stored, '[1] 1'), undefined);
    assert.deepEqual(
      [bySubject(stored, '[2] 4')?.folder, bySubject(stored, '[2] 4')?.flags],
      ['', ''],
    );
    assert.equal(bySubject(stored, '[3] "markSeen"')?.flags, 'S');
    assert.equal(bySubject(stored, '[4] "move:Archive/2024"')?.folder, 'Archive.2024');
    assert.deepEqual([bySubject(stored, '[5] throw')?.folder, bySubject(stored, '[5] throw')?.flags], ['', '']);

    // Seen mail is not listed, kept mail is done in the ledger: only the failure comes back
    // (once retryDelay has passed: the store's clock an hour on).
    const again = await runCli(['--json'], { cwd: dir, env: { MAILPOLL_NOW: new Date(Date.now() + 3_600_000).toISOString() } });
    assert.deepEqual(messageEvents(again).map((e) => e.subject), ['[5] throw']);
  });

  test('-s overrides the handler and -a picks a disabled account', async () => {
    const path = await maildir(['[1] "markSeen"']);
    const dir = await writeConfig({
      script: './does-not-exist.mjs',
      accounts: [{ name: 'local', protocol: 'maildir', path, enabled: false }],
    });
    const nothing = await runCli(['--json'], { cwd: dir });
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.equal(messageEvents(nothing).length, 0, 'disabled accounts are skipped');
    const result = await runCli(['--json', '-a', 'local', '-s', HANDLER], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(messageEvents(result).length, 1);
  });

  test('a missing handler file is exit 2 naming the file, before any mailbox is touched', async () => {
    const path = await maildir(['[1] 1']);
    const dir = await writeConfig({ script: './nope.mjs', accounts: [{ name: 'local', protocol: 'maildir', path }] });
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /nope\.mjs/);
    assert.equal(result.stdout, '');
    assert.ok(bySubject(await readMaildir(path), '[1] 1'));
  });

  test('a handler without a default export is exit 2', async () => {
    const path = await maildir(['[1] 1']);
    const dir = await writeConfig({ script: './handler.mjs', accounts: [{ name: 'local', protocol: 'maildir', path }] });
    await writeFile(join(dir, 'handler.mjs'), 'export const handle = () => 1;\n');
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /handler\.mjs.*default export/);
  });
});

describe('config errors', () => {
  test('exit 2 with the file, the key path and what was expected; no stack trace', async () => {
    const dir = await makeTempDir('bad');
    await writeFile(
      join(dir, 'mailpoll.yaml'),
      [
        'accounts:',
        '  - name: a',
        '    protocol: maildir',
        '    path: ./Maildir',
        '  - name: b',
        '    protocol: imap',
        '    host: imap.example.com',
        '    port: "99x"',
        '    user: b',
        '    password: hunter22',
        '    pasword: typo',
        '',
      ].join('\n'),
    );
    const result = await runCli(['-c', 'mailpoll.yaml'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /mailpoll\.yaml: accounts\[1\]\.port: expected an integer 1-65535, got "99x"/);
    assert.match(result.stderr, /accounts\[1\]\.pasword: unknown key/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
    assert.doesNotMatch(result.stderr, /hunter22/);
    assert.equal(result.stdout, '');
  });

  test('after: move without moveTo, a missing variable, an unknown account', async () => {
    const move = await writeConfig({
      script: HANDLER,
      accounts: [{ name: 'a', protocol: 'imap', host: 'h.example', user: 'u', password: 'p', after: 'move' }],
    });
    const moveResult = await runCli([], { cwd: move });
    assert.equal(moveResult.code, 2);
    assert.match(moveResult.stderr, /accounts\[0\]\.moveTo: is required when after is move/);
    const env = await writeConfig({
      script: HANDLER,
      accounts: [{ name: 'a', protocol: 'imap', host: '${MAILPOLL_TEST_UNSET_HOST}', user: 'u', password: 'p' }],
    });
    const envResult = await runCli([], { cwd: env, env: { MAILPOLL_TEST_UNSET_HOST: undefined } });
    assert.equal(envResult.code, 2);
    assert.match(envResult.stderr, /accounts\[0\]\.host: environment variable MAILPOLL_TEST_UNSET_HOST is not set/);
    const unknown = await runCli(['-a', 'nobody'], { cwd: await writeConfig({ accounts: [{ name: 'x', protocol: 'maildir', path: '.' }] }) });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /nobody/);
  });

  test('no config found suggests mailpoll init; an unknown option is exit 2', async () => {
    const dir = await makeTempDir('none');
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /init/);
    const usage = await runCli(['--no-such-option'], { cwd: dir });
    assert.equal(usage.code, 2);
  });
});

describe('init, validate, help', () => {
  test('init writes a config and handler that validate and run; it never overwrites', async () => {
    const dir = await makeTempDir('init');
    const init = await runCli(['init'], { cwd: dir });
    assert.equal(init.code, 0, init.stderr);
    const config = await readFile(join(dir, 'mailpoll.config.yaml'), 'utf8');
    await writeFile(join(dir, 'handler.mjs'), 'export default () => 4;\n');
    const again = await runCli(['init'], { cwd: dir });
    assert.equal(again.code, 0);
    assert.match(again.stderr, /kept mailpoll\.config\.yaml/);
    assert.equal(await readFile(join(dir, 'handler.mjs'), 'utf8'), 'export default () => 4;\n', 'not overwritten');
    assert.equal(await readFile(join(dir, 'mailpoll.config.yaml'), 'utf8'), config);

    const validate = await runCli(['validate', '-a', 'local'], { cwd: dir, env: { SUPPORT_IMAP_PASSWORD: 'from-env-123' } });
    assert.equal(validate.code, 0, validate.stderr);
    const printed = JSON.parse(validate.stdout) as { accounts: Array<Record<string, unknown>> };
    assert.equal(printed.accounts[0]?.name, 'support');
    assert.equal(printed.accounts[0]?.port, 993);
    assert.doesNotMatch(validate.stdout, /from-env-123/);
  });

  test('validate shows secrets as ***', async () => {
    const dir = await writeConfig({
      accounts: [{ name: 'a', protocol: 'imap', host: 'h.example', user: 'u', password: 'Sup3rSecret!' }],
    });
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /"password": "\*\*\*"/);
    assert.doesNotMatch(result.stdout + result.stderr, /Sup3rSecret/);
  });

  test('--help lists examples and exit codes; --version prints the version', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Examples:/);
    assert.match(help.stdout, /Exit codes/);
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(version.stdout.trim(), pkg.version);
  });
});

describe('the bundled example (README set-up command)', () => {
  test('npm run example polls the example Maildir with the example handler', async () => {
    const run = promisify(execFile);
    const { stdout } = await run('npm', ['run', '--silent', 'example'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
    assert.match(stdout, /support ref:\d+ Alice Martin <alice@customer\.example> "Cannot log in since this morning" move:Processed \+transition ok/);
    assert.match(stdout, /"Invoice 2026-0042" move:Invoices \+transition ok/);
    assert.match(stdout, /"Our November newsletter" delete ok/);
    assert.match(stdout, /support: 4 fetched, 4 processed, 0 failed, 3 transitions/);
    const tickets = await readFile(join(ROOT, 'examples', 'work', 'tickets.ndjson'), 'utf8');
    assert.equal(tickets.trim().split('\n').length, 2);
  });
});
