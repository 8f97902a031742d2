/**
 * Workers (src/store/workers.ts) as one suite of tests for every store that has them: in
 * process on one store and a manual clock (fair share, expiry, fencing, one-shot leases beside
 * them), then several worker processes (test/fixtures/store/worker-child.ts) claiming from one
 * store (the spread, a worker joining and one leaving, kill -9, a paused worker), and
 * `mailpoll workers` listing them. A backend test calls
 *
 *   describeWorkerContract('sqlite', { open, reopen, target, leaseRows });
 *
 * and adds the tests of what only it has (how concurrent claims meet, its migrations).
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LeaseLostError } from '../../src/store/contract.js';
import type { AsyncStore } from '../../src/store/contract.js';
import { fairShare, hasWorkers, type WorkerStore } from '../../src/store/workers.js';
import { runCli, writeConfig } from './cli.js';
import { SPEC_HANDLER } from './scenario.js';
import { type ContractOpenOptions, decide, manualClock, message, startStoreChild } from './store-contract.js';

export type StoreWithWorkers = AsyncStore & WorkerStore;

/** A lease row as the database has it. */
export interface LeaseRow {
  identity: string;
  token: string;
  workerId: string | null;
}

export interface WorkerBackend {
  /** A new, empty store. */
  open(options?: ContractOpenOptions): Promise<StoreWithWorkers>;
  /** Another handle on the same store, as another process or host would open it. */
  reopen(store: StoreWithWorkers, options?: ContractOpenOptions): Promise<StoreWithWorkers>;
  /** What worker-child.ts, store-child.ts and `mailpoll --store` open to reach the same store (a path, a URL). */
  target(store: StoreWithWorkers): string;
  /** Every lease row of the store, read from the database itself (not through the store), by identity. */
  leaseRows(store: StoreWithWorkers): Promise<LeaseRow[]>;
  /** Text that must never appear in `mailpoll workers` output (a password in the target). */
  secrets?: () => string[];
}

/** `store`, checked to have workers. */
export function withWorkers(store: AsyncStore): StoreWithWorkers {
  assert.ok(hasWorkers(store), `${store.path} has workers`);
  return store;
}

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const workerChild = join(repo, 'test', 'fixtures', 'store', 'worker-child.ts');

export const identityOf = (i: number): string => `imap://user${String(i).padStart(2, '0')}@mail.test/INBOX`;
export const identities = (count: number): string[] => Array.from({ length: count }, (_, i) => identityOf(i));

export interface TickReport {
  pid: number;
  held: string[];
  tokens: Record<string, string>;
  lost: string[];
  released: string[];
  claimed: string[];
  share: number;
  live: number;
}

export interface WorkerChild {
  pid: number;
  id: string;
  send(line: string): Promise<Record<string, unknown>>;
  tick(): Promise<TickReport>;
  signal(signal: NodeJS.Signals): void;
  kill(): void;
  exited: Promise<unknown>;
}

const children: WorkerChild[] = [];
after(() => {
  for (const child of children) child.kill();
});

/** test/fixtures/store/worker-child.ts on `target`, registered once this resolves. */
export async function startWorker(target: string, ttlMs: number, count: number): Promise<WorkerChild> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', workerChild, target, String(ttlMs), String(count)], { cwd: repo, stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = once(child, 'exit');
  const line = async (): Promise<string> => {
    const next = await Promise.race([lines.next(), exited.then(() => ({ done: true, value: undefined }))]);
    if (next.done || next.value === undefined) throw new Error(`worker child exited early: ${stderr}`);
    return next.value;
  };
  const ready = await line();
  assert.match(ready, /^ready [0-9a-f-]{36}$/);
  assert.ok(child.pid !== undefined);
  const handle: WorkerChild = {
    pid: child.pid,
    id: ready.slice('ready '.length),
    async send(command) {
      child.stdin.write(`${command}\n`);
      return JSON.parse(await line()) as Record<string, unknown>;
    },
    async tick() {
      return (await handle.send('tick')) as unknown as TickReport;
    },
    signal: (signal) => void child.kill(signal),
    kill: () => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')),
    exited,
  };
  children.push(handle);
  return handle;
}

/** Every worker ticks at once, round after round, until a round changes nothing; the last reports. */
export async function tickUntilSettled(workers: readonly WorkerChild[], maxRounds = 8): Promise<TickReport[]> {
  let reports: TickReport[] = [];
  for (let round = 0; round < maxRounds; round += 1) {
    reports = await Promise.all(workers.map((worker) => worker.tick()));
    assertDisjoint(reports);
    if (reports.every((report) => report.claimed.length === 0 && report.released.length === 0 && report.lost.length === 0)) return reports;
  }
  assert.fail(`not settled after ${maxRounds} rounds: ${JSON.stringify(reports.map((report) => report.held.length))}`);
}

function assertDisjoint(reports: readonly TickReport[]): void {
  const owner = new Map<string, number>();
  for (const report of reports) {
    for (const identity of report.held) {
      assert.equal(owner.get(identity), undefined, `${identity} held by ${owner.get(identity)} and ${report.pid}`);
      owner.set(identity, report.pid);
    }
  }
}

function assertSpread(reports: readonly TickReport[], accounts: number): void {
  const share = fairShare(accounts, reports.length);
  assert.deepEqual(reports.flatMap((report) => report.held).sort(), identities(accounts), 'every account is held, once');
  for (const report of reports) assert.ok(report.held.length <= share + 1, `${report.pid} holds ${report.held.length}, share ${share}`);
}

export function describeWorkerContract(backendName: string, backend: WorkerBackend): void {
  const opened: StoreWithWorkers[] = [];
  after(async () => {
    for (const store of opened) await store.close();
  });
  const open = async (options: ContractOpenOptions = {}): Promise<StoreWithWorkers> => {
    const store = await backend.open(options);
    opened.push(store);
    return store;
  };
  const reopen = async (store: StoreWithWorkers, options: ContractOpenOptions = {}): Promise<StoreWithWorkers> => {
    const again = await backend.reopen(store, options);
    opened.push(again);
    return again;
  };
  const tokenOf = async (store: StoreWithWorkers, identity: string): Promise<string | undefined> =>
    (await backend.leaseRows(store)).find((row) => row.identity === identity)?.token;

  describe(`workers in one process (${backendName}: one store, a manual clock)`, () => {
    async function twoHosts() {
      const clock = manualClock();
      const a = await open({ now: clock.now, hostname: 'host-a' });
      const b = await reopen(a, { now: clock.now, hostname: 'host-b' });
      return { clock, a, b };
    }

    it('register, claim up to the share, list with what each holds, deregister hands everything back', async () => {
      const { clock, a, b } = await twoHosts();
      const first = await a.workerRegistry().register();
      const alone = await first.claim(identities(10));
      assert.deepEqual([alone.claimed.length, alone.share, alone.liveWorkers], [10, 10, 1]);
      clock.advance(1_000); // the list is oldest first
      const second = await b.workerRegistry().register();
      const none = await second.claim(identities(10));
      assert.deepEqual([none.claimed.length, none.share, none.liveWorkers], [0, 5, 2], 'every lease is held and unexpired');
      const surplus = await first.surplus(identities(10));
      assert.deepEqual(surplus.map((lease) => lease.identity), identities(10).slice(5), 'the most recently claimed go');
      for (const lease of surplus) await lease.release();
      const handed = await second.claim(identities(10));
      assert.deepEqual(handed.claimed.map((lease) => lease.identity), identities(10).slice(5));

      const listed = await a.workerRegistry().list();
      assert.deepEqual(
        listed.map((worker) => [worker.id, worker.host, worker.pid, worker.identities]),
        [
          [first.id, 'host-a', process.pid, identities(10).slice(0, 5)],
          [second.id, 'host-b', process.pid, identities(10).slice(5)],
        ],
      );
      const rows = await backend.leaseRows(a);
      assert.deepEqual(rows.map((row) => row.workerId), [...Array(5).fill(first.id), ...Array(5).fill(second.id)], 'the lease rows name their worker');

      await second.deregister();
      await second.deregister();
      assert.equal(second.held().size, 0);
      assert.deepEqual((await b.workerRegistry().list()).map((worker) => worker.id), [first.id]);
      const back = await first.claim(identities(10));
      assert.deepEqual([back.claimed.length, back.share, first.held().size], [5, 10, 10], 'its accounts are free at once');
    });

    it('a worker whose heartbeat stopped: not live after its TTL, its leases taken with larger tokens, its fenced writes refused', async () => {
      const { clock, a, b } = await twoHosts();
      const runId = await a.beginRun({ pid: 1, command: 'watch', dryRun: false });
      const ref = (await a.recordReceived(runId, [message('1', { key: { identity: identityOf(0) } })], { archive: false })).get('1') ?? -1;
      const dead = await a.workerRegistry({ ttlMs: 60_000 }).register();
      await dead.claim(identities(4));
      const live = await b.workerRegistry({ ttlMs: 60_000 }).register();
      clock.advance(59_000);
      await live.heartbeat();
      assert.equal((await live.claim(identities(4))).claimed.length, 0, 'not before the leases expire');
      clock.advance(2_000);
      await live.heartbeat();
      assert.deepEqual((await b.workerRegistry().list()).map((worker) => worker.id), [live.id], 'the silent one is no longer live');
      const taken = await live.claim(identities(4));
      assert.deepEqual([taken.share, taken.liveWorkers, taken.claimed.length], [4, 1, 4]);
      for (const lease of taken.claimed) {
        const old = dead.held().get(lease.identity);
        assert.ok(old !== undefined && BigInt(lease.token) > BigInt(old.token), `${lease.token} > ${old?.token}`);
      }
      const stale = dead.held().get(identityOf(0));
      assert.ok(stale !== undefined);
      await assert.rejects(a.recordHandled(ref, decide('delete'), stale), LeaseLostError);
      assert.equal((await a.get(ref))?.state, 'received');
      await b.recordHandled(ref, decide('delete'), taken.claimed[0]);
      // It wakes up: its heartbeat says what it lost, and it holds nothing.
      const { lost } = await dead.heartbeat();
      assert.deepEqual(lost.map((lease) => lease.identity).sort(), identities(4));
      assert.equal(dead.held().size, 0);
      assert.equal(await stale.renew(), false);
    });

    it("a worker's lease renewed by its heartbeat survives past the first TTL; a paused one keeps what nobody took", async () => {
      const { clock, a, b } = await twoHosts();
      const worker = await a.workerRegistry().register();
      await worker.claim(identities(3));
      for (let i = 0; i < 5; i += 1) {
        clock.advance(30_000);
        assert.deepEqual((await worker.heartbeat()).lost, []);
      }
      const other = await b.workerRegistry().register();
      assert.equal((await other.claim(identities(3))).claimed.length, 0);
      clock.advance(120_000);
      assert.deepEqual((await worker.heartbeat()).lost, [], 'expired but taken by nobody: still its own');
      assert.equal(worker.held().size, 3);
    });

    it('worker leases and one-shot leases exclude each other, both ways', async () => {
      const { clock, a, b } = await twoHosts();
      const worker = await a.workerRegistry().register();
      const oneShot = await b.acquireLease(identityOf(1), { ttlMs: 60_000 });
      assert.ok(oneShot.ok);
      const claimed = await worker.claim(identities(3));
      assert.deepEqual(claimed.claimed.map((lease) => lease.identity), [identityOf(0), identityOf(2)], 'the one-shot run holds user01');
      const busy = await b.acquireLease(identityOf(0), { ttlMs: 60_000 });
      assert.equal(busy.ok, false);
      if (!busy.ok) assert.deepEqual([busy.holder.host, busy.holder.pid], ['host-a', process.pid]);
      await oneShot.lease.release();
      assert.deepEqual((await worker.claim(identities(3))).claimed.map((lease) => lease.identity), [identityOf(1)]);
      // The worker stops; once its lease expired, a one-shot run takes the mailbox with a larger token.
      const held = worker.held().get(identityOf(2));
      assert.ok(held !== undefined);
      clock.advance(60_001);
      const takeover = await b.acquireLease(identityOf(2), { ttlMs: 60_000 });
      assert.ok(takeover.ok);
      assert.ok(BigInt(takeover.lease.token) > BigInt(held.token));
      const { lost } = await worker.heartbeat();
      assert.deepEqual(lost.map((lease) => lease.identity), [identityOf(2)]);
      assert.deepEqual((await a.workerRegistry().list())[0]?.identities, [identityOf(0), identityOf(1)], 'a lease taken by a one-shot run belongs to no worker');
      assert.equal((await backend.leaseRows(a)).find((row) => row.identity === identityOf(2))?.workerId, null);
    });

    it('a mailbox added to the configured ones is claimed by the next claim', async () => {
      const { a } = await twoHosts();
      const worker = await a.workerRegistry().register();
      assert.equal((await worker.claim(identities(2))).claimed.length, 2);
      assert.deepEqual((await worker.claim(identities(4))).claimed.map((lease) => lease.identity), [identityOf(2), identityOf(3)]);
    });

    it('surplus: a mailbox no longer configured goes first, whatever the share', async () => {
      const { a } = await twoHosts();
      const worker = await a.workerRegistry().register();
      await worker.claim(identities(4));
      const surplus = await worker.surplus(identities(4).filter((identity) => identity !== identityOf(1)));
      assert.deepEqual(surplus.map((lease) => lease.identity), [identityOf(1)]);
      await surplus[0]?.release();
      assert.deepEqual([...worker.held().keys()], [identityOf(0), identityOf(2), identityOf(3)]);
    });

    it('rejects a TTL that is not a positive number', async () => {
      const { a } = await twoHosts();
      assert.throws(() => a.workerRegistry({ ttlMs: 0 }), RangeError);
    });
  });

  describe(`worker processes on one store (${backendName})`, () => {
    it('three workers started together spread 30 accounts; a fourth joining makes them give up their surplus; one leaving hands back', async () => {
      const store = await open();
      const target = backend.target(store);
      const workers = await Promise.all([0, 1, 2].map(() => startWorker(target, 60_000, 30)));
      const spread = await tickUntilSettled(workers);
      assertSpread(spread, 30);
      assert.deepEqual(spread.map((report) => report.held.length), [10, 10, 10]);

      const joining = await startWorker(target, 60_000, 30);
      const first = await Promise.all(workers.map((worker) => worker.tick()));
      assert.deepEqual(first.map((report) => report.released.length), [2, 2, 2], 'share 8: each gives up two after its message in hand');
      const rebalanced = await tickUntilSettled([...workers, joining]);
      assertSpread(rebalanced, 30);
      assert.deepEqual(rebalanced.map((report) => report.held.length).sort(), [6, 8, 8, 8]);

      const leaving = workers[0]!;
      const gone = rebalanced[0]!.held;
      assert.deepEqual(await leaving.send('deregister'), { pid: leaving.pid, deregistered: true });
      const listed = await store.workerRegistry().list();
      assert.ok(!listed.some((worker) => worker.id === leaving.id), 'deregistered at once');
      const rest = [workers[1]!, workers[2]!, joining];
      const after = await tickUntilSettled(rest);
      assertSpread(after, 30);
      assert.deepEqual(after.map((report) => report.held.length), [10, 10, 10]);
      assert.ok(gone.every((identity) => after.some((report) => report.held.includes(identity))));
      // What the store lists is what each process says it holds.
      const byId = new Map((await store.workerRegistry().list()).map((worker) => [worker.id, worker.identities]));
      for (const [index, worker] of rest.entries()) assert.deepEqual(byId.get(worker.id), [...after[index]!.held].sort());
    });

    it('four workers racing for 30 free accounts at once never hold one twice', async () => {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const store = await open();
        const workers = await Promise.all([0, 1, 2, 3].map(() => startWorker(backend.target(store), 60_000, 30)));
        const first = await Promise.all(workers.map((worker) => worker.tick()));
        assertDisjoint(first);
        const rows = (await backend.leaseRows(store)).filter((row) => row.workerId !== null);
        assert.equal(rows.length, first.flatMap((report) => report.held).length);
        for (const row of rows) {
          const holders = first.filter((report) => report.tokens[row.identity] === row.token);
          assert.equal(holders.length, 1, `${row.identity}: the row's token is one worker's`);
        }
        assertSpread(await tickUntilSettled(workers), 30);
        for (const worker of workers) worker.kill();
      }
    });

    it('kill -9 of a worker: after its TTL the others take its accounts, with larger tokens', async () => {
      const store = await open();
      const ttl = 4_000;
      const workers = await Promise.all([0, 1, 2].map(() => startWorker(backend.target(store), ttl, 30)));
      const before = await tickUntilSettled(workers);
      assertSpread(before, 30);
      const victim = workers[2]!;
      const victimTokens = before[2]!.tokens;
      victim.signal('SIGKILL');
      await victim.exited;
      const survivors = [workers[0]!, workers[1]!];
      let reports: TickReport[] = [];
      // Tick as the watch loop would (a third of the TTL) until its accounts are held again.
      for (let round = 0; round < 60; round += 1) {
        reports = await Promise.all(survivors.map((worker) => worker.tick()));
        assertDisjoint(reports);
        if (reports.flatMap((report) => report.held).length === 30) break;
        await new Promise((resolve) => setTimeout(resolve, ttl / 3));
      }
      assertSpread(reports, 30);
      for (const [identity, token] of Object.entries(victimTokens)) {
        const now = reports.find((report) => report.held.includes(identity))?.tokens[identity];
        assert.ok(now !== undefined && BigInt(now) > BigInt(token), `${identity}: ${now} > ${token}`);
      }
      assert.deepEqual((await store.workerRegistry().list()).map((worker) => worker.pid).sort(), survivors.map((worker) => worker.pid).sort());
    });

    it('a worker paused past its lease: a one-shot process takes the account, and the worker records nothing for it', async (t) => {
      const store = await open();
      const target = backend.target(store);
      const ttl = 3_000;
      const worker = await startWorker(target, ttl, 2);
      assert.deepEqual((await worker.tick()).held, identities(2));
      // A one-shot process finds both busy, held by the worker (renewed once it is ready: starting it may take longer than the TTL).
      const oneShot = startStoreChild(target);
      t.after(() => oneShot.exit());
      assert.equal(await oneShot.line(), 'ready');
      const held = await worker.tick();
      assert.deepEqual([held.held, held.lost], [identities(2), []]);
      oneShot.send(`lease ${identityOf(0)} 60000`);
      const busy = JSON.parse(await oneShot.line()) as { ok: boolean; holder?: { pid: number } };
      assert.deepEqual([busy.ok, busy.holder?.pid], [false, worker.pid]);

      const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
      const ref = (await store.recordReceived(runId, [message('1', { key: { identity: identityOf(0) } })], { archive: false })).get('1') ?? -1;
      worker.signal('SIGSTOP');
      try {
        let taken: string | undefined;
        for (let round = 0; round < 60 && taken === undefined; round += 1) {
          oneShot.send(`lease ${identityOf(0)} 60000`);
          const result = JSON.parse(await oneShot.line()) as { ok: boolean };
          if (result.ok) taken = 'yes';
          else await new Promise((resolve) => setTimeout(resolve, ttl / 3));
        }
        assert.equal(taken, 'yes', 'the one-shot process took the mailbox once the lease expired');
      } finally {
        worker.signal('SIGCONT');
      }
      const token = await tokenOf(store, identityOf(0));
      assert.ok(token !== undefined && BigInt(token) > BigInt(held.tokens[identityOf(0)] ?? 'x'));
      const refused = await worker.send(`record ${identityOf(0)} ${ref}`);
      assert.match(String(refused.lost), /the lease on imap:\/\/user00@mail\.test\/INBOX was taken over/);
      assert.equal((await store.get(ref))?.state, 'received', 'nothing recorded');
      const after = await worker.tick();
      assert.deepEqual(after.lost, [identityOf(0)]);
      assert.ok(!after.held.includes(identityOf(0)), 'the one-shot process still holds it');
    });
  });

  describe(`mailpoll workers (${backendName})`, () => {
    it('lists the live workers and the accounts each holds, named from the config; text and --json', async () => {
      const store = await open();
      const target = backend.target(store);
      const workers = await Promise.all([0, 1].map(() => startWorker(target, 60_000, 4)));
      const held = await tickUntilSettled(workers);
      // The config names three of the four mailboxes, and one more that no worker has in its list.
      const account = (i: number) => ({ name: `rep${i}`, protocol: 'imap', host: 'mail.test', user: `user${String(i).padStart(2, '0')}`, passwordEnv: 'REP_PASSWORD' });
      const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [account(0), account(1), account(2), account(7)] });
      const config = join(dir, 'mailpoll.config.json');
      const secrets = backend.secrets?.() ?? [];

      const text = await runCli(['workers', '-c', config, '--store', target]);
      assert.equal(text.code, 0, text.stderr);
      for (const secret of secrets) assert.ok(!text.stdout.includes(secret) && !text.stderr.includes(secret));
      const lines = text.stdout.trimEnd().split('\n');
      assert.equal(lines[0], `workers: 2 live on ${store.path}`);
      for (const [index, worker] of workers.entries()) {
        const at = lines.findIndex((line) => line.includes(`pid ${worker.pid} `) && line.includes(`(worker ${worker.id})`));
        assert.ok(at > 0, text.stdout);
        assert.match(lines[at] ?? '', / 2 accounts /);
        const shown = lines.slice(at + 1, at + 3).map((line) => line.trim());
        const expected = held[index]!.held.map((identity) => {
          const i = Number(/user(\d+)/.exec(identity)?.[1]);
          return i <= 2 ? `rep${i} (${identity})` : identity;
        });
        assert.deepEqual(shown, expected);
      }
      assert.deepEqual(lines.slice(-2), ['not held: 1 account', '      rep7 (imap://user07@mail.test/INBOX)']);

      const json = await runCli(['workers', '-c', config, '--store', target, '--json']);
      assert.equal(json.code, 0, json.stderr);
      const lineOf = (type: string) => json.events.filter((event) => event.type === type);
      assert.deepEqual(
        lineOf('worker').map((event) => [event.id, event.pid, (event.accounts as Array<{ identity: string }>).map((one) => one.identity)]).sort(),
        workers.map((worker, index) => [worker.id, worker.pid, held[index]!.held]).sort(),
      );
      const summary = lineOf('workers')[0];
      assert.equal(summary?.live, 2);
      assert.equal(summary?.store, store.path);
      assert.deepEqual(summary?.unheld, [{ name: 'rep7', identity: 'imap://user07@mail.test/INBOX' }]);
      for (const secret of secrets) assert.ok(!json.stdout.includes(secret));

      await workers[0]!.send('deregister');
      const one = await runCli(['workers', '--store', target]);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /^workers: 1 live on /);
      assert.ok(!one.stdout.includes(workers[0]!.id) && one.stdout.includes(workers[1]!.id));
      assert.ok(!one.stdout.includes('not held'), 'without a config, nothing is known of unheld accounts');
    });
  });
}
