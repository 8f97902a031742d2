/**
 * A `passwordCommand` that hangs is ended whole when its time is up: its background
 * children too, not only the shell. The real CLI; processes are read from /proc.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, test } from 'node:test';
import { runCli, writeConfig } from './helpers/cli.js';

/** A `sleep` duration no other process uses: it marks this test's processes in /proc. */
const MARKER = `777.${process.pid}${Date.now() % 1000}`;

/** Pids of live processes whose command line holds MARKER (zombies have none). */
function markedProcesses(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(MARKER)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The marked processes still there once they had a moment to go (a signal is not instant). */
async function survivors(): Promise<number[]> {
  for (let tries = 0; tries < 50 && markedProcesses().length > 0; tries++) await sleep(100);
  return markedProcesses();
}

afterEach(() => {
  for (const pid of markedProcesses()) process.kill(pid, 'SIGKILL');
});

test('a hung passwordCommand that forked a background child leaves no process behind', async () => {
  const dir = await writeConfig({
    accounts: [{ name: 'support', protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'ann', passwordCommand: `sh -c 'sleep ${MARKER} & sleep ${MARKER}'` }],
  });
  const result = await runCli([], { cwd: dir, env: { MAILPOLL_PASSWORD_COMMAND_TIMEOUT: '1s' } });
  assert.equal(result.code, 2, result.stderr);
  assert.deepEqual(await survivors(), []);
  assert.equal(result.stderr, 'mailpoll.config.json: accounts[0].passwordCommand: the command did not finish within 1s\n');
});

test('a failing passwordCommand takes its background children with it', async () => {
  const dir = await writeConfig({
    accounts: [{ name: 'support', protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'ann', passwordCommand: `sleep ${MARKER} & echo "vault locked" >&2; exit 3` }],
  });
  const result = await runCli([], { cwd: dir });
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr, 'mailpoll.config.json: accounts[0].passwordCommand: the command failed with exit code 3: vault locked\n');
  assert.deepEqual(await survivors(), []);
});
