/**
 * The handler pool's messages sent ahead (src/handler/worker/pool.ts `prepare`): parsed in a
 * worker before their turn, handled whole at their run, also when the worker they were sent
 * to is lost first or another worker is free first. Real worker threads on a real module.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createHandlerPool, type HandlerPool } from '../src/handler/worker/pool.js';
import type { FetchedMessage } from '../src/mailbox/types.js';
import { makeTempDir } from './helpers/temp.js';

// The handler answers with what it received: the subject, the source's length and its last line.
const HANDLER = `
export default async function handle(m) {
  if (m.subject === 'exit') process.exit(3);
  if (m.subject === 'slow') await new Promise((resolve) => setTimeout(resolve, 300));
  return { subject: m.subject, bytes: m.raw.length, last: m.raw.toString().trim().split('\\n').at(-1), ref: m.ref };
}
`;

function message(uid: number, subject: string): FetchedMessage {
  const raw = Buffer.from(`Subject: ${subject}\r\nFrom: a@example.org\r\n\r\n${'x'.repeat(100 * uid)}\r\nend of ${uid}\r\n`);
  return { uid: String(uid), raw, size: raw.length, flags: [] };
}

function expected(m: FetchedMessage, subject: string, ref: number) {
  return { subject, bytes: m.size, last: `end of ${m.uid}`, ref };
}

async function withPool(size: number, work: (pool: HandlerPool) => Promise<void>): Promise<void> {
  const dir = await makeTempDir('handler-pool');
  const file = path.join(dir, 'handler.mjs');
  await writeFile(file, HANDLER);
  const pool = createHandlerPool({ setup: { file, account: 'a', folder: 'INBOX', dryRun: false }, size, timeoutMs: 60_000, memoryLimit: 1024 ** 3, onLog: () => {} });
  try {
    await work(pool);
  } finally {
    await pool.close();
  }
}

describe('messages sent ahead to a handler worker', () => {
  test('are handled whole, in order, each with its own ref', async () => {
    await withPool(1, async (pool) => {
      const messages = [1, 2, 3, 4].map((uid) => message(uid, `m${uid}`));
      const results: unknown[] = [];
      for (const [index, m] of messages.entries()) {
        const running = pool.run(m, index + 10);
        const next = messages[index + 1];
        if (next) pool.prepare(next);
        results.push(await running);
      }
      assert.deepEqual(results, messages.map((m, index) => expected(m, `m${index + 1}`, index + 10)));
    });
  });

  test('whose worker is lost before their turn are handled whole by the next worker', async () => {
    await withPool(1, async (pool) => {
      const exits = message(1, 'exit');
      const next = message(2, 'after');
      const running = pool.run(exits, 1);
      pool.prepare(next);
      await assert.rejects(running, /process\.exit\(3\)/);
      assert.deepEqual(await pool.run(next, 2), expected(next, 'after', 2));
    });
  });

  test('go to another worker free first, whole', async () => {
    await withPool(2, async (pool) => {
      const slow = message(1, 'slow');
      const quick = message(2, 'quick');
      const third = message(3, 'third');
      const first = pool.run(slow, 1);
      const second = pool.run(quick, 2);
      // Both workers busy: sent ahead to one of them, run on whichever is free first.
      pool.prepare(third);
      assert.deepEqual(await second, expected(quick, 'quick', 2));
      assert.deepEqual(await pool.run(third, 3), expected(third, 'third', 3));
      assert.deepEqual(await first, expected(slow, 'slow', 1));
    });
  });
});
