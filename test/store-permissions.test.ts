/**
 * The store holds raw mail: under umask 022 its file, -wal, -shm, archive folder and files and
 * the default state folder are still private (0600 / 0700), and a store left readable by an
 * older mailpoll is narrowed on the next run, with one line per path on stderr.
 * Through the real CLI on a local Maildir account (no server needed).
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { messageEvents, runCli } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';

// What cron and most shells give: files 0644 and folders 0755 unless mailpoll says otherwise.
// Children inherit it.
before(() => {
  process.umask(0o022);
});

/**
 * A handler that records, while the CLI runs with the store open (so -wal and -shm exist),
 * the modes of the paths in $MODES_OF and of every file in the folder $MODES_ARCHIVE.
 */
const MODES_HANDLER = `
import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
const modeOf = (path) => { try { return (statSync(path).mode & 0o777).toString(8); } catch { return null; } };
export default async function handle() {
  const modes = {};
  for (const path of JSON.parse(process.env.MODES_OF)) modes[path] = modeOf(path);
  const archive = process.env.MODES_ARCHIVE;
  let names = [];
  try { names = readdirSync(archive); } catch {}
  for (const name of names) modes[join(archive, name)] = modeOf(join(archive, name));
  appendFileSync(process.env.MODES_OUT, JSON.stringify(modes) + '\\n');
  return 'keep';
}
`;

/** A Maildir with one small message and one of 1.5 MiB (its raw copy becomes an archive file). */
async function maildirWithLargeMessage(root: string): Promise<string> {
  const path = join(root, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  const body = Array.from({ length: 20_000 }, (_, i) => `line ${String(i).padStart(5, '0')} ${'0123456789abcdef'.repeat(4)}`).join('\r\n');
  const messages = [
    ['small', 'a short one'],
    ['large', body],
  ] as const;
  for (const [index, [name, text]] of messages.entries()) {
    const raw = `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${name}\r\nMessage-ID: <${name}@perm.test>\r\nDate: Thu, 01 Jan 2026 10:0${index}:00 +0000\r\n\r\n${text}\r\n`;
    const file = join(path, 'new', `${1_767_000_000 + index}.M${index}P1.perm`);
    await writeFile(file, raw);
    await utimes(file, 1_767_000_000 + index, 1_767_000_000 + index);
  }
  return path;
}

interface World {
  root: string;
  dir: string;
  maildir: string;
  handler: string;
  modesOut: string;
}

async function world(store?: string): Promise<World> {
  const root = await makeTempDir('perm');
  const dir = join(root, 'project');
  await mkdir(dir);
  const maildir = await maildirWithLargeMessage(root);
  const handler = join(root, 'modes-handler.mjs');
  await writeFile(handler, MODES_HANDLER);
  const config: Record<string, unknown> = { script: handler, accounts: [{ name: 'local', protocol: 'maildir', path: maildir }] };
  if (store !== undefined) config.store = store;
  await writeFile(join(dir, 'mailpoll.config.json'), JSON.stringify(config));
  return { root, dir, maildir, handler, modesOut: join(root, 'modes.jsonl') };
}

/** One run with the modes handler watching `db`'s files; returns the CLI result and the last modes seen. */
async function runWatching(w: World, db: string, env: Record<string, string | undefined> = {}) {
  const result = await runCli(['--json'], {
    cwd: w.dir,
    env: { MODES_OF: JSON.stringify([db, `${db}-wal`, `${db}-shm`, `${db}-archive`]), MODES_ARCHIVE: `${db}-archive`, MODES_OUT: w.modesOut, ...env },
  });
  const lines = (await readFile(w.modesOut, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  const modes = lines.length > 0 ? (JSON.parse(lines.at(-1)!) as Record<string, string | null>) : {};
  return { result, modes };
}

async function modeOf(path: string): Promise<string> {
  return ((await stat(path)).mode & 0o777).toString(8);
}

describe('store files are private whatever the umask', () => {
  test('the default store: state folder 0700, store, -wal, -shm 0600, archive 0700 with its .eml 0600', async () => {
    const w = await world();
    const home = join(w.root, 'home');
    await mkdir(home);
    await chmod(home, 0o755);
    const state = join(home, '.local', 'state', 'mailpoll');
    const db = join(state, 'mailpoll.db');
    const { result, modes } = await runWatching(w, db, { HOME: home, XDG_STATE_HOME: undefined });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(messageEvents(result).length, 2);
    assert.equal(result.stderr.includes('private'), false, `nothing to narrow on a new store: ${result.stderr}`);

    const archived = Object.keys(modes).filter((path) => path.endsWith('.eml'));
    assert.equal(archived.length, 1, `one archive file for the 1.5 MiB message: ${JSON.stringify(modes)}`);
    assert.deepEqual(modes, {
      [db]: '600',
      [`${db}-wal`]: '600',
      [`${db}-shm`]: '600',
      [`${db}-archive`]: '700',
      [archived[0]!]: '600',
    });
    // Every folder mailpoll made on the way is 0700; the home it found is left as it was.
    assert.equal(await modeOf(state), '700');
    assert.equal(await modeOf(join(home, '.local', 'state')), '700');
    assert.equal(await modeOf(join(home, '.local')), '700');
    assert.equal(await modeOf(home), '755');
    assert.equal(await modeOf(db), '600');
  });

  test('a store path the user chose: folders mailpoll creates are 0700, the existing parent is left alone', async () => {
    const root = await makeTempDir('perm-given');
    const shared = join(root, 'srv');
    await mkdir(shared);
    await chmod(shared, 0o755);
    const db = join(shared, 'mail', 'mailpoll.db');
    const w = await world(db);
    const { result, modes } = await runWatching(w, db);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await modeOf(shared), '755', 'not mailpoll’s folder: never chmod-ed');
    assert.equal(await modeOf(join(shared, 'mail')), '700', 'created by mailpoll');
    assert.equal(modes[db], '600');
    assert.equal(modes[`${db}-wal`], '600');
    assert.equal(modes[`${db}-shm`], '600');
    assert.equal(modes[`${db}-archive`], '700');
  });

  test('a store left readable by others is narrowed on the next run, saying so once per path', async () => {
    const w = await world();
    const xdg = join(w.root, 'xdg');
    const state = join(xdg, 'mailpoll');
    const db = join(state, 'mailpoll.db');
    const env = { XDG_STATE_HOME: xdg };
    const first = await runWatching(w, db, env);
    assert.equal(first.result.code, 0, first.result.stderr);
    const names = await readdir(`${db}-archive`);
    assert.equal(names.length, 1);
    const eml = names[0]!;

    // As an older mailpoll under umask 022 left it.
    await chmod(state, 0o755);
    await chmod(db, 0o644);
    await chmod(`${db}-archive`, 0o755);
    await chmod(join(`${db}-archive`, eml), 0o644);

    const second = await runCli(['history'], { cwd: w.dir, env });
    assert.equal(second.code, 0, second.stderr);
    const notes = second.stderr.trim().split('\n');
    assert.deepEqual(notes, [
      `mailpoll: made ${state} private: mode 0755 -> 0700`,
      `mailpoll: made ${db} private: mode 0644 -> 0600`,
      `mailpoll: made ${db}-archive private: mode 0755 -> 0700`,
      `mailpoll: made 1 file in ${db}-archive private: mode 0600`,
    ]);
    assert.equal(await modeOf(db), '600');
    assert.equal(await modeOf(`${db}-archive`), '700');
    assert.equal(await modeOf(join(`${db}-archive`, eml)), '600');
    assert.equal(await modeOf(state), '700');

    const third = await runCli(['history'], { cwd: w.dir, env });
    assert.equal(third.code, 0, third.stderr);
    assert.equal(third.stderr, '', 'said once: nothing left to narrow');
  });
});
