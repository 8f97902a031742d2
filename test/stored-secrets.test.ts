/**
 * Stored secrets through the real CLI: `secret set` from stdin, a password account using it
 * against a real Dovecot, and the value nowhere it must not be (every output, the protocol
 * trace, NDJSON, history and show, the store and secrets files); the key and secrets files
 * 0600 under umask 022; `MAILPOLL_KEY` in its two formats; the errors.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig, type CliResult } from './helpers/cli.js';
import { scenario } from './helpers/scenario.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

async function setSecret(dir: string, name: string, value: string, env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['secret', 'set', name], { cwd: dir, input: `${value}\n`, env });
}

async function configure(account: Record<string, unknown>): Promise<string> {
  const dir = await writeConfig({ script: './handler.mjs', accounts: [account] });
  await writeFile(join(dir, 'handler.mjs'), 'export default async (message, context) => { context.log(`handled ${message.subject}`); };\n');
  return dir;
}

describe('stored secrets', () => {
  test('a password from secret set logs in, and appears in no output, trace, history, show, store or secrets file', async () => {
    const previous = process.umask(0o022);
    try {
      // The Dovecot user's password is the secret: a login proves it was decrypted right.
      const secret = `s3cret-${randomBytes(9).toString('hex')}`;
      const creds = await world.mailbox(['one', 'two']);
      await dovecot.addUser(creds.user, secret);
      for (const protocol of ['imap', 'pop3'] as const) {
        const dir = await configure({
          name: 'work',
          protocol,
          host: '127.0.0.1',
          port: protocol === 'imap' ? dovecot.ports.imaps : dovecot.ports.pop3s,
          ca: dovecot.caFile,
          user: creds.user,
          passwordSecret: 'work-password',
          after: 'keep',
          onlyUnseen: protocol === 'imap' ? false : undefined,
        });
        const set = await setSecret(dir, 'work-password', secret);
        assert.equal(set.code, 0, set.stderr);

        const outputs: CliResult[] = [set];
        const json = await runCli(['--json', '-v'], { cwd: dir });
        assert.equal(json.code, 0, json.stdout + json.stderr);
        assert.equal(messageEvents(json).length, 2);
        assert.match(json.stderr, /debug: C: /, 'the protocol trace was written');
        outputs.push(json);
        outputs.push(await runCli(['-v', '--dry-run'], { cwd: dir }));
        outputs.push(await runCli(['check', '-v'], { cwd: dir }));
        outputs.push(await runCli(['check', '--json'], { cwd: dir }));
        outputs.push(await runCli(['validate'], { cwd: dir }));
        outputs.push(await runCli(['history'], { cwd: dir }));
        outputs.push(await runCli(['history', '--json'], { cwd: dir }));
        const ref = String(messageEvents(json)[0]?.ref);
        outputs.push(await runCli(['show', ref], { cwd: dir }));
        outputs.push(await runCli(['show', ref, '--json'], { cwd: dir }));
        const list = await runCli(['secret', 'list'], { cwd: dir });
        assert.match(list.stdout, /^work-password {2}created \d{4}-\S+ {2}updated \d{4}-\S+$/m);
        outputs.push(list);
        for (const [index, output] of outputs.entries()) {
          assert.ok(!(output.stdout + output.stderr).includes(secret), `output ${index} shows the secret:\n${output.stdout}${output.stderr}`);
        }
        for (const name of await readdir(dir)) {
          const file = join(dir, name);
          if (!(await stat(file)).isFile()) continue;
          assert.ok(!(await readFile(file)).includes(secret), `${name} holds the secret in clear`);
        }
        assert.equal((await stat(join(dir, 'mailpoll.key'))).mode & 0o777, 0o600, 'key file mode');
        assert.equal((await stat(join(dir, 'mailpoll.secrets'))).mode & 0o777, 0o600, 'secrets file mode');
      }
    } finally {
      process.umask(previous);
    }
  });

  test('MAILPOLL_KEY as 64 hex digits or base64: no key file; the wrong key or a bad one is exit 2', async () => {
    const key = randomBytes(32);
    const dir = await writeConfig({ accounts: [{ name: 'x', protocol: 'maildir', path: './Maildir' }] });
    for (const [index, form] of [key.toString('hex'), key.toString('base64')].entries()) {
      const set = await setSecret(dir, `name${index}`, 'value-one', { MAILPOLL_KEY: form });
      assert.equal(set.code, 0, set.stderr);
    }
    await assert.rejects(stat(join(dir, 'mailpoll.key')), /ENOENT/);
    const account = { name: 'work', protocol: 'imap', host: '127.0.0.1', port: dovecot.ports.imaps, ca: dovecot.caFile, user: 'nobody', passwordSecret: 'name1' };
    await writeConfig({ accounts: [account] }, dir);
    const wrong = await runCli(['check'], { cwd: dir, env: { MAILPOLL_KEY: randomBytes(32).toString('hex') } });
    assert.equal(wrong.code, 2, wrong.stdout + wrong.stderr);
    assert.match(wrong.stderr, /cannot decrypt the secret "name1": the key \(MAILPOLL_KEY, else .*mailpoll\.key\) is not the one it was stored with/);
    const bad = await setSecret(dir, 'other', 'value', { MAILPOLL_KEY: 'short' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /MAILPOLL_KEY: expected 64 hex digits or the base64 of 32 bytes/);
  });

  test('a missing secret names the fix; bad names and empty values are refused; delete', async () => {
    const account = { name: 'work', protocol: 'imap', host: '127.0.0.1', port: dovecot.ports.imaps, ca: dovecot.caFile, user: 'nobody', passwordSecret: 'absent' };
    const dir = await writeConfig({ accounts: [account] });
    const missing = await runCli(['check'], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /accounts\[0\]\.passwordSecret: no stored secret named "absent" in .*mailpoll\.secrets; store it with `mailpoll secret set absent`/);
    assert.equal((await setSecret(dir, 'bad name', 'x')).code, 2);
    const empty = await setSecret(dir, 'absent', '');
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /the value is empty; nothing stored/);
    assert.equal((await setSecret(dir, 'absent', 'value-two')).code, 0);
    assert.equal((await runCli(['secret', 'delete', 'absent'], { cwd: dir })).code, 0);
    const again = await runCli(['secret', 'delete', 'absent'], { cwd: dir });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no stored secret named absent/);
  });
});
