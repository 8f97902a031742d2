/**
 * Passwords no server could take (too long, binary) are refused at load time, exit 2, with
 * the key named and the value never shown; the masking of output works on any secret,
 * regular-expression characters included. The real CLI, real files, a real Dovecot.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli, writeConfig } from './helpers/cli.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';

/** An IMAP account nobody will reach: a refused secret must stop the run before any connection. */
const UNREACHABLE = { name: 'support', protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'ann' };

describe('secrets no password can be', () => {
  test('a passwordFile whose first line is 60,000 characters: exit 2, key named, value nowhere', async () => {
    const secret = 'x'.repeat(60_000);
    const dir = await writeConfig({ accounts: [{ ...UNREACHABLE, passwordFile: 'password.txt' }] });
    await writeFile(join(dir, 'password.txt'), `${secret}\n`);
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 2, result.stderr.slice(0, 500));
    assert.match(result.stderr, /^mailpoll\.config\.json: accounts\[0\]\.passwordFile: the first line of .*password\.txt is longer than 8192 bytes, too long for a password\n$/);
    assert.ok(!`${result.stdout}${result.stderr}`.includes('x'.repeat(100)), 'the secret is printed');
  });

  test('a passwordCommand printing 5 MB of NUL bytes: exit 2, key named, value nowhere', async () => {
    const dir = await writeConfig({ accounts: [{ ...UNREACHABLE, passwordCommand: 'head -c 5000000 /dev/zero' }] });
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 2, result.stderr.slice(0, 500));
    assert.equal(result.stderr, "mailpoll.config.json: accounts[0].passwordCommand: the first line of the command's output is longer than 8192 bytes, too long for a password\n");
    assert.equal(result.stdout, '');
  });

  test('a short password with a NUL byte or a control character: exit 2, refused by name', async () => {
    const dir = await writeConfig({
      accounts: [
        { ...UNREACHABLE, password: 'pass\u0000word' },
        { ...UNREACHABLE, name: 'b', passwordCommand: "printf 'pass\\033word'" },
        { ...UNREACHABLE, name: 'c', passwordEnv: 'MAILPOLL_TEST_CR_PASSWORD' },
      ],
    });
    const result = await runCli([], { cwd: dir, env: { MAILPOLL_TEST_CR_PASSWORD: 'pass\rword' } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^mailpoll\.config\.json: accounts\[0\]\.password: contains a NUL byte, which no password may hold$/m);
    // Passwords from commands and variables are only read once the file is valid: fix the first.
    const fixed = await writeConfig({
      accounts: [
        { ...UNREACHABLE, password: 'hunter22' },
        { ...UNREACHABLE, name: 'b', passwordCommand: "printf 'pass\\033word'" },
        { ...UNREACHABLE, name: 'c', passwordEnv: 'MAILPOLL_TEST_CR_PASSWORD' },
      ],
    });
    const again = await runCli([], { cwd: fixed, env: { MAILPOLL_TEST_CR_PASSWORD: 'pass\rword' } });
    assert.equal(again.code, 2, again.stderr);
    assert.equal(
      again.stderr.split('\n').filter(Boolean).sort().join('\n'),
      [
        "mailpoll.config.json: accounts[1].passwordCommand: the first line of the command's output contains a control character (only tab is allowed), which no password may hold",
        'mailpoll.config.json: accounts[2].passwordEnv: environment variable MAILPOLL_TEST_CR_PASSWORD contains a control character (only tab is allowed), which no password may hold',
      ].join('\n'),
    );
  });
});

describe('masking', () => {
  const dovecot = useDovecot();

  test('a password with regular-expression characters is masked where it leaks, with and without -v', async () => {
    const secret = 'a.b*c(d';
    const user = `leak${process.pid}`;
    await dovecot.addUser(user, secret);
    await dovecot.deliver(user, message({ subject: 'hello' }));
    const dir = await writeConfig({
      script: './leaky.mjs',
      accounts: [{ name: 'support', protocol: 'imap', host: '127.0.0.1', port: dovecot.ports.imaps, ca: dovecot.caFile, user, passwordFile: 'password.txt', after: 'keep' }],
    });
    await writeFile(join(dir, 'password.txt'), `${secret}\n`);
    // A handler that quotes the password in its error, as a careless one might.
    await writeFile(join(dir, 'leaky.mjs'), "export default () => { throw new Error(`login to the CRM with ${process.env.CRM_PASSWORD} refused`); };\n");
    for (const [day, args] of [[], ['-v'], ['--json']].entries()) {
      // A day apart on the store's clock: past retryDelay, so each run is a new attempt.
      const now = new Date(Date.now() + day * 86_400_000).toISOString();
      const result = await runCli(args, { cwd: dir, env: { CRM_PASSWORD: secret, MAILPOLL_NOW: now } });
      assert.equal(result.code, 1, result.stderr);
      const output = `${result.stdout}${result.stderr}`;
      assert.match(output, /login to the CRM with \*\*\* refused/, `${args.join(' ')}:\n${output}`);
      assert.ok(!output.includes(secret), `${args.join(' ')} prints the password:\n${output}`);
    }
  });
});
