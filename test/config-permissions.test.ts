/**
 * fetchmail's rule, through the real CLI: a config file holding a literal password that group
 * or others can read is refused (exit 2) with the exact `chmod 600 FILE` that fixes it; the
 * same file at 0600 is accepted, and passwords from `${VARS}` or `passwordEnv` are fine at
 * any mode. (The store's own files: test/store-permissions.test.ts.)
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';

before(() => {
  process.umask(0o022);
});

const ACCOUNT = { name: 'work', protocol: 'imap', host: 'imap.example.com', user: 'ann' };

async function configAt(mode: number, account: Record<string, unknown>, name = 'mailpoll.config.json'): Promise<{ dir: string; file: string }> {
  const dir = await makeTempDir('perm-config');
  const file = join(dir, name);
  await writeFile(file, JSON.stringify({ accounts: [account], connections: { spare: { host: 'h', passwordEnv: 'X' } } }));
  await chmod(file, mode);
  return { dir, file };
}

describe('a config file with a literal password', () => {
  for (const mode of [0o644, 0o640, 0o604]) {
    test(`mode ${mode.toString(8)}: refused with the chmod that fixes it, the password never shown`, async () => {
      const { dir, file } = await configAt(mode, { ...ACCOUNT, password: 'literal-s3cret' });
      for (const command of [['validate'], ['run'], ['check']]) {
        const result = await runCli(command, { cwd: dir });
        assert.equal(result.code, 2, `${command[0]}: ${result.stderr}`);
        assert.ok(result.stderr.includes(`holds a literal password (accounts[0].password)`), result.stderr);
        assert.ok(result.stderr.includes(`run: chmod 600 ${file}`), result.stderr);
        assert.ok(!result.stderr.includes('literal-s3cret') && !result.stdout.includes('literal-s3cret'));
      }
      await chmod(file, 0o600);
      const fixed = await runCli(['validate'], { cwd: dir });
      assert.equal(fixed.code, 0, fixed.stderr);
    });
  }

  test('a literal proxy password counts; one from ${VARS} does not', async () => {
    const literal = await configAt(0o644, { ...ACCOUNT, passwordEnv: 'PW', proxy: 'socks5://me:pr0xy-pass@127.0.0.1:1080' });
    const refused = await runCli(['validate'], { cwd: literal.dir, env: { PW: 'x' } });
    assert.equal(refused.code, 2);
    assert.ok(refused.stderr.includes('(accounts[0].proxy)') && refused.stderr.includes(`chmod 600 ${literal.file}`), refused.stderr);
    assert.ok(!refused.stderr.includes('pr0xy-pass'));
    const fromEnv = await configAt(0o644, { ...ACCOUNT, passwordEnv: 'PW', proxy: 'socks5://me:${PROXY_PW}@127.0.0.1:1080' });
    const ok = await runCli(['validate'], { cwd: fromEnv.dir, env: { PW: 'x', PROXY_PW: 'pr0xy-pass' } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(!ok.stdout.includes('pr0xy-pass'), 'validate shows the proxy without its password');
  });

  test('${VARS}, passwordEnv, passwordFile and passwordCommand are fine at 0644', async () => {
    const secretFile = join(await makeTempDir('perm-secret'), 'pw');
    await writeFile(secretFile, 'from-file\n', { mode: 0o600 });
    for (const source of [{ password: '${IMAP_PW}' }, { passwordEnv: 'IMAP_PW' }, { passwordFile: secretFile }, { passwordCommand: 'echo x' }]) {
      const { dir } = await configAt(0o644, { ...ACCOUNT, ...source });
      const result = await runCli(['validate'], { cwd: dir, env: { IMAP_PW: 'from-env' } });
      assert.equal(result.code, 0, `${JSON.stringify(source)}: ${result.stderr}`);
    }
  });

  test('a YAML config in a folder: the message names the file as found, the chmod its full path', async () => {
    const dir = await makeTempDir('perm-yaml');
    await mkdir(join(dir, 'sub'));
    const file = join(dir, 'mailpoll.config.yaml');
    await writeFile(file, 'accounts:\n  - name: work\n    protocol: imap\n    host: h\n    user: u\n    password: "it\'s s3cret"\n', { mode: 0o644 });
    const result = await runCli(['validate'], { cwd: join(dir, 'sub') });
    assert.equal(result.code, 2);
    assert.ok(result.stderr.includes(`run: chmod 600 ${file}`), result.stderr);
  });
});
