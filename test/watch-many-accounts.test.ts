/**
 * A watch over many accounts through the real CLI, without a server: Maildir accounts (each
 * loop waits between its cycles like an IMAP one). What such a watch writes must be about
 * mail, not a runtime warning that reads like a leak.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli, startCli, writeConfig } from './helpers/cli.js';
import { maildirWith } from './helpers/maildir-source.js';
import { SPEC_HANDLER } from './helpers/scenario.js';

test('a watch over 40 accounts writes no MaxListenersExceededWarning (every loop waits on the same stop signal)', async () => {
  const accounts = [];
  for (let index = 0; index < 40; index += 1) accounts.push({ name: `box${index}`, protocol: 'maildir', path: await maildirWith([]), interval: '1h' });
  const dir = await writeConfig({ script: SPEC_HANDLER, accounts });
  // Every loop polls its empty Maildir once, then waits for its next interval until --until ends the watch.
  const result = await runCli(['--watch', '--json', '--until', '3s'], { cwd: dir, timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stderr);
  const cycles = result.events.filter((event) => event.type === 'cycle');
  assert.equal(new Set(cycles.map((event) => event.account)).size, 40, 'every account polled once and then waited');
  assert.doesNotMatch(result.stderr, /MaxListenersExceededWarning|memory leak/);
});

test('a worker whose accounts grow on SIGHUP from 1 to 40 writes no MaxListenersExceededWarning either', async () => {
  const accounts: Record<string, unknown>[] = [];
  for (let index = 0; index < 40; index += 1) accounts.push({ name: `box${index}`, protocol: 'maildir', path: await maildirWith([]), interval: '1h' });
  // A worker on a SQLite store: a SIGHUP that changes only the accounts is applied in place.
  const config = (count: number) => ({ script: SPEC_HANDLER, workers: true, leaseTtl: '3s', accounts: accounts.slice(0, count) });
  const dir = await writeConfig(config(1));
  const worker = startCli(['--watch', '--json'], { cwd: dir, timeoutMs: 120_000 });
  try {
    await worker.waitFor((event) => event.type === 'cycle' && event.account === 'box0', 'the first account polled', 60_000);
    await writeConfig(config(40), dir);
    worker.signal('SIGHUP');
    const polled = new Set<unknown>();
    await worker.waitFor((event) => event.type === 'cycle' && polled.add(event.account).size === 40, 'every account polled after the reload', 60_000);
  } finally {
    worker.signal('SIGTERM');
  }
  const result = await worker.exited;
  assert.equal(result.code, 0, result.stderr);
  assert.doesNotMatch(result.stderr, /MaxListenersExceededWarning|memory leak/);
});
