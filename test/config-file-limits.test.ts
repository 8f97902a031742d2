/**
 * Config files that would take the machine (a YAML alias bomb, a huge file) are refused
 * before they do, exit 2, naming the file and the limit; ordinary anchors, aliases and
 * merge keys still work. The real CLI on real files.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';

async function folderWith(name: string, content: string): Promise<string> {
  const dir = await makeTempDir('limits');
  // Private: some of these hold a literal password (README, "File permissions").
  await writeFile(join(dir, name), content, { mode: 0o600 });
  return dir;
}

/** "Billion laughs": nine levels of nine aliases, 9^9 strings once expanded. */
function aliasBomb(): string {
  const names = 'abcdefghi';
  const lines = [`a: &a [${Array(9).fill('"lol"').join(', ')}]`];
  for (let level = 1; level < 9; level++) {
    lines.push(`${names[level]}: &${names[level]} [${Array(9).fill(`*${names[level - 1]}`).join(', ')}]`);
  }
  return `${lines.join('\n')}\naccounts: *i\n`;
}

describe('config files beyond the limits', () => {
  test('a YAML alias bomb is refused, exit 2, naming the file and the limit', async () => {
    const dir = await folderWith('mailpoll.config.yaml', aliasBomb());
    // A small heap: should the limit ever go, this fails in seconds instead of taking 4 GB.
    const result = await runCli(['validate'], { cwd: dir, env: { NODE_OPTIONS: '--max-old-space-size=256' }, timeoutMs: 120_000 });
    assert.equal(result.signal, null, 'mailpoll was killed (out of memory or the test timeout)');
    assert.equal(result.code, 2, result.stderr.slice(0, 500));
    assert.equal(result.stderr, 'mailpoll.config.yaml: its YAML aliases (*name) expand beyond the limit of 1000, set against files built to exhaust memory; write the values out\n');
  });

  test('aliases of one large list, under the alias limit, are refused by the size they expand to', async () => {
    const big = `a: &a [${Array(40_000).fill('x').join(',')}]\nb: [*a, *a, *a]\naccounts: []\n`;
    const dir = await folderWith('mailpoll.config.yaml', big);
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 2, result.stderr.slice(0, 500));
    assert.equal(result.stderr, 'mailpoll.config.yaml: holds more than 100000 values once its YAML aliases are expanded, far more than any config; write it without them\n');
  });

  test('a file over 1 MiB is refused before it is parsed, found or given with -c', async () => {
    const padding = '# padding\n'.repeat(120_000);
    const dir = await folderWith('.mailpollrc', `accounts:\n${padding}`);
    await writeFile(join(dir, 'huge.json'), `{"accounts": [], "x": "${'y'.repeat(1_100_000)}"}`);
    const found = await runCli(['validate'], { cwd: dir });
    assert.equal(found.code, 2, found.stderr);
    assert.equal(found.stderr, '.mailpollrc: is 1200010 bytes, over the 1 MiB limit of a config file; is it the right file?\n');
    const given = await runCli(['validate', '-c', 'huge.json'], { cwd: dir });
    assert.equal(given.code, 2, given.stderr);
    assert.equal(given.stderr, 'huge.json: is 1100025 bytes, over the 1 MiB limit of a config file; is it the right file?\n');
  });
});

describe('YAML as people write it', () => {
  test('anchors, aliases and merge keys load as before', async () => {
    const yaml = [
      'defaults: &server',
      '  protocol: imap',
      '  password: hunter22',
      'accounts:',
      '  - &support',
      '    name: support',
      '    host: imap.example.com',
      '    user: support@example.com',
      '    moveTo: &done Archive/Done',
      '  - <<: *support',
      '    name: sales',
      '    folder: &sales Sales',
      '    after: move',
      '  - <<: [*server, *support]',
      '    name: billing',
      '    host: billing.example.com',
      '    folder: *sales',
      '',
    ].join('\n');
    const dir = await folderWith('mailpoll.config.yaml', yaml);
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const accounts = (JSON.parse(result.stdout) as { accounts: Array<Record<string, unknown>> }).accounts;
    assert.deepEqual(
      accounts.map((account) => [account.name, account.protocol, account.host, account.user, account.folder, account.after, account.moveTo]),
      [
        ['support', 'imap', 'imap.example.com', 'support@example.com', 'INBOX', 'markSeen', 'Archive/Done'],
        ['sales', 'imap', 'imap.example.com', 'support@example.com', 'Sales', 'move', 'Archive/Done'],
        ['billing', 'imap', 'billing.example.com', 'support@example.com', 'Sales', 'markSeen', 'Archive/Done'],
      ],
    );
  });

  test('a syntax error or an alias without anchor still names the line and column', async () => {
    const dir = await folderWith('mailpoll.config.yaml', 'accounts:\n  - name: work\n   protocol: imap\n');
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^mailpoll\.config\.yaml: cannot parse: .* \(3:\d+\)\n$/);
    const alias = await folderWith('mailpoll.config.yaml', 'defaults:\n  host: *host\naccounts: []\n');
    const unresolved = await runCli(['validate'], { cwd: alias });
    assert.equal(unresolved.code, 2);
    assert.equal(unresolved.stderr, 'mailpoll.config.yaml: cannot parse: no anchor &host before the alias *host (2:9)\n');
  });
});
