/**
 * `mailpoll --watch` workers as CLI processes on one store (a SQLite file or a PostgreSQL
 * database) and the private Dovecot, one user per account: the set-up, the workers, and what
 * the tests read back. The handler log ($HANDLER_LOG, shared by every worker) says how often
 * each message was handed over; the workers' own `worker` events say what each holds.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, startCli, writeConfig, type LiveCli } from './cli.js';
import { handlerCalls, SPEC_HANDLER, type scenario } from './scenario.js';

/** Short enough for a test, long enough for a loaded machine to beat in time. */
export const LEASE_TTL_MS = 3_000;

export interface Fleet {
  dir: string;
  log: string;
  /** The store every worker uses: a SQLite path or a postgres:// URL. */
  store: string;
  names: string[];
  total: number;
}

export interface FleetOptions {
  /** The subject of every message (the spec handler's instruction). Default `"keep"`. */
  subject?: string;
  /** More top-level config keys. */
  top?: Record<string, unknown>;
}

/** `accounts` Dovecot users of `messages` messages each, one config naming `store`. */
export async function setUpFleet(world: ReturnType<typeof scenario>, store: string, accounts: number, messages: number, options: FleetOptions = {}): Promise<Fleet> {
  const list: Array<Record<string, unknown>> = [];
  for (let index = 0; index < accounts; index += 1) {
    const creds = await world.mailbox(Array.from({ length: messages }, (_, n) => `[${n}] ${options.subject ?? '"keep"'}`));
    list.push(world.imapAccount(creds, { name: `a${index}`, interval: '1s' }));
  }
  const dir = await writeConfig({ store, script: SPEC_HANDLER, leaseTtl: `${LEASE_TTL_MS}ms`, maxConnections: 8, accounts: list, ...options.top });
  return { dir, log: join(dir, 'calls.ndjson'), store, names: list.map((account) => String(account.name)), total: accounts * messages };
}

export function startFleetWorker(fleet: Fleet, env: Record<string, string> = {}): LiveCli {
  return startCli(['--watch', '--json'], { cwd: fleet.dir, env: { HANDLER_LOG: fleet.log, ...env }, timeoutMs: 280_000 });
}

/** Poll `check` until it holds. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What each worker holds now, by its last `worker` event. */
export function heldNow(worker: LiveCli): number {
  const last = worker.events.filter((event) => event.type === 'worker').at(-1);
  return last === undefined ? 0 : Number(last.held);
}

/** How often each message id was handed to the handler. */
export async function handovers(fleet: Fleet): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const call of await handlerCalls(fleet.log)) counts.set(String(call.messageId), (counts.get(String(call.messageId)) ?? 0) + 1);
  return counts;
}

/** SIGTERM to every worker; each must exit 0. */
export async function stopAll(workers: LiveCli[]): Promise<void> {
  for (const worker of workers) worker.signal('SIGTERM');
  for (const worker of workers) {
    const result = await worker.exited;
    assert.equal(result.code, 0, result.stderr);
  }
}

export interface ListedWorker {
  id: string;
  accounts: Array<{ name: string }>;
}

/** The live workers, from `mailpoll workers --json`. */
export async function listFleetWorkers(fleet: Fleet): Promise<ListedWorker[]> {
  const listed = await runCli(['workers', '--json'], { cwd: fleet.dir });
  assert.equal(listed.code, 0, listed.stderr);
  return listed.events.filter((event) => event.type === 'worker') as unknown as ListedWorker[];
}

/**
 * After `worker` (its id) was killed: waits until every account of `held` is held by another
 * live worker, and says how long that took after `killedAt` (ms).
 */
export async function waitForTakeover(fleet: Fleet, worker: string, held: readonly string[], killedAt: number): Promise<number> {
  await eventually(async () => {
    const live = (await listFleetWorkers(fleet)).filter((one) => one.id !== worker);
    const heldNow = new Set(live.flatMap((one) => one.accounts.map((account) => account.name)));
    return held.every((name) => heldNow.has(name));
  }, "the killed worker's accounts taken over");
  return Date.now() - killedAt;
}

/** A one-shot run beside a worker holding the fleet's only account: it reports the account busy, and the message is handled once. */
export async function assertOneShotSeesBusy(fleet: Fleet): Promise<void> {
  const worker = startFleetWorker(fleet);
  try {
    await worker.waitFor((event) => event.type === 'worker' && event.state === 'started' && event.held === 1, 'the worker holding the account', 60_000);
    const run = await runCli(['--json'], { cwd: fleet.dir, env: { HANDLER_LOG: fleet.log } });
    assert.equal(run.code, 0, run.stderr);
    const account = run.events.find((event) => event.type === 'account');
    assert.equal(account?.status, 'busy', run.stdout);
    await eventually(async () => (await handovers(fleet)).size >= 1, 'the worker handling the message');
  } finally {
    await stopAll([worker]);
  }
  assert.equal((await handovers(fleet)).size, 1);
}
