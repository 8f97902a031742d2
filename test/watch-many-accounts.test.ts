/**
 * A watch over many accounts through the real CLI, without a server: Maildir accounts (each
 * loop waits between its cycles like an IMAP one). What such a watch writes must be about
 * mail, not a runtime warning that reads like a leak.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli, writeConfig } from './helpers/cli.js';
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
