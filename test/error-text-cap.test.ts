/**
 * A handler that throws a 5 MB message: the report line, the JSON event, `show` and the ledger
 * keep about 4 KB of it with a marker saying how much was cut; `-v` has the full text on stderr.
 * The real CLI against a Maildir.
 */
import assert from 'node:assert/strict';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';

const HANDLER = join(FIXTURES, 'handlers', 'throws-huge.mjs');
const LIMIT = 4096 + 200;

async function oneMessage(): Promise<string> {
  const root = await makeTempDir('huge');
  const path = join(root, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  await writeFile(join(path, 'new', '1767000000.M1P1.test'), 'From: a@example.com\r\nSubject: huge error\r\nMessage-ID: <huge@test>\r\n\r\nbody\r\n');
  return path;
}

async function storeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const file of ['mailpoll.db', 'mailpoll.db-wal']) total += await stat(join(dir, file)).then((s) => s.size, () => 0);
  return total;
}

function later(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString();
}

describe('oversized error texts', () => {
  test('are cut to about 4 KB in the report, the ledger and show; -v prints them in full on stderr', async () => {
    const path = await oneMessage();
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path, maxAttempts: 10, retryDelay: '1m' }] });

    const text = await runCli([], { cwd: dir });
    assert.equal(text.code, 1, text.stderr.slice(0, 2000));
    const line = text.stdout.split('\n').find((l) => l.includes('failed: handler failed'));
    assert.ok(line !== undefined, text.stdout.slice(0, 2000));
    assert.ok(Buffer.byteLength(line) < LIMIT, `report line of ${Buffer.byteLength(line)} bytes`);
    assert.match(line, /\[\.\.\. \d+ bytes cut \.\.\.\] x+ END/);
    assert.ok(text.stdout.length + text.stderr.length < 3 * LIMIT, 'no megabytes anywhere without -v');
    const afterFirst = await storeBytes(dir);

    // Each later run a day on (MAILPOLL_NOW): past retryDelay, so each is a new attempt.
    const json = await runCli(['--json'], { cwd: dir, env: { MAILPOLL_NOW: later(1) } });
    const error = String(messageEvents(json)[0]?.error);
    assert.ok(Buffer.byteLength(error) < LIMIT, `JSON error of ${Buffer.byteLength(error)} bytes`);
    assert.match(error, /^handler failed: x+ \[\.\.\. \d+ bytes cut \.\.\.\] x+ END$/);

    const verbose = await runCli(['-v'], { cwd: dir, env: { MAILPOLL_NOW: later(2) } });
    assert.ok(verbose.stderr.includes(`${'x'.repeat(5 * 1024 * 1024)} END`), 'the full text under -v');
    assert.ok(verbose.stdout.length < 3 * LIMIT, 'stdout stays short under -v');

    // Three attempts recorded: the store grows by kilobytes, not by 5 MB per attempt.
    assert.ok((await storeBytes(dir)) - afterFirst < 1024 * 1024, `store grew from ${afterFirst} to ${await storeBytes(dir)} bytes`);
    const show = await runCli(['show', '1'], { cwd: dir });
    const lastError = show.stdout.split('\n').find((l) => l.startsWith('last error:'));
    assert.ok(lastError !== undefined && Buffer.byteLength(lastError) < LIMIT, `show's last error: ${lastError?.length} characters`);
    assert.match(lastError, /bytes cut/);
    assert.match(show.stdout, /attempts: +3/);
  });
});
