/**
 * TypeScript handlers through the CLI: with tsx installed (here, the repository's own), and
 * from a copy of the package as `npm pack` ships it, installed with its one dependency and no
 * tsx. On a Node that strips types the second one runs too; on one that does not, it says how
 * to install tsx. The real CLI over a local Maildir.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stripsTypesNatively } from '../src/handler/typescript.js';
import { FIXTURES, runCli, writeConfig } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A Maildir with one message, and a config whose handler is `typed.ts` copied beside it (no tsx above that folder). */
async function setup(): Promise<string> {
  const dir = await makeTempDir('ts-handler');
  const maildir = join(dir, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(maildir, sub), { recursive: true });
  await writeFile(join(maildir, 'new', '1767000000.M1P1.test'), 'From: a@example.com\r\nSubject: typed\r\nMessage-ID: <ts1@test>\r\n\r\nbody\r\n');
  const handler = join(dir, 'handler.ts');
  await writeFile(handler, await readFile(join(FIXTURES, 'handlers', 'typed.ts')));
  return writeConfig({ script: handler, accounts: [{ name: 'local', protocol: 'maildir', path: maildir }] }, dir);
}

/** The package's files (package.json `files`) copied to a project's node_modules, with better-sqlite3 and nothing else beside it. */
async function installWithoutTsx(): Promise<string> {
  const project = await makeTempDir('no-tsx');
  const target = join(project, 'node_modules', 'mailpoll');
  await mkdir(join(target, 'dist'), { recursive: true });
  for (const part of ['package.json', 'bin', 'dist/bin']) await cp(join(ROOT, part), join(target, part), { recursive: true });
  await symlink(join(ROOT, 'node_modules', 'better-sqlite3'), join(project, 'node_modules', 'better-sqlite3'), 'dir');
  return join(target, 'bin', 'mailpoll.js');
}

describe('a TypeScript handler', () => {
  test('runs with tsx installed', async () => {
    const dir = await setup();
    const result = await runCli(['-c', join(dir, 'mailpoll.config.json'), '--json']);
    assert.equal(result.code, 0, result.stderr);
    const statuses = result.events.filter((event) => event.type === 'message').map((event) => event.status);
    assert.deepEqual(statuses, ['ok'], result.stdout);
  });

  test('without tsx: runs where Node strips types, else says how to install tsx', async () => {
    const bin = await installWithoutTsx();
    const dir = await setup();
    const result = spawnSync(process.execPath, [bin, '-c', join(dir, 'mailpoll.config.json')], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NODE_PATH: undefined, NO_COLOR: '1' },
      timeout: 60_000,
    });
    if (stripsTypesNatively()) {
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /typed/);
    } else {
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /handler .*handler\.ts: a TypeScript handler needs tsx on Node \d+\.\d+\.\d+, which does not strip types/);
      assert.match(result.stderr, /npm install tsx/);
      assert.match(result.stderr, /Node 23\.6 or newer/);
      assert.doesNotMatch(result.stderr, /Cannot find package/);
    }
  });
});
