/**
 * The command launcher (src/handler/launcher.ts): the process that starts command handlers.
 * Through the real CLI on Maildir accounts: the launcher killed in the middle of a message,
 * mailpoll killed in the middle of a message, none left behind after a run, and the
 * fallback to mailpoll's own spawn; in process: several programs at once (a launcher per core),
 * and the shutdown of an idle one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { launcherPids, runProgram } from '../src/handler/launcher.js';
import { messageEvents, runCli, startCli, writeConfig } from './helpers/cli.js';
import { bySubject, readMaildir } from './helpers/maildir-state.js';
import { makeTempDir } from './helpers/temp.js';

async function maildir(subjects: string[]): Promise<string> {
  const path = join(await makeTempDir('launcher-md'), 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  for (const [index, subject] of subjects.entries()) {
    const file = join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`);
    await writeFile(file, `From: a@example.com\r\nSubject: ${subject}\r\nMessage-ID: <l${index}@test>\r\n\r\nbody ${index}\r\n`);
    await utimes(file, 1_767_000_000 + index, 1_767_000_000 + index);
  }
  return path;
}

/** Running (a zombie not yet reaped counts as gone). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A signal is delivered asynchronously: give a loaded machine a moment. */
async function waitGone(pid: number): Promise<boolean> {
  for (let wait = 0; wait < 100 && isAlive(pid); wait += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  return !isAlive(pid);
}

async function pids(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

const leftRunning: number[] = [];
after(() => {
  for (const pid of leftRunning) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

describe('the command launcher through the CLI', () => {
  test('killed in the middle of a message: that message fails uncounted and untouched, the others go on, the next run handles it', async () => {
    const path = await maildir(['[1] first', '[2] kill the launcher', '[3] third']);
    // $PPID of a command handler is the launcher: the second message kills it, once.
    const dir = await writeConfig({
      accounts: [
        {
          name: 'local',
          protocol: 'maildir',
          path,
          maxAttempts: 1,
          command: [
            'cat > /dev/null',
            'echo "$PPID" >> launchers.pid',
            'case "$MAILPOLL_SUBJECT" in *kill*) if [ ! -e killed ]; then touch killed; kill -9 "$PPID"; sleep 30; fi ;; esac',
            'echo delete',
          ].join('\n'),
        },
      ],
    });
    const first = await runCli(['--json'], { cwd: dir });
    const launchers = await pids(join(dir, 'launchers.pid'));
    leftRunning.push(...launchers);
    assert.equal(first.code, 1, first.stderr);
    assert.deepEqual(messageEvents(first).map((e) => [e.subject, e.status, e.status === 'ok' ? e.action : e.code]), [
      ['[1] first', 'ok', 'delete'],
      ['[2] kill the launcher', 'failed', 'E_HANDLER_TEMPORARY'],
      ['[3] third', 'ok', 'delete'],
    ]);
    assert.match(String(messageEvents(first)[1]?.error), /the command launcher \(pid \d+\) killed by SIGKILL while the command ran/);
    assert.equal(launchers.length, 3);
    assert.equal(launchers[0], launchers[1], 'one launcher for the first two messages');
    assert.notEqual(launchers[2], launchers[1], 'a new launcher after the first died');
    const stored = await readMaildir(path);
    assert.deepEqual(stored.map((m) => [m.subject, m.folder, m.flags]), [['[2] kill the launcher', '', '']]);
    for (const pid of launchers) assert.equal(await waitGone(pid), true, `launcher ${pid} is gone after the run`);

    // Not counted (maxAttempts: 1 would have quarantined it): the next run handles it.
    const second = await runCli(['--json'], { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(messageEvents(second).map((e) => [e.subject, e.status, e.action]), [['[2] kill the launcher', 'ok', 'delete']]);
    assert.equal((await readMaildir(path)).length, 0);
    const all = await pids(join(dir, 'launchers.pid'));
    leftRunning.push(...all);
    for (const pid of all) assert.equal(await waitGone(pid), true, `launcher ${pid} is gone after the second run`);
  });

  test('mailpoll killed while a command runs: the launcher kills the command and ends', async () => {
    const path = await maildir(['[1] hang']);
    const dir = await writeConfig({
      accounts: [{ name: 'local', protocol: 'maildir', path, command: 'cat > /dev/null; echo "$PPID $$" > running.pid; sleep 60; echo keep' }],
    });
    const cli = startCli(['--json'], { cwd: dir });
    const file = join(dir, 'running.pid');
    let found: number[] = [];
    for (let wait = 0; wait < 400 && found.length < 2; wait += 1) {
      found = (await readFile(file, 'utf8').catch(() => '')).trim().split(' ').filter(Boolean).map(Number);
      if (found.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const [launcher, handler] = found as [number, number];
    leftRunning.push(launcher, handler);
    assert.equal(isAlive(launcher), true);
    cli.signal('SIGKILL');
    await cli.exited;
    assert.equal(await waitGone(handler), true, 'the command was killed');
    assert.equal(await waitGone(launcher), true, 'the launcher ended');
    assert.deepEqual((await readMaildir(path)).map((m) => [m.folder, m.flags]), [['', '']], 'untouched');
  });

  test('commands run under the launcher, not under mailpoll; with the launcher off, mailpoll spawns them itself', async () => {
    // What the parent of the handler is, read while it runs.
    const command = 'cat > /dev/null; tr "\\0" " " < /proc/$PPID/cmdline > parent.txt; echo keep';
    const parentOf = async (env: Record<string, string>): Promise<string> => {
      const path = await maildir(['[1] one']);
      const dir = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, command }] });
      const result = await runCli(['--json'], { cwd: dir, env });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(messageEvents(result).map((e) => [e.status, e.action]), [['ok', 'keep']]);
      return readFile(join(dir, 'parent.txt'), 'utf8');
    };
    assert.match(await parentOf({}), /launcher-main\.js/);
    const direct = await parentOf({ MAILPOLL_TEST_LAUNCHER: 'off' });
    assert.doesNotMatch(direct, /launcher-main/);
    assert.match(direct, /mailpoll\.js/);
  });
});

describe('the command launcher in process', () => {
  test('several programs in flight at once, over at most one launcher per core, each with its own output and status', async () => {
    const dir = await makeTempDir('launcher-many');
    const count = 4;
    // Each waits (up to ~10 s) until all have started: only programs that run side by side all exit 0.
    const script = `touch "${dir}/$N"; i=0; while [ "$(ls "${dir}" | wc -l)" -lt ${count} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; echo "$PPID"; echo "err $N" >&2; [ "$(ls "${dir}" | wc -l)" -ge ${count} ] && exit $N`;
    const runs = Array.from({ length: count }, (_, index) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let group: number | undefined;
      const done = runProgram(
        { file: '/bin/sh', args: ['-c', script], cwd: dir, env: { ...process.env, N: String(index + 10) }, stdin: Buffer.from('ignored') },
        { started: (pgid) => (group = pgid), stdout: (chunk) => out.push(Buffer.from(chunk)), stderr: (chunk) => err.push(Buffer.from(chunk)) },
      );
      return done.then((exit) => ({ exit, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString(), group }));
    });
    const launchers = launcherPids();
    assert.ok(launchers.length >= 1 && !launchers.includes(process.pid), 'a launcher was started');
    assert.equal(launchers.length, Math.min(count, availableParallelism()), 'one launcher per core while all are busy');
    const results = await Promise.all(runs);
    for (const [index, result] of results.entries()) {
      assert.deepEqual(result.exit, { code: index + 10, signal: null }, `program ${index}: ${result.err}`);
      assert.ok(launchers.includes(Number(result.out.trim())), 'started by a launcher');
      assert.equal(result.err, `err ${index + 10}\n`);
      assert.ok(result.group !== undefined);
    }
    assert.equal(new Set(results.map((r) => r.group)).size, count, 'each in its own process group');
    assert.deepEqual((await readdir(dir)).sort(), ['10', '11', '12', '13']);
  });

  test('a launcher with nothing to run shuts down, and the next program gets a new one', async () => {
    const io = { started: () => {}, stdout: () => {}, stderr: () => {} };
    const spec = { file: 'true', args: [], cwd: undefined, env: process.env, stdin: Buffer.alloc(0) };
    // Whatever the test before left running has ended too.
    for (let wait = 0; wait < 300 && launcherPids().length > 0; wait += 1) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await runProgram(spec, io), { code: 0, signal: null });
    const [first, ...others] = launcherPids();
    assert.ok(first !== undefined);
    assert.deepEqual(others, [], 'one program at a time needs one launcher');
    // Idle for 5 s: disconnected, and it ends itself.
    for (let wait = 0; wait < 300 && (launcherPids().length > 0 || isAlive(first)); wait += 1) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(launcherPids(), []);
    assert.equal(isAlive(first), false, 'the idle launcher ended');
    assert.deepEqual(await runProgram(spec, io), { code: 0, signal: null });
    assert.notDeepEqual(launcherPids(), [first]);
  });

  test('a program that cannot be started fails as a spawn would', async () => {
    await assert.rejects(
      runProgram({ file: '/nowhere/program', args: [], cwd: undefined, env: process.env, stdin: Buffer.alloc(0) }, { started: () => {}, stdout: () => {}, stderr: () => {} }),
      (error: NodeJS.ErrnoException) => error.code === 'ENOENT' && /ENOENT/.test(error.message),
    );
  });
});
