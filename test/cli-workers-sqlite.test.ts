/**
 * `mailpoll --watch` processes sharing one SQLite file on one host are workers that split the
 * accounts, as on PostgreSQL (cli-workers.test.ts): real CLI child processes, the private
 * Dovecot (one user per account), the store a file in a temporary folder.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { runCli } from './helpers/cli.js';
import { handlerCalls, scenario } from './helpers/scenario.js';
import { makeTempDir } from './helpers/temp.js';
import { useDovecot } from './helpers/use-dovecot.js';
import {
  assertOneShotSeesBusy,
  eventually,
  type Fleet,
  type FleetOptions,
  handovers,
  heldNow,
  LEASE_TTL_MS,
  listFleetWorkers,
  setUpFleet,
  startFleetWorker,
  stopAll,
  waitForTakeover,
} from './helpers/worker-fleet.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

/** `accounts` Dovecot users of `messages` messages each, one config on a fresh SQLite file. */
async function setUp(accounts: number, messages: number, options: FleetOptions = {}): Promise<Fleet> {
  return setUpFleet(world, join(await makeTempDir('mailpoll-sqlite-workers-'), 'mailpoll.db'), accounts, messages, { ...options, top: { workers: true, ...options.top } });
}

/** How many ledger rows are in each state, read from the file itself. */
function statesOf(fleet: Fleet): Record<string, number> {
  const db = new Database(fleet.store, { readonly: true });
  try {
    const rows = db.prepare('SELECT state, count(*) AS n FROM messages GROUP BY state').all() as Array<{ state: string; n: number }>;
    return Object.fromEntries(rows.map((row) => [row.state, row.n]));
  } finally {
    db.close();
  }
}

describe('workers split the accounts of one SQLite file', () => {
  test('three workers: every message handled exactly once, no worker above its fair share plus one; mailpoll workers lists them', async () => {
    const fleet = await setUp(15, 12);
    const workers = [startFleetWorker(fleet), startFleetWorker(fleet), startFleetWorker(fleet)];
    const ids: string[] = [];
    try {
      for (const worker of workers) {
        const started = await worker.waitFor((event) => event.type === 'worker' && event.state === 'started', 'the worker start', 60_000);
        assert.equal(started.accounts, 15);
        ids.push(String(started.worker));
      }
      await eventually(async () => (await handlerCalls(fleet.log)).length >= fleet.total, 'every message handled', 120_000);
      const share = Math.ceil(15 / 3);
      await eventually(() => workers.every((worker) => heldNow(worker) <= share + 1) && workers.reduce((sum, w) => sum + heldNow(w), 0) === 15, 'the accounts spread');
      // What `mailpoll workers` reads from the file agrees: three workers, every account held once.
      const listed = await listFleetWorkers(fleet);
      assert.deepEqual(listed.map((worker) => worker.id).sort(), [...ids].sort());
      assert.deepEqual(listed.flatMap((worker) => worker.accounts.map((account) => account.name)).sort(), [...fleet.names].sort());
      const text = await runCli(['workers'], { cwd: fleet.dir });
      assert.equal(text.code, 0, text.stderr);
      assert.equal(text.stdout.split('\n')[0], `workers: 3 live on ${fleet.store}`);
      assert.match(text.stdout, /^not held: none$/m);
    } finally {
      await stopAll(workers);
    }
    const counts = await handovers(fleet);
    assert.equal(counts.size, fleet.total);
    assert.deepEqual([...counts.values()].filter((n) => n !== 1), [], 'no message handed over twice');
    assert.deepEqual(statesOf(fleet), { done: fleet.total }, 'every decision recorded as carried out, once');
    // Stopped: every worker deregistered and its leases went with it.
    assert.deepEqual(await listFleetWorkers(fleet), []);
  });

  test('kill -9 of a worker in the middle of its work: its accounts taken over after leaseTtl, nothing lost, at most one duplicate', async () => {
    // One account at a time per worker: the kill leaves at most one handler call unrecorded.
    const fleet = await setUp(6, 10, { top: { concurrency: 1 } });
    const slow = { HANDLER_DELAY_MS: '100' };
    const workers = [startFleetWorker(fleet, slow), startFleetWorker(fleet, slow), startFleetWorker(fleet, slow)];
    const heartbeat = Math.floor(LEASE_TTL_MS / 3);
    try {
      const victim = workers[0]!;
      const started = await victim.waitFor((event) => event.type === 'worker' && event.state === 'started', 'the worker start', 60_000);
      // The first to start claims everything; the others get their share at the next heartbeats.
      await eventually(() => workers.every((worker) => heldNow(worker) === 2), 'two accounts each');
      // A random point: after a few messages.
      const few = 3 + Math.floor(Math.random() * 6);
      await eventually(async () => (await handlerCalls(fleet.log)).length >= few, 'a few messages handled');
      const held = (await listFleetWorkers(fleet)).find((worker) => worker.id === started.worker)?.accounts ?? [];
      assert.equal(held.length, 2, 'the victim holds its share');
      victim.signal('SIGKILL');
      const killedAt = Date.now();
      await victim.exited;
      const took = await waitForTakeover(fleet, String(started.worker), held.map((account) => account.name), killedAt);
      assert.ok(!(await listFleetWorkers(fleet)).some((worker) => worker.id === started.worker), 'the killed worker is no longer live');
      // leaseTtl plus one heartbeat, and room for a loaded machine to list the workers.
      assert.ok(took <= LEASE_TTL_MS + heartbeat + 10_000, `taken over after ${took} ms`);
      await eventually(async () => (await handovers(fleet)).size >= fleet.total, 'every message handled', 120_000);
    } finally {
      await stopAll(workers.slice(1));
    }
    const counts = await handovers(fleet);
    assert.equal(counts.size, fleet.total, 'no message lost');
    const duplicates = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
    assert.ok(duplicates <= 1, `${duplicates} duplicates for 1 kill`);
    assert.deepEqual(statesOf(fleet), { done: fleet.total });
  });

  test('a one-shot run on the same file reports an account a worker holds as busy', async () => {
    await assertOneShotSeesBusy(await setUp(1, 1));
  });
});
