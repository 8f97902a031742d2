/**
 * `accountsTable: true`: accounts an application writes into the PostgreSQL store's table with
 * plain SQL, read by `run`, `validate` and `--watch` workers. Real CLI child processes, the
 * private Dovecot (one user per account) and the private PostgreSQL; the handler log
 * ($HANDLER_LOG) says which messages were handed over.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli, startCli, writeConfig, type LiveCli } from './helpers/cli.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { usePostgres } from './helpers/use-postgres.js';
import { message } from './helpers/dovecot.js';
import { handlerCalls, scenario, SPEC_HANDLER, type Credentials } from './helpers/scenario.js';

const dovecot = useDovecot();
const postgres = usePostgres();
const world = scenario(dovecot);

/** Short enough for a test, long enough for a loaded machine to beat in time. */
const LEASE_TTL_MS = 3_000;

interface Setup {
  dir: string;
  log: string;
  url: string;
  /** The passwords the rows name by `passwordEnv`. */
  env: Record<string, string>;
}

/** A config that reads the table (and has `accounts` of its own only when given), on a fresh database whose schema a first run created. */
async function setUp(top: Record<string, unknown> = {}): Promise<Setup> {
  const url = await postgres.createDatabase();
  const dir = await writeConfig({ store: url, script: SPEC_HANDLER, accountsTable: true, leaseTtl: `${LEASE_TTL_MS}ms`, ...top });
  const setup = { dir, log: join(dir, 'calls.ndjson'), url, env: {} };
  // An empty table and no accounts in the file: nothing to do, and the schema is there.
  const first = await run(setup, ['--json']);
  assert.equal(first.code, 0, first.stderr);
  return setup;
}

function run(setup: Setup, args: string[]) {
  return runCli(args, { cwd: setup.dir, env: { HANDLER_LOG: setup.log, ...setup.env } });
}

/** What an application writes: the account's keys, its password named by an environment variable. */
function rowOf(setup: Setup, creds: Credentials, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { password, name: _name, ...keys } = world.imapAccount(creds, extra);
  const variable = `PW_${name.toUpperCase()}`;
  setup.env[variable] = String(password);
  return { ...keys, passwordEnv: variable };
}

function sql<Row extends Record<string, unknown>>(setup: Setup, text: string, values: unknown[] = []): Promise<Row[]> {
  return postgres.query<Row>(text, values, new URL(setup.url).pathname.slice(1));
}

function insert(setup: Setup, name: string, account: Record<string, unknown>): Promise<unknown> {
  return sql(setup, 'INSERT INTO mailpoll.accounts (name, account) VALUES ($1, $2::jsonb)', [name, JSON.stringify(account)]);
}

async function subjectsHandled(setup: Setup): Promise<string[]> {
  return (await handlerCalls(setup.log)).map((call) => String(call.subject)).sort();
}

/** Poll `check` until it holds. */
async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('accounts from the store\'s table', () => {
  test('run: accounts only in the table are polled and their mail handled', async () => {
    const setup = await setUp();
    const ann = await world.mailbox(['[0] "keep"', '[1] "keep"']);
    const bob = await world.mailbox(['[0] "delete"']);
    await insert(setup, 'ann', rowOf(setup, ann, 'ann'));
    await insert(setup, 'bob', rowOf(setup, bob, 'bob'));

    // A dry run reads the table too (and hands nothing over for real).
    const dry = await runCli(['--dry-run', '--json'], { cwd: setup.dir, env: setup.env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(dry.events.filter((event) => event.type === 'account').map((event) => event.account), ['ann', 'bob']);

    const result = await run(setup, ['--json']);
    assert.equal(result.code, 0, result.stderr);
    const accounts = result.events.filter((event) => event.type === 'account');
    assert.deepEqual(accounts.map((event) => [event.account, event.status, event.processed]), [['ann', 'ok', 2], ['bob', 'ok', 1]]);
    assert.deepEqual(await subjectsHandled(setup), ['[0] "delete"', '[0] "keep"', '[1] "keep"']);
    assert.deepEqual(await world.state(bob.user), [], 'bob\'s message deleted on the server');
    // The passwords came from the environment the rows name, and are not shown.
    assert.ok(!result.stdout.includes(setup.env.PW_ANN!) && !result.stderr.includes(setup.env.PW_ANN!));

    const validated = await run(setup, ['validate']);
    assert.equal(validated.code, 0, validated.stderr);
    assert.match(validated.stderr, /ok \(2 of 2 accounts selected\)/);
  });

  test('a bad row is reported as that account\'s problem while the other accounts are handled', async () => {
    const setup = await setUp();
    const good = await world.mailbox(['[0] "keep"']);
    const other = await world.mailbox(['[0] "keep"']);
    await insert(setup, 'good', rowOf(setup, good, 'good'));
    await insert(setup, 'typo', { ...rowOf(setup, other, 'typo'), protocol: 'imapx' });
    await insert(setup, 'unset', { ...rowOf(setup, other, 'unset'), passwordEnv: 'PW_NOT_SET_ANYWHERE' });

    const result = await run(setup, ['--json']);
    assert.equal(result.code, 3, result.stderr);
    const byName = new Map(result.events.filter((event) => event.type === 'account').map((event) => [event.account, event]));
    assert.equal(byName.get('good')?.status, 'ok');
    assert.equal(byName.get('good')?.processed, 1);
    assert.equal(byName.get('typo')?.status, 'error');
    assert.equal(byName.get('typo')?.code, 'E_CONFIG');
    assert.match(String(byName.get('typo')?.error), /^typo: accountsTable\.typo\.protocol: expected one of imap, pop3, maildir, got "imapx"/);
    assert.match(String(byName.get('unset')?.error), /^unset: accountsTable\.unset\.passwordEnv: environment variable PW_NOT_SET_ANYWHERE is not set/);
    const summary = result.events.find((event) => event.type === 'summary');
    assert.equal(summary?.accountsFailed, 2);
    assert.deepEqual(await subjectsHandled(setup), ['[0] "keep"']);

    // Text output names the account, the key and what is expected.
    const text = await run(setup, []);
    assert.equal(text.code, 3);
    assert.match(text.stdout + text.stderr, /typo: accountsTable\.typo\.protocol: expected one of imap, pop3, maildir/);

    const validated = await run(setup, ['validate']);
    assert.equal(validated.code, 2);
    assert.match(validated.stderr, /^accountsTable\.typo\.protocol: expected one of imap, pop3, maildir, got "imapx"/m);
    assert.match(validated.stderr, /^accountsTable\.unset\.passwordEnv: environment variable PW_NOT_SET_ANYWHERE is not set/m);
    assert.match(validated.stderr, /2 accounts table problems/);

    // check logs in to the good one and fails on the refused ones.
    const checked = await run(setup, ['check', '--json']);
    assert.equal(checked.code, 3, checked.stderr);
    assert.deepEqual(checked.events.filter((event) => event.type === 'check').map((event) => [event.account, event.status]), [['good', 'ok']]);
    assert.match(checked.stderr, /^typo: accountsTable\.typo\.protocol: expected one of/m);
  });

  test('a name used by the file and the table is refused, naming both places', async () => {
    const file = await world.mailbox(['[0] "keep"']);
    const setup = await setUp({ accounts: [world.imapAccount(file, { name: 'shared' })] });
    const row = await world.mailbox(['[0] "keep"']);
    await insert(setup, 'shared', rowOf(setup, row, 'shared'));

    const validated = await run(setup, ['validate']);
    assert.equal(validated.code, 2);
    assert.match(validated.stderr, /accountsTable\.shared: "shared" is also the name of accounts\[0\] in mailpoll\.config\.json; names must be unique across the file and the table/);

    const result = await run(setup, ['--json']);
    assert.equal(result.code, 3, result.stderr);
    const refused = result.events.filter((event) => event.type === 'account' && event.status === 'error');
    assert.equal(refused.length, 1);
    assert.match(String(refused[0]?.error), /is also the name of accounts\[0\]/);
    // The file's account still ran; the row's mailbox was not touched.
    assert.equal((await handlerCalls(setup.log)).length, 1);
  });

  test('a SQLite store: accountsTable is refused with exit 2, before anything is read', async () => {
    const dir = await writeConfig({ store: './mailpoll.db', script: SPEC_HANDLER, accountsTable: true });
    const result = await runCli(['run'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /mailpoll\.config\.json: accountsTable: expected a PostgreSQL store \(store: postgres:\/\/\.\.\., --store URL or MAILPOLL_STORE\)/);
    // Without the table, the file needs accounts.
    const without = await writeConfig({ store: './mailpoll.db', script: SPEC_HANDLER });
    const refused = await runCli(['validate'], { cwd: without });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /accounts: is required \(or accountsTable: true/);
  });
});

describe('a --watch worker follows the table', () => {
  function startWorker(setup: Setup): LiveCli {
    return startCli(['--watch', '--json'], { cwd: setup.dir, env: { HANDLER_LOG: setup.log, ...setup.env }, timeoutMs: 280_000 });
  }

  async function heldBy(setup: Setup): Promise<string[]> {
    const listed = await run(setup, ['workers', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const workers = listed.events.filter((event) => event.type === 'worker') as Array<{ accounts: Array<{ name: string }> }>;
    return workers.flatMap((worker) => worker.accounts.map((account) => account.name)).sort();
  }

  test('a row inserted is polled, a row deleted stops and is handed back, a row updated takes effect', async () => {
    const setup = await setUp();
    const first = await world.mailbox(['[0] "keep"']);
    const second = await world.mailbox(['[0] "keep"']);
    const third = await world.mailbox(['[0] undefined']);
    await insert(setup, 'first', { ...rowOf(setup, first, 'first'), interval: '1s' });
    // Known to the worker's environment before it starts, inserted while it runs.
    const secondRow = { ...rowOf(setup, second, 'second'), interval: '1s' };
    const thirdRow = { ...rowOf(setup, third, 'third'), interval: '1s', after: 'keep' };
    const worker = startWorker(setup);
    try {
      await worker.waitFor((event) => event.type === 'worker' && event.state === 'started', 'the worker start', 60_000);
      await eventually(async () => (await handlerCalls(setup.log)).length === 1, 'the first account\'s mail');

      // Inserted: claimed and polled within about a heartbeat.
      await insert(setup, 'second', secondRow);
      await insert(setup, 'third', thirdRow);
      await eventually(async () => (await handlerCalls(setup.log)).length === 3, 'the new accounts\' mail');
      assert.deepEqual(await heldBy(setup), ['first', 'second', 'third']);

      // Deleted: handed back, and no longer polled.
      await sql(setup, "DELETE FROM mailpoll.accounts WHERE name = 'first'");
      await worker.waitFor((event) => event.type === 'worker' && event.state === 'released' && event.account === 'first', 'the deleted account handed back');
      assert.deepEqual(await heldBy(setup), ['second', 'third']);
      const leases = await sql<{ n: string }>(setup, "SELECT count(*)::text AS n FROM mailpoll.leases WHERE identity LIKE $1", [`%${first.user}%`]);
      assert.equal(leases[0]?.n, '0', 'its lease released');

      // A SIGHUP (the file unchanged, it has no accounts): the line counts the table's accounts.
      worker.signal('SIGHUP');
      const reloaded = await worker.waitFor((event) => event.type === 'watch' && event.state === 'reloaded', 'the reload');
      assert.equal(reloaded.accounts, 2, 'the two rows left in the table');

      // Updated: `after: keep` becomes `delete`, for the messages that come after.
      await sql(setup, "UPDATE mailpoll.accounts SET account = account || '{\"after\": \"delete\"}'::jsonb WHERE name = 'third'");
      await worker.waitFor((event) => event.type === 'worker' && event.state === 'changed' && event.account === 'third', 'the changed account restarted');
      await dovecot.deliver(third.user, message({ subject: '[1] undefined', messageId: `<late.${third.user}@test>` }));
      await dovecot.deliver(first.user, message({ subject: '[1] "keep"', messageId: `<late.${first.user}@test>` }));
      await eventually(async () => (await world.state(third.user)).length === 1, 'the new message of the updated account deleted');
      // A few heartbeats more: the deleted account's new mail stays unhandled.
      await new Promise((resolve) => setTimeout(resolve, LEASE_TTL_MS));
    } finally {
      worker.signal('SIGTERM');
    }
    const result = await worker.exited;
    assert.equal(result.code, 0, result.stderr);
    const subjects = await subjectsHandled(setup);
    assert.deepEqual(subjects, ['[0] "keep"', '[0] "keep"', '[0] undefined', '[1] undefined']);
    // The updated account kept its first message (`after: keep` then) and deleted the next one.
    assert.deepEqual((await world.state(third.user)).map((stored) => stored.subject), ['[0] undefined']);
    assert.equal((await world.state(first.user)).length, 2, 'the deleted account\'s mailbox untouched');
  });

  test('the table unreadable on a heartbeat: said once, the last list read stays in use', async () => {
    const setup = await setUp();
    const only = await world.mailbox(['[0] "keep"']);
    await insert(setup, 'only', { ...rowOf(setup, only, 'only'), interval: '1s' });
    // Its password in the worker's environment from the start; inserted later.
    const later = await world.mailbox(['[0] "keep"']);
    const laterRow = { ...rowOf(setup, later, 'later'), interval: '1s' };
    const worker = startWorker(setup);
    try {
      await worker.waitFor((event) => event.type === 'worker' && event.state === 'started', 'the worker start', 60_000);
      // The revision is what a worker reads on every heartbeat: take it away for a while.
      await sql(setup, 'ALTER TABLE mailpoll.accounts_revision RENAME TO accounts_revision_away');
      const said = await worker.waitFor((event) => event.type === 'worker' && event.state === 'unreachable', 'the unreadable table said');
      assert.match(String(said.reason), /^reading the accounts: .*; working on with the last list read$/);
      await dovecot.deliver(only.user, message({ subject: '[1] "keep"', messageId: `<late.${only.user}@test>` }));
      await eventually(async () => (await handlerCalls(setup.log)).length === 2, 'the account still polled');
      // Several heartbeats while it stays away.
      await new Promise((resolve) => setTimeout(resolve, LEASE_TTL_MS));
      await sql(setup, 'ALTER TABLE mailpoll.accounts_revision_away RENAME TO accounts_revision');
      // Read again once it is back: a row inserted now is polled.
      await insert(setup, 'later', laterRow);
      await worker.waitFor((event) => event.type === 'worker' && event.state === 'took' && event.account === 'later', 'the new row claimed');
    } finally {
      worker.signal('SIGTERM');
    }
    const result = await worker.exited;
    assert.equal(result.code, 0, result.stderr);
    const unreachable = result.events.filter((event) => event.type === 'worker' && event.state === 'unreachable');
    assert.equal(unreachable.length, 1, 'said once');
    assert.deepEqual(result.events.filter((event) => event.type === 'worker' && event.state === 'released'), [], 'nothing handed back meanwhile');
  });

  test('a bad row inserted while running is said and left alone, the others go on', async () => {
    const setup = await setUp();
    const good = await world.mailbox(['[0] "keep"']);
    await insert(setup, 'good', { ...rowOf(setup, good, 'good'), interval: '1s' });
    const worker = startWorker(setup);
    try {
      await worker.waitFor((event) => event.type === 'worker' && event.state === 'started', 'the worker start', 60_000);
      await sql(setup, 'INSERT INTO mailpoll.accounts (name, account) VALUES ($1, $2::jsonb)', ['broken', JSON.stringify({ protocol: 'imap', host: '127.0.0.1' })]);
      const refused = await worker.waitFor((event) => event.type === 'worker' && event.state === 'refused', 'the bad row said');
      assert.equal(refused.account, 'broken');
      assert.match(String(refused.reason), /accountsTable\.broken\.user: is required for imap/);
      await dovecot.deliver(good.user, message({ subject: '[1] "keep"', messageId: `<late.${good.user}@test>` }));
      await eventually(async () => (await handlerCalls(setup.log)).length === 2, 'the good account still polled');
    } finally {
      worker.signal('SIGTERM');
    }
    assert.equal((await worker.exited).code, 0);
  });
});

describe('SIGHUP to a worker', () => {
  test('accounts whose settings did not change keep running and keep their leases; a changed one restarts with its new settings', async () => {
    const url = await postgres.createDatabase();
    const steady = await world.mailbox(['[0] "keep"']);
    const edited = await world.mailbox(['[0] undefined']);
    const config = (after: string) => ({
      store: url,
      script: SPEC_HANDLER,
      leaseTtl: `${LEASE_TTL_MS}ms`,
      accounts: [world.imapAccount(steady, { name: 'steady', interval: '1s' }), world.imapAccount(edited, { name: 'edited', interval: '1s', after })],
    });
    const dir = await writeConfig(config('keep'));
    const log = join(dir, 'calls.ndjson');
    const worker = startCli(['--watch', '--json'], { cwd: dir, env: { HANDLER_LOG: log }, timeoutMs: 280_000 });
    let registered: unknown;
    try {
      const started = await worker.waitFor((event) => event.type === 'worker' && event.state === 'started', 'the worker start', 60_000);
      registered = started.worker;
      await eventually(async () => (await handlerCalls(log)).length === 2, 'both accounts\' mail');
      await writeConfig(config('delete'), dir);
      worker.signal('SIGHUP');
      await worker.waitFor((event) => event.type === 'watch' && event.state === 'reloaded', 'the reload');
      await worker.waitFor((event) => event.type === 'worker' && event.state === 'changed' && event.account === 'edited', 'the edited account restarted');
      await dovecot.deliver(edited.user, message({ subject: '[1] undefined', messageId: `<late.${edited.user}@test>` }));
      await eventually(async () => (await world.state(edited.user)).length === 1, 'the edited account\'s new message deleted');
    } finally {
      worker.signal('SIGTERM');
    }
    const result = await worker.exited;
    assert.equal(result.code, 0, result.stderr);
    const workerEvents = result.events.filter((event) => event.type === 'worker');
    // One registration, nothing handed back or taken again before the stop.
    assert.deepEqual([...new Set(workerEvents.map((event) => event.worker))], [registered]);
    assert.deepEqual(workerEvents.filter((event) => event.state === 'released' || event.state === 'took'), []);
    assert.deepEqual(workerEvents.filter((event) => event.state === 'changed').map((event) => event.account), ['edited']);
  });
});
