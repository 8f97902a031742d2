/**
 * Workers on both stores: the worker contract (test/helpers/worker-contract.ts: in process on
 * a manual clock, worker processes of test/fixtures/store/worker-child.ts, `mailpoll workers`)
 * over SQLite files and over a real PostgreSQL (a private cluster); then what each store does
 * its own way (PostgreSQL's SKIP LOCKED, SQLite's writer lock; their migrations), and the
 * accounts table and its validation hook.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { validateTableAccounts } from '../src/config/accounts-table.js';
import { openStore } from '../src/store/open.js';
import { type OpenPostgresStoreOptions, openPostgresStore } from '../src/store/postgres/open.js';
import type { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { Connection } from '../src/store/postgres/connection.js';
import { migratePostgres, POSTGRES_MIGRATIONS } from '../src/store/postgres/schema.js';
import { APPLICATION_ID, migrations } from '../src/store/schema.js';
import { DEFAULT_LEASE_TTL_MS, fairShare, heartbeatIntervalMs } from '../src/store/workers.js';
import { describeWorkerContract, identities, identityOf, type LeaseRow, type StoreWithWorkers, withWorkers } from './helpers/worker-contract.js';
import { runCli } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';
import { usePostgres } from './helpers/use-postgres.js';

const postgres = usePostgres();
const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

const opened: PostgresStore[] = [];
after(async () => {
  for (const store of opened) await store.close();
});

async function openOn(url: string, options: OpenPostgresStoreOptions = {}): Promise<PostgresStore> {
  const store = await openPostgresStore(url, options);
  opened.push(store);
  return store;
}

/** The superuser's rows of `sql` in the database of `url`. */
function query<Row extends Record<string, unknown>>(url: string, sql: string, values: unknown[] = []): Promise<Row[]> {
  return postgres.query<Row>(sql, values, new URL(url).pathname.slice(1));
}

describe('fair share', () => {
  it('is ceil(accounts / live workers), and every account can be held', () => {
    const table: Array<[accounts: number, workers: number, share: number]> = [
      [30, 1, 30],
      [30, 3, 10],
      [30, 4, 8],
      [30, 7, 5],
      [1, 3, 1],
      [0, 3, 0],
      [5, 0, 5],
    ];
    for (const [accounts, workers, share] of table) {
      assert.equal(fairShare(accounts, workers), share, `${accounts} / ${workers}`);
      assert.ok(share * Math.max(1, workers) >= accounts);
    }
  });

  it('a heartbeat every third of the TTL: 20 s with the default 60 s', () => {
    assert.equal(heartbeatIntervalMs(DEFAULT_LEASE_TTL_MS), 20_000);
  });
});

/** The URL each PostgreSQL store was opened on (its `path` has the password masked). */
const urls = new Map<StoreWithWorkers, string>();

function urlOf(store: StoreWithWorkers): string {
  const url = urls.get(store);
  assert.ok(url !== undefined, 'a store opened by this file');
  return url;
}

describeWorkerContract('postgres', {
  async open(options) {
    const url = await postgres.createDatabase();
    const store = await openPostgresStore(url, options);
    urls.set(store, url);
    return store;
  },
  async reopen(store, options) {
    const again = await openPostgresStore(urlOf(store), options);
    urls.set(again, urlOf(store));
    return again;
  },
  target: urlOf,
  leaseRows: (store) =>
    query<{ identity: string; token: string; workerId: string | null }>(
      urlOf(store),
      'SELECT identity, token::text AS token, worker_id AS "workerId" FROM mailpoll.leases WHERE pid <> 0 ORDER BY identity',
    ),
  secrets: () => [postgres.password],
});

describeWorkerContract('sqlite', {
  open: async (options) => withWorkers(openStore(join(await makeTempDir('mailpoll-workers-'), 'mailpoll.db'), { ...options, workers: true })),
  reopen: async (store, options) => withWorkers(openStore(store.path, { ...options, workers: true })),
  target: (store) => store.path,
  leaseRows: async (store) => sqliteRows<LeaseRow>(store.path, 'SELECT identity, token, worker_id AS workerId FROM leases ORDER BY identity'),
});

/** The rows of `sql` in the SQLite file at `path`, through a connection of its own. */
function sqliteRows<Row>(path: string, sql: string): Row[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).all() as Row[];
  } finally {
    db.close();
  }
}

describe('postgres: how workers meet', () => {
  it('a claim skips a lease row another session is taking (SKIP LOCKED), without waiting for it, and then sees it taken', async () => {
    const url = await postgres.createDatabase();
    const a = await openOn(url);
    const worker = await a.workerRegistry().register();
    await worker.claim(identities(3));
    for (const lease of [...worker.held().values()]) await lease.release();
    await query(url, `INSERT INTO mailpoll.leases (identity, pid, host, token, acquired_at, expires_at) SELECT unnest($1::text[]), 0, '', 0, 0, 0`, [identities(3)]);
    const pg = (await import('pg')).default;
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(
        `UPDATE mailpoll.leases SET token = nextval('mailpoll.lease_tokens'), pid = 4242, host = 'host-c', expires_at = $2 WHERE identity = $1`,
        [identityOf(1), Number.MAX_SAFE_INTEGER],
      );
      const claim = worker.claim(identities(3));
      const outcome = await Promise.race([claim, new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 20_000))]);
      assert.notEqual(outcome, 'blocked', 'the claim waited for the other session');
      assert.deepEqual(outcome === 'blocked' ? [] : outcome.claimed.map((lease) => lease.identity), [identityOf(0), identityOf(2)]);
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    assert.equal((await worker.claim(identities(3))).claimed.length, 0, 'taken by the other session');
  });

  it('a store at version 1 with a lease in it is migrated, and the lease still excludes a worker', async () => {
    const url = await postgres.createDatabase();
    const pg = (await import('pg')).default;
    const connection = new Connection(new pg.Pool({ connectionString: url }));
    try {
      await migratePostgres(connection, POSTGRES_MIGRATIONS.slice(0, 1));
      await connection.run(
        `INSERT INTO mailpoll.leases (identity, pid, host, token, acquired_at, expires_at) VALUES ($1, 1, 'old-host', nextval('mailpoll.lease_tokens'), 0, $2)`,
        [identityOf(0), Date.now() + 600_000],
      );
    } finally {
      await connection.close();
    }
    const store = await openOn(url);
    const worker = await store.workerRegistry().register();
    assert.deepEqual((await worker.claim(identities(2))).claimed.map((lease) => lease.identity), [identityOf(1)]);
  });

});

describe('sqlite: how workers meet', () => {
  it('mailpoll workers on a file that does not exist: none live, and nothing is created', async () => {
    const path = join(await makeTempDir('mailpoll-workers-'), 'none.db');
    const result = await runCli(['workers', '--store', path]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trimEnd(), `workers: none live on ${path}`);
    assert.equal(existsSync(path), false);
  });

  it("a claim waits for another process's write transaction (the busy timeout) instead of failing, then sees what it took", async () => {
    const store = withWorkers(openStore(join(await makeTempDir('mailpoll-workers-'), 'mailpoll.db'), { workers: true }));
    try {
      const worker = await store.workerRegistry().register();
      // Another process takes user01 in a transaction it holds for a while.
      const holder = spawn(
        process.execPath,
        [
          '-e',
          `const db = new (require('better-sqlite3'))(process.argv[1], { timeout: 5000 });
           db.exec('BEGIN IMMEDIATE');
           db.prepare("INSERT INTO leases (identity, pid, host, token, acquired_at, expires_at) VALUES (?, 4242, 'host-c', 'other', 0, ?)").run(process.argv[2], Number.MAX_SAFE_INTEGER);
           console.log('locked');
           setTimeout(() => { db.exec('COMMIT'); db.close(); }, 1500);`,
          store.path,
          identityOf(1),
        ],
        { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = once(holder, 'exit');
      for await (const line of createInterface({ input: holder.stdout })) if (line === 'locked') break;
      const claimed = await worker.claim(identities(3));
      assert.deepEqual(claimed.claimed.map((lease) => lease.identity), [identityOf(0), identityOf(2)], 'user01 is the other process\'s');
      assert.deepEqual(await exited, [0, null]);
      await worker.deregister();
    } finally {
      await store.close();
    }
  });

  it('a store of schema version 6 with a lease in it is migrated: the lease still excludes workers and one-shot runs, new tokens grow', async () => {
    const dir = await makeTempDir('mailpoll-workers-');
    const path = join(dir, 'mailpoll.db');
    mkdirSync(dir, { recursive: true });
    // What mailpoll with schema version 6 left behind: a run holding user00.
    const v6 = new Database(path);
    v6.exec('PRAGMA journal_mode = WAL');
    v6.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    for (const migration of migrations.filter((entry) => entry.version <= 6)) v6.exec(migration.sql);
    v6.exec('PRAGMA user_version = 6');
    v6.prepare("INSERT INTO leases (identity, pid, host, token, acquired_at, expires_at) VALUES (?, 1, 'old-host', 'c0ffee', 0, ?)").run(identityOf(0), Date.now() + 600_000);
    v6.close();

    const store = withWorkers(openStore(path, { workers: true }));
    try {
      const worker = await store.workerRegistry().register();
      const claimed = await worker.claim(identities(2));
      assert.deepEqual(claimed.claimed.map((lease) => lease.identity), [identityOf(1)]);
      const busy = await store.acquireLease(identityOf(0), { ttlMs: 60_000 });
      assert.deepEqual(busy.ok ? 'taken' : [busy.holder.host, busy.holder.pid], ['old-host', 1]);
      const next = await store.acquireLease(identityOf(2), { ttlMs: 60_000 });
      assert.ok(next.ok);
      assert.ok(BigInt(next.lease.token) > BigInt(claimed.claimed[0]!.token), `${next.lease.token} > ${claimed.claimed[0]!.token}`);
      await worker.deregister();
    } finally {
      await store.close();
    }
  });
});

describe('the accounts table', () => {
  it('rows as config accounts; the revision moves with every write; literal secrets are refused by the table', async () => {
    const url = await postgres.createDatabase();
    const store = await openOn(url);
    const table = store.accountsTable();
    assert.deepEqual(await table.list(), { revision: 0, accounts: [] });
    await query(url, `INSERT INTO mailpoll.accounts (name, account) VALUES ('sales', $1), ('support', $2)`, [
      { protocol: 'imap', host: 'mail.test', user: 'sales', passwordEnv: 'SALES_PASSWORD' },
      { name: 'support', protocol: 'pop3', host: 'mail.test', user: 'support', passwordSecret: 'support' },
    ]);
    const first = await table.list();
    assert.ok(first.revision > 0);
    assert.deepEqual(first.accounts.map((row) => [row.name, row.account]), [
      ['sales', { protocol: 'imap', host: 'mail.test', user: 'sales', passwordEnv: 'SALES_PASSWORD' }],
      ['support', { protocol: 'pop3', host: 'mail.test', user: 'support', passwordSecret: 'support' }],
    ]);
    const sales = first.accounts[0]!;
    await query(url, `UPDATE mailpoll.accounts SET account = account || '{"folder": "Leads"}' WHERE name = 'sales'`);
    const updated = await table.get('sales');
    assert.ok(updated !== undefined && updated.version > sales.version && updated.updatedAt >= sales.updatedAt);
    assert.equal(updated.account.folder, 'Leads');
    const second = await table.revision();
    assert.ok(second > first.revision);
    await query(url, `DELETE FROM mailpoll.accounts WHERE name = 'support'`);
    assert.ok((await table.revision()) > second, 'a delete moves it too');
    assert.equal(await table.get('support'), undefined);

    for (const account of [
      { host: 'mail.test', password: 'hunter2' },
      { host: 'mail.test', oauth2: { provider: 'google', clientSecret: 'abc' } },
      { host: 'mail.test', proxy: 'socks5://me:secret@proxy.test:1080' },
      { name: 'other', host: 'mail.test' },
    ]) {
      await assert.rejects(query(url, `INSERT INTO mailpoll.accounts (name, account) VALUES ('bad', $1)`, [account]), /violates check constraint/);
    }
    assert.deepEqual((await table.list()).accounts.map((row) => row.name), ['sales']);
  });

  it('the validation hook: rows become accounts entries, problems name accountsTable.NAME.key', () => {
    const { accounts, problems } = validateTableAccounts([
      { name: 'sales', account: { protocol: 'imap', host: 'mail.test', user: 'sales', passwordEnv: 'SALES_PASSWORD' } },
      { name: 'typo', account: { protocol: 'imap', host: 'mail.test', prot: 993 } },
      { name: 'leaky', account: { protocol: 'imap', host: 'mail.test', password: 'hunter2', oauth2: { clientSecret: 'x' } } },
      { name: 'proxied', account: { protocol: 'imap', host: 'mail.test', proxy: 'socks5://me:pw@proxy.test:1080', name: 'other' } },
    ]);
    assert.deepEqual(accounts, [{ name: 'sales', protocol: 'imap', host: 'mail.test', user: 'sales', passwordEnv: 'SALES_PASSWORD' }]);
    assert.ok(problems.some((line) => line.startsWith('accountsTable.typo.prot: ')), problems.join('\n'));
    assert.ok(problems.includes('accountsTable.leaky.password: the accounts table holds no secret itself; name where it is (passwordEnv, passwordFile, passwordCommand or passwordSecret)'));
    assert.ok(problems.some((line) => line.startsWith('accountsTable.leaky.oauth2.clientSecret: the accounts table holds no secret')));
    assert.ok(problems.some((line) => line.startsWith('accountsTable.proxied.proxy: the accounts table holds no secret')));
    assert.ok(problems.includes('accountsTable.proxied.name: differs from the row\'s name "proxied"; leave it out'));
    assert.ok(!problems.join('\n').includes('hunter2') && !problems.join('\n').includes(':pw@'), 'no secret in a message');
  });
});
