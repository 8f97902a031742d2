/**
 * The PostgreSQL store against a real PostgreSQL (a private cluster, test/helpers/postgres.ts):
 * the whole store contract, then what only this store has: migrations under an advisory lock,
 * fencing by growing tokens, a server restarted under an open store, the password in its URL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StoreError } from '../src/errors.js';
import { LeaseLostError } from '../src/store/contract.js';
import type { AsyncStore } from '../src/store/contract.js';
import { type OpenPostgresStoreOptions, openPostgresStore, refuseOldServer } from '../src/store/postgres/open.js';
import { Connection } from '../src/store/postgres/connection.js';
import { migratePostgres, POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from '../src/store/postgres/schema.js';
import { maskStoreUrl } from '../src/store/postgres/store-url.js';
import { ARCHIVE_CHUNK_BYTES } from '../src/store/postgres/archive.js';
import { assertStoreError, bytes, decide, describeStoreContract, manualClock, message, startStoreChild } from './helpers/store-contract.js';
import { usePostgres } from './helpers/use-postgres.js';

const postgres = usePostgres();

/** The URL each store was opened on (its `path` has the password masked). */
const urls = new Map<AsyncStore, string>();
const opened: AsyncStore[] = [];
after(async () => {
  for (const store of opened) await store.close();
});

async function openOn(url: string, options: OpenPostgresStoreOptions = {}): Promise<AsyncStore> {
  const store = await openPostgresStore(url, options);
  urls.set(store, url);
  opened.push(store);
  return store;
}

function urlOf(store: AsyncStore): string {
  const url = urls.get(store);
  assert.ok(url !== undefined, 'a store opened by this file');
  return url;
}

describeStoreContract('postgres', {
  open: async (options) => openOn(await postgres.createDatabase(), options),
  reopen: (store, options) => openOn(urlOf(store), options),
  target: urlOf,
});

/** The rows of `sql` in the store's database, as the superuser. */
function query<Row extends Record<string, unknown>>(url: string, sql: string, values: unknown[] = []): Promise<Row[]> {
  return postgres.query<Row>(sql, values, new URL(url).pathname.slice(1));
}

describe('postgres: schema and migrations', () => {
  it('refuses a server older than PostgreSQL 13 by its version, and lets 13 and newer through', () => {
    const url = 'postgres://app@db.example:5432/mail';
    assert.throws(() => refuseOldServer(url, 120_017), (error: unknown) => error instanceof StoreError && error.message === `store ${url}: PostgreSQL 12 is too old; mailpoll needs PostgreSQL 13 or newer`);
    assert.throws(() => refuseOldServer(url, 90_624), /PostgreSQL 9\.6 is too old/);
    for (const version of [130_000, 150_010, 170_002]) refuseOldServer(url, version);
  });

  it('creates the mailpoll schema on first use, and a second open migrates nothing', async () => {
    const url = await postgres.createDatabase();
    const store = await openOn(url);
    assert.equal(store.path, maskStoreUrl(url));
    assert.ok(!store.path.includes(postgres.password));
    const versions = await query<{ version: number; applied_at: Date }>(url, 'SELECT version, applied_at FROM mailpoll.schema_migrations ORDER BY version');
    assert.deepEqual(versions.map((row) => row.version), POSTGRES_MIGRATIONS.map((migration) => migration.version));
    const tables = await query<{ tablename: string }>(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'mailpoll' ORDER BY tablename");
    assert.deepEqual(tables.map((row) => row.tablename), [
      'accounts',
      'accounts_revision',
      'archive',
      'archive_chunks',
      'baselines',
      'leases',
      'messages',
      'run_accounts',
      'runs',
      'schema_migrations',
      'workers',
    ]);
    await openOn(url);
    assert.deepEqual(await query(url, 'SELECT version, applied_at FROM mailpoll.schema_migrations ORDER BY version'), versions);
  });

  it('three processes migrating an empty database at the same moment all succeed, and it is migrated once', async () => {
    const url = await postgres.createDatabase();
    const children = [startStoreChild(url), startStoreChild(url), startStoreChild(url)];
    assert.deepEqual(await Promise.all(children.map((child) => child.line())), ['ready', 'ready', 'ready']);
    await Promise.all(children.map((child) => child.exit()));
    const versions = await query<{ version: number }>(url, 'SELECT version FROM mailpoll.schema_migrations ORDER BY version');
    assert.deepEqual(versions.map((row) => row.version), POSTGRES_MIGRATIONS.map((migration) => migration.version));
  });

  it('two pools applying a later migration at once: one applies it, the other waits and finds it done', async () => {
    const url = await postgres.createDatabase();
    await openOn(url);
    const next = [
      ...POSTGRES_MIGRATIONS,
      { version: POSTGRES_SCHEMA_VERSION + 1, description: 'test', sql: 'CREATE TABLE mailpoll.test_only (id integer); SELECT pg_sleep(0.2);' },
    ];
    const pg = (await import('pg')).default;
    const connections = [new Connection(new pg.Pool({ connectionString: url })), new Connection(new pg.Pool({ connectionString: url }))];
    try {
      const applied = await Promise.all(connections.map((connection) => migratePostgres(connection, next)));
      assert.deepEqual(applied.flat(), [POSTGRES_SCHEMA_VERSION + 1], JSON.stringify(applied));
    } finally {
      await Promise.all(connections.map((connection) => connection.close()));
    }
    await assertStoreError(
      () => openPostgresStore(url),
      `store ${maskStoreUrl(url)} was written by a newer mailpoll`,
      `store version ${POSTGRES_SCHEMA_VERSION + 1}`,
      `knows up to ${POSTGRES_SCHEMA_VERSION}`,
      'Upgrade mailpoll',
    );
    assert.equal((await query(url, 'SELECT 1 FROM mailpoll.test_only')).length, 0, 'the newer schema is left as it was');
  });

  it("refuses a schema named mailpoll that is not mailpoll's, and changes nothing", async () => {
    const url = await postgres.createDatabase();
    await query(url, 'CREATE SCHEMA mailpoll');
    await query(url, 'CREATE TABLE mailpoll.contacts (name text)');
    await assertStoreError(() => openPostgresStore(url), 'is not a mailpoll store', 'mailpoll never changes it');
    const tables = await query<{ tablename: string }>(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'mailpoll'");
    assert.deepEqual(tables.map((row) => row.tablename), ['contacts']);
  });

  it('read-only: an empty database is refused without creating anything; a current one reads, and refuses writes', async () => {
    const url = await postgres.createDatabase();
    await assertStoreError(() => openPostgresStore(url, { readOnly: true }), 'empty, no message recorded yet');
    assert.deepEqual(await query(url, "SELECT 1 FROM pg_namespace WHERE nspname = 'mailpoll'"), []);
    const writer = await openOn(url);
    const runId = await writer.beginRun({ pid: 1, command: 'run', dryRun: false });
    const ref = (await writer.recordReceived(runId, [message('1')], { archive: true })).get('1') ?? -1;
    const reader = await openOn(url, { readOnly: true });
    assert.equal((await reader.get(ref))?.uid, '1');
    assert.ok(await reader.raw(ref));
    await assertStoreError(() => reader.beginRun({ pid: 1, command: 'run', dryRun: false }), 'read-only');
  });
});

describe('postgres: raw copies', () => {
  it('a large copy is stored in pieces of at most 1 MiB and read back whole', async () => {
    const url = await postgres.createDatabase();
    const store = await openOn(url);
    const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
    const big = bytes(5 * ARCHIVE_CHUNK_BYTES + 17, 3);
    const ref = (await store.recordReceived(runId, [message('big', { raw: big }), message('small')], { archive: true })).get('big') ?? -1;
    const pieces = await query<{ seq: number; bytes: number }>(url, 'SELECT seq, length(data) AS bytes FROM mailpoll.archive_chunks WHERE ref = $1 ORDER BY seq', [ref]);
    assert.deepEqual(pieces.map((piece) => piece.seq), [0, 1, 2, 3, 4, 5]);
    assert.ok(pieces.every((piece) => piece.bytes <= ARCHIVE_CHUNK_BYTES));
    assert.deepEqual(await query(url, 'SELECT bytes FROM mailpoll.archive WHERE ref = $1', [ref]), [{ bytes: big.length }]);
    assert.ok((await store.raw(ref))?.equals(big));
    await query(url, 'DELETE FROM mailpoll.archive_chunks WHERE ref = $1 AND seq = 5', [ref]);
    await assertStoreError(() => store.raw(ref), `the raw copy of ref ${ref} is incomplete`);
  });

  it('text PostgreSQL cannot hold (a NUL from a hostile header) is kept with U+FFFD in its place', async () => {
    const store = await openOn(await postgres.createDatabase());
    const runId = await store.beginRun({ pid: 1, command: 'run\0', dryRun: false });
    const received = { ...message('1', { subject: 'a\0b' }), meta: { ...message('1').meta, subject: 'a\0b', sender: '\0' } };
    const ref = (await store.recordReceived(runId, [received], { archive: true })).get('1') ?? -1;
    assert.deepEqual([(await store.get(ref))?.subject, (await store.get(ref))?.sender], ['a\uFFFDb', '\uFFFD']);
    await store.recordFailed(ref, 'boom\0', 3, 'at\0x');
    assert.deepEqual([(await store.get(ref))?.lastError, (await store.get(ref))?.lastErrorDetail], ['boom\uFFFD', 'at\uFFFDx']);
  });
});

describe('postgres: fencing', () => {
  /** Two hosts on one database and one clock; A holds `support` with a lease of 60 s. */
  async function leaseTakenOver() {
    const clock = manualClock();
    const url = await postgres.createDatabase();
    const a = await openOn(url, { now: clock.now, hostname: 'host-a' });
    const b = await openOn(url, { now: clock.now, hostname: 'host-b' });
    const runId = await a.beginRun({ pid: 1, command: 'watch', dryRun: false });
    const refs = await a.recordReceived(runId, [message('1'), message('2'), message('3')], { archive: true });
    const ref = (uid: string) => refs.get(uid) ?? -1;
    const first = await a.acquireLease('support', { ttlMs: 60_000 });
    assert.ok(first.ok);
    await a.recordHandled(ref('1'), decide('delete'), first.lease);
    await a.recordHandled(ref('3'), decide('keep'), first.lease);
    await a.markDone([ref('3')], first.lease);
    // A is paused past its lease; B takes the mailbox over.
    clock.advance(60_001);
    const second = await b.acquireLease('support', { ttlMs: 60_000 });
    assert.ok(second.ok);
    return { url, a, b, ref, stale: first.lease, current: second.lease };
  }

  it('every token is larger than the one before it', async () => {
    const { stale, current } = await leaseTakenOver();
    assert.ok(BigInt(current.token) > BigInt(stale.token), `${current.token} > ${stale.token}`);
  });

  it("a fenced write after a take-over is refused (LeaseLostError) and writes nothing; the new holder's go through", async () => {
    const { url, a, b, ref, stale, current } = await leaseTakenOver();
    const snapshot = () => query(url, 'SELECT * FROM mailpoll.messages ORDER BY ref');
    const before = await snapshot();
    const refused = [
      () => a.recordHandled(ref('2'), decide('delete'), stale),
      () => a.recordFailed(ref('2'), 'boom', 3, 'stack', stale),
      () => a.recordTemporaryFailure(ref('2'), 'busy', undefined, stale),
      () => a.recordActionFailed(ref('1'), 'refused', 3, stale),
      () => a.markDone([ref('1')], stale),
      () => a.markExpired([ref('3')], stale),
    ];
    for (const write of refused) {
      const error = await assertStoreError(write, 'the lease on support was taken over by another process');
      assert.ok(error instanceof LeaseLostError);
      assert.equal(error.identity, 'support');
    }
    assert.deepEqual(await snapshot(), before, 'nothing written');
    assert.equal(await stale.renew(), false);

    await b.recordHandled(ref('2'), decide('keep'), current);
    await b.markDone([ref('1'), ref('2')], current);
    assert.deepEqual([(await b.get(ref('1')))?.state, (await b.get(ref('2')))?.state], ['done', 'done']);
    await assertStoreError(() => b.recordHandled(424_242, decide('keep'), current), 'no message with ref 424242');
  });

  it('a fenced write waits for a take-over in progress and then sees the new token', async () => {
    const clock = manualClock();
    const url = await postgres.createDatabase();
    const a = await openOn(url, { now: clock.now, hostname: 'host-a' });
    const runId = await a.beginRun({ pid: 1, command: 'watch', dryRun: false });
    const ref = (await a.recordReceived(runId, [message('1')], { archive: false })).get('1') ?? -1;
    const held = await a.acquireLease('support', { ttlMs: 60_000 });
    assert.ok(held.ok);
    // Another host's take-over, its transaction still open while A writes.
    const pg = (await import('pg')).default;
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query("UPDATE mailpoll.leases SET token = nextval('mailpoll.lease_tokens'), host = 'host-b' WHERE identity = 'support'");
      const write = a.recordHandled(ref, decide('delete'), held.lease);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await other.query('COMMIT');
      await assert.rejects(write, LeaseLostError);
    } finally {
      await other.end();
    }
    assert.equal((await a.get(ref))?.state, 'received');
  });
});

describe('postgres: the server goes away under an open store', () => {
  let url = '';
  before(async () => {
    url = await postgres.createDatabase();
  });

  it('calls fail with a one-line StoreError while it is down, and work again once it is back', async () => {
    const store = await openOn(url);
    const runId = await store.beginRun({ pid: 1, command: 'watch', dryRun: false });
    const ref = (await store.recordReceived(runId, [message('1')], { archive: true })).get('1') ?? -1;
    const lease = await store.acquireLease('support', { ttlMs: 600_000 });
    assert.ok(lease.ok);
    // Idle pooled connections get 57P01 now: the process must not end.
    await postgres.pause();
    try {
      const error = await assertStoreError(() => store.get(ref), `store ${maskStoreUrl(url)}:`, `127.0.0.1:${postgres.port}`);
      assert.ok(!error.message.includes(postgres.password));
      await assertStoreError(() => store.recordHandled(ref, decide('delete'), lease.lease));
      await assertStoreError(() => lease.lease.renew());
    } finally {
      await postgres.resume();
    }
    assert.equal((await store.get(ref))?.state, 'received', 'nothing was written while it was down');
    assert.equal(await lease.lease.renew(), true, 'the lease outlived the restart');
    await store.recordHandled(ref, decide('delete'), lease.lease);
    await store.markDone([ref], lease.lease);
    assert.equal((await store.get(ref))?.state, 'done');
  });

  it('a batch in flight when the server stops is recorded whole or not at all, and the process carries on', async () => {
    const store = await openOn(url);
    const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
    const batch = Array.from({ length: 40 }, (_, i) => message(`inflight-${i}`, { raw: bytes(256 * 1024, i) }));
    const outcome = store.recordReceived(runId, batch, { archive: true }).then(
      () => 'recorded',
      (error: unknown) => {
        assert.ok(error instanceof StoreError, String(error));
        assert.ok(!error.message.includes('\n') && !error.message.includes(postgres.password), error.message);
        return 'refused';
      },
    );
    await postgres.restart();
    const result = await outcome;
    const found = await store.findByUids(message('x').key, batch.map((one) => one.key.uid));
    assert.equal(found.size, result === 'recorded' ? batch.length : 0, `${result}: ${found.size} rows`);
    if (result === 'recorded') assert.ok((await store.raw(found.get('inflight-39')?.ref ?? -1))?.equals(bytes(256 * 1024, 39)));
  });

  it('a restart between two calls costs nothing but a new connection', async () => {
    const store = await openOn(url);
    assert.ok((await store.history({})).runs.length >= 1);
    await postgres.restart();
    assert.ok((await store.history({})).runs.length >= 1);
  });
});

describe('postgres: the password in the URL', () => {
  it('a wrong password: a StoreError that says so, the password masked', async () => {
    const wrong = postgres.url('postgres', { password: 'wrong-secret-4711' });
    const error = await assertStoreError(() => openPostgresStore(wrong), 'password authentication failed', 'postgres://postgres:***@127.0.0.1');
    assert.ok(!error.message.includes('wrong-secret-4711'));
  });

  it('no password anywhere: the StoreError says where one goes', async () => {
    const saved = { password: process.env.PGPASSWORD, file: process.env.PGPASSFILE };
    delete process.env.PGPASSWORD;
    process.env.PGPASSFILE = '/nonexistent/pgpass';
    try {
      await assertStoreError(() => openPostgresStore(postgres.url('postgres', { password: null })), 'asks for a password and none was given', 'PGPASSWORD');
    } finally {
      if (saved.password !== undefined) process.env.PGPASSWORD = saved.password;
      if (saved.file === undefined) delete process.env.PGPASSFILE;
      else process.env.PGPASSFILE = saved.file;
    }
  });

  it('the password from the options or PGPASSWORD; a database that does not exist; nothing prints a password', async () => {
    const url = await postgres.createDatabase();
    const bare = url.replace(`:${encodeURIComponent(postgres.password)}@`, '@');
    const store = await openOn(bare, { password: postgres.password });
    assert.equal(store.path, bare);
    const runId = await store.beginRun({ pid: 1, command: `mailpoll run --store ${url}`, dryRun: false });
    const [run] = (await store.history({})).runs;
    assert.equal(run?.id, runId);
    assert.equal(run?.command, `mailpoll run --store ${maskStoreUrl(url)}`, 'a run records its command line masked');

    process.env.PGPASSWORD = postgres.password;
    try {
      await openOn(bare);
      const missing = bare.replace(/\/[^/]+$/, '/no_such_db');
      const error = await assertStoreError(() => openPostgresStore(missing), 'database "no_such_db" does not exist', 'createdb');
      assert.ok(!error.message.includes(postgres.password));
    } finally {
      delete process.env.PGPASSWORD;
    }
    await assertStoreError(() => openPostgresStore('mysql://x@y/z'), 'not a PostgreSQL URL');
    await assertStoreError(
      () => openPostgresStore(`postgres://postgres:${postgres.password}@127.0.0.1:1/x`),
      'cannot connect to 127.0.0.1:1: connection refused',
      'postgres://postgres:***@127.0.0.1:1/x',
    );
  });
});
