/**
 * `mailpoll --watch` processes on one PostgreSQL store are workers that split the accounts:
 * real CLI child processes, the private Dovecot (one user per account), the private PostgreSQL.
 * The handler log ($HANDLER_LOG, shared by every worker) says how often each message was handed
 * over; the workers' own `worker` events say what each holds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli, startCli, writeConfig, type LiveCli } from './helpers/cli.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { usePostgres } from './helpers/use-postgres.js';
import { handlerCalls, scenario, SPEC_HANDLER } from './helpers/scenario.js';
import { join } from 'node:path';

const dovecot = useDovecot();
const postgres = usePostgres();
const world = scenario(dovecot);

/** Short enough for a test, long enough for a loaded machine to beat in time. */
const LEASE_TTL_MS = 3_000;

interface Fleet {
  dir: string;
  log: string;
  url: string;
  names: string[];
  total: number;
}

/** `accounts` Dovecot users of `messages` messages each, one config on a fresh database. */
async function setUp(accounts: number, messages: number, subject = '"keep"'): Promise<Fleet> {
  const url = await postgres.createDatabase();
  const list: Array<Record<string, unknown>> = [];
  for (let index = 0; index < accounts; index += 1) {
    const creds = await world.mailbox(Array.from({ length: messages }, (_, n) => `[${n}] ${subject}`));
    list.push(world.imapAccount(creds, { name: `a${index}`, interval: '1s' }));
  }
  const dir = await writeConfig({ store: url, script: SPEC_HANDLER, leaseTtl: `${LEASE_TTL_MS}ms`, maxConnections: 8, accounts: list });
  return { dir, log: join(dir, 'calls.ndjson'), url, names: list.map((account) => String(account.name)), total: accounts * messages };
}

function startWorker(fleet: Fleet, env: Record<string, string> = {}): LiveCli {
  return startCli(['--watch', '--json'], { cwd: fleet.dir, env: { HANDLER_LOG: fleet.log, ...env }, timeoutMs: 280_000 });
}

/** Poll `check` until it holds. */
async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 120_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What each worker holds now, by its last `worker` event. */
function heldNow(worker: LiveCli): number {
  const last = worker.events.filter((event) => event.type === 'worker').at(-1);
  return last === undefined ? 0 : Number(last.held);
}

/** How often each message id was handed to the handler. */
async function handovers(fleet: Fleet): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const call of await handlerCalls(fleet.log)) counts.set(String(call.messageId), (counts.get(String(call.messageId)) ?? 0) + 1);
  return counts;
}

async function stopAll(workers: LiveCli[]): Promise<void> {
  for (const worker of workers) worker.signal('SIGTERM');
  for (const worker of workers) {
    const result = await worker.exited;
    assert.equal(result.code, 0, result.stderr);
  }
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
});
