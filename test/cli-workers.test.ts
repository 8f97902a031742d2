/**
 * `mailpoll --watch` processes on one PostgreSQL store are workers that split the accounts:
 * real CLI child processes, the private Dovecot (one user per account), the private PostgreSQL
 * (test/helpers/worker-fleet.ts; the same on a SQLite file: cli-workers-sqlite.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { usePostgres } from './helpers/use-postgres.js';
import { handlerCalls, scenario } from './helpers/scenario.js';
import {
  assertOneShotSeesBusy,
  eventually,
  type Fleet,
  type FleetOptions,
  handovers,
  heldNow,
  LEASE_TTL_MS,
  listFleetWorkers as listWorkers,
  setUpFleet,
  startFleetWorker as startWorker,
  stopAll,
  waitForTakeover,
} from './helpers/worker-fleet.js';

const dovecot = useDovecot();
const postgres = usePostgres();
const world = scenario(dovecot);

/** `accounts` Dovecot users of `messages` messages each, one config on a fresh database. */
async function setUp(accounts: number, messages: number, subject = '"keep"', top: Record<string, unknown> = {}): Promise<Fleet> {
  const options: FleetOptions = { subject, top };
  return setUpFleet(world, await postgres.createDatabase(), accounts, messages, options);
}

describe('workers split the accounts of one PostgreSQL store', () => {
  test('three workers: every message handled exactly once, no worker above its fair share plus one', async () => {
    const fleet = await setUp(30, 20);
    const workers = [startWorker(fleet), startWorker(fleet), startWorker(fleet)];
    try {
      for (const worker of workers) {
        const started = await worker.waitFor((event) => event.type === 'worker' && event.state === 'started', 'the worker start', 60_000);
        assert.equal(started.accounts, 30);
      }
      await eventually(async () => (await handlerCalls(fleet.log)).length >= fleet.total, 'every message handled');
      const share = Math.ceil(30 / 3);
      await eventually(() => workers.every((worker) => heldNow(worker) <= share + 1) && workers.reduce((sum, w) => sum + heldNow(w), 0) === 30, 'the accounts spread');
      // What `mailpoll workers` sees in the store agrees.
      const listed = await runCli(['workers', '--json'], { cwd: fleet.dir });
      assert.equal(listed.code, 0, listed.stderr);
      const live = listed.events.filter((event) => event.type === 'worker');
      assert.equal(live.length, 3, listed.stdout);
    } finally {
      await stopAll(workers);
    }
    const counts = await handovers(fleet);
    assert.equal(counts.size, fleet.total);
    assert.deepEqual([...counts.values()].filter((n) => n !== 1), [], 'no message handed over twice');
    // Taking over and handing back were said.
    const said = workers.flatMap((worker) => worker.events.filter((event) => event.type === 'worker').map((event) => event.state));
    assert.ok(said.includes('released'), `a worker handed accounts back: ${said.join(', ')}`);
    assert.ok(said.includes('took'), `a worker took accounts over: ${said.join(', ')}`);
  });

  test('kill -9 of a worker in the middle of its work, three times: nothing lost, duplicates no more than kills, its accounts taken over in time', async () => {
    // One account at a time per worker: a kill leaves at most one handler call unrecorded.
    const fleet = await setUp(9, 12, '"keep"', { concurrency: 1 });
    const slow = { HANDLER_DELAY_MS: '100' };
    const workers = [startWorker(fleet, slow), startWorker(fleet, slow), startWorker(fleet, slow)];
    const heartbeat = Math.floor(LEASE_TTL_MS / 3);
    try {
      for (let kill = 1; kill <= 3; kill += 1) {
        const victim = workers[kill - 1]!;
        const started = await victim.waitFor((event) => event.type === 'worker' && event.state === 'started', 'the worker start', 60_000);
        // A random point: after a few more of its messages.
        const before = (await handlerCalls(fleet.log)).length;
        const more = 2 + Math.floor(Math.random() * 6);
        await eventually(async () => (await handlerCalls(fleet.log)).length >= Math.min(before + more, fleet.total), 'more messages handled');
        const held = (await listWorkers(fleet)).find((worker) => worker.id === started.worker)?.accounts ?? [];
        victim.signal('SIGKILL');
        const killedAt = Date.now();
        await victim.exited;
        workers.push(startWorker(fleet, slow));
        // Every account it held is held again by a live worker.
        const took = await waitForTakeover(fleet, String(started.worker), held.map((account) => account.name), killedAt);
        // leaseTtl plus one heartbeat, and room for a loaded machine to list the workers.
        assert.ok(took <= LEASE_TTL_MS + heartbeat + 10_000, `taken over after ${took} ms`);
      }
      await eventually(async () => (await handovers(fleet)).size >= fleet.total, 'every message handled');
    } finally {
      await stopAll(workers.slice(3));
    }
    const counts = await handovers(fleet);
    assert.equal(counts.size, fleet.total, 'no message lost');
    const duplicates = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
    assert.ok(duplicates <= 3, `${duplicates} duplicates for 3 kills`);
  });

  test('a worker paused past its lease and resumed applies nothing and records nothing for the accounts it lost, and says so', async () => {
    const fleet = await setUp(2, 8, '"delete"');
    const paused = startWorker(fleet, { HANDLER_DELAY_MS: '400' });
    // In the middle of its first batch: handlers called, nothing recorded yet.
    await eventually(async () => (await handlerCalls(fleet.log)).length >= 2, 'its handler at work');
    paused.signal('SIGSTOP');
    const seenBeforePause = paused.events.length;
    const other = startWorker(fleet);
    try {
      await eventually(() => heldNow(other) === 2, 'the other worker holding both accounts');
      await eventually(async () => (await handovers(fleet)).size >= fleet.total, 'every message handled by the other worker');
      paused.signal('SIGCONT');
      await paused.waitFor((event) => event.type === 'worker' && event.state === 'lost', 'the lost lease said');
      // Give it a heartbeat to act wrongly, should it.
      await new Promise((resolve) => setTimeout(resolve, LEASE_TTL_MS));
    } finally {
      paused.signal('SIGCONT');
      await stopAll([paused, other]);
    }
    const after = (await paused.exited).events.slice(seenBeforePause);
    const acted = after.filter((event) => event.type === 'message' && event.status === 'ok');
    assert.deepEqual(acted, [], 'no decision recorded or carried out after waking');
    const lost = after.filter((event) => event.type === 'worker' && event.state === 'lost');
    assert.ok(lost.length >= 1);
    assert.match(String(lost[0]?.reason), /took this mailbox over/);
    // Every message deleted once: the other worker did all of it.
    const rows = await postgres.query<{ state: string; n: string }>(
      'SELECT state, count(*)::text AS n FROM mailpoll.messages GROUP BY state',
      [],
      new URL(fleet.store).pathname.slice(1),
    );
    assert.deepEqual(rows, [{ state: 'done', n: String(fleet.total) }]);
    const counts = await handovers(fleet);
    assert.equal(counts.size, fleet.total);
  });

  test('a worker joining takes a share, one leaving hands its accounts back', async () => {
    const fleet = await setUp(6, 1);
    const workers = [startWorker(fleet), startWorker(fleet)];
    try {
      await eventually(() => workers.every((worker) => heldNow(worker) === 3), 'two workers with three accounts each');
      const joining = startWorker(fleet);
      workers.push(joining);
      await eventually(() => workers.every((worker) => heldNow(worker) === 2), 'three workers with two accounts each');
      assert.ok(workers.slice(0, 2).some((worker) => worker.events.some((event) => event.type === 'worker' && event.state === 'released')));
      const leaving = workers.shift()!;
      leaving.signal('SIGTERM');
      assert.equal((await leaving.exited).code, 0);
      await eventually(() => workers.every((worker) => heldNow(worker) === 3), 'the two left with three each');
      assert.ok(workers.some((worker) => worker.events.some((event) => event.type === 'worker' && event.state === 'took')));
    } finally {
      await stopAll(workers);
    }
    assert.equal((await handovers(fleet)).size, 6);
  });

  test('a one-shot run on the same store reports an account a worker holds as busy', async () => {
    await assertOneShotSeesBusy(await setUp(1, 1));
  });

  test('the database restarted under running workers: they back off, reconnect, and nothing is lost', async () => {
    const fleet = await setUp(6, 10);
    const slow = { HANDLER_DELAY_MS: '150' };
    const workers = [startWorker(fleet, slow), startWorker(fleet, slow)];
    try {
      await eventually(async () => (await handlerCalls(fleet.log)).length >= 10, 'some messages handled');
      await postgres.pause();
      await new Promise((resolve) => setTimeout(resolve, LEASE_TTL_MS / 2));
      await postgres.resume();
      await eventually(async () => (await handovers(fleet)).size >= fleet.total, 'every message handled');
      await eventually(() => workers.reduce((sum, worker) => sum + heldNow(worker), 0) === 6, 'every account held again');
    } finally {
      await stopAll(workers);
    }
    assert.equal((await handovers(fleet)).size, fleet.total, 'no message lost');
    const said = workers.flatMap((worker) => worker.events.filter((event) => event.type === 'worker').map((event) => event.state));
    assert.ok(said.includes('unreachable'), `the heartbeat failure said: ${said.join(', ')}`);
  });
});
