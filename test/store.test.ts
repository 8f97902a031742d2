import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { StoreError } from '../src/errors.js';
import { LeaseLostError } from '../src/store/contract.js';
import { fingerprint } from '../src/store/fingerprint.js';
import { type OpenStoreOptions, openStore } from '../src/store/open.js';
import { defaultStorePath } from '../src/store/path.js';
import { APPLICATION_ID, SCHEMA_VERSION, migrations } from '../src/store/schema.js';
import type { ReceivedMessage, Store } from '../src/store/types.js';
import { DAY, T0, assertStoreError, bytes, decide, describeStoreContract, key, manualClock, message, assertOneWinsTheRace } from './helpers/store-contract.js';

/**
 * A plain better-sqlite3 connection for looking at (or preparing) a store file behind the
 * store's back. Every statement it makes, its own or pragma()'s, is kept reachable for the
 * rest of the run: better-sqlite3 12 on Node 24 aborts the process when the garbage
 * collector destroys a Statement (see CLOSED_STORES in src/store/sqlite-store.ts).
 */
const RAW_STATEMENTS: unknown[] = [];
function rawDatabase(path: string, options?: Database.Options): Database.Database {
  const db = new Database(path, options);
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    const statement = prepare(source);
    RAW_STATEMENTS.push(statement);
    return statement;
  }) as typeof db.prepare;
  // pragma() prepares its statement out of reach: a setting goes through exec, a read through prepare.
  db.pragma = ((source: string, options?: Database.PragmaOptions) => {
    if (source.includes('=')) return void db.exec(`PRAGMA ${source}`);
    const statement = db.prepare(`PRAGMA ${source}`);
    return options?.simple ? statement.pluck().get() : statement.all();
  }) as typeof db.pragma;
  return db;
}

const tmp = mkdtempSync(join(tmpdir(), 'mailpoll-store-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let stores = 0;
/** A path for a new store in a folder that does not exist yet. */
const freshPath = (): string => join(tmp, `store-${++stores}`, 'mailpoll.db');

const opened: Store[] = [];
after(async () => {
  for (const store of opened) await store.close();
});
function open(path = freshPath(), options: OpenStoreOptions = {}): Store {
  const store = openStore(path, options);
  opened.push(store);
  return store;
}

/** A new store with one run and these messages received. */
async function withReceived(uids: string[]) {
  const store = open();
  const runId = await store.beginRun({ pid: process.pid, command: 'run', dryRun: false });
  const refs = await store.recordReceived(runId, uids.map((uid) => message(uid)), { archive: true });
  return { store, runId, ref: (uid: string) => refs.get(uid) ?? -1 };
}

function pragma(path: string, name: string): unknown {
  const db = rawDatabase(path, { readonly: true });
  try {
    return db.pragma(name, { simple: true });
  } finally {
    db.close();
  }
}

/** All rows of `sql`, read through a connection of its own (the store's stays open). */
function query(path: string, sql: string): unknown[] {
  const db = rawDatabase(path, { readonly: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

// The contract every backend keeps (test/helpers/store-contract.ts), here over SQLite files.
describeStoreContract('sqlite', {
  open: async (options) => openStore(freshPath(), options),
  reopen: async (store, options) => openStore(store.path, options),
  target: (store) => store.path,
});

describe('openStore', () => {
  it('creates the folder and the file, in WAL with incremental auto-vacuum, tagged as ours', async () => {
    const path = freshPath();
    assert.equal(existsSync(dirname(path)), false);
    const store = openStore(path);
    assert.equal(store.path, path);
    await store.close();
    assert.ok(statSync(path).isFile());
    assert.equal(pragma(path, 'user_version'), SCHEMA_VERSION);
    assert.equal(pragma(path, 'application_id'), APPLICATION_ID);
    assert.equal(pragma(path, 'journal_mode'), 'wal');
    assert.equal(pragma(path, 'auto_vacuum'), 2);
  });

  it('reopens an existing store without migrating it again and keeps its data', async () => {
    const path = freshPath();
    const first = openStore(path);
    const runId = await first.beginRun({ pid: 1, command: 'run', dryRun: false });
    const ref = (await first.recordReceived(runId, [message('1')], { archive: true })).get('1');
    await first.close();
    const schema = rawDatabase(path, { readonly: true });
    const before = schema.prepare('SELECT sql FROM sqlite_schema ORDER BY name').all();
    schema.close();

    for (let i = 0; i < 2; i++) {
      const again = openStore(path);
      assert.equal((await again.get(ref ?? -1))?.uid, '1');
      assert.equal((await again.history({})).runs.length, 1);
      await again.close();
    }
    const after = rawDatabase(path, { readonly: true });
    assert.deepEqual(after.prepare('SELECT sql FROM sqlite_schema ORDER BY name').all(), before);
    after.close();
    assert.equal(pragma(path, 'user_version'), SCHEMA_VERSION);
  });

  it('takes an empty file (0 bytes) as a new store', async () => {
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, '');
    await open(path).close();
    assert.equal(pragma(path, 'application_id'), APPLICATION_ID);
  });

  it('refuses a file of garbage bytes and leaves it as it was', async () => {
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    const garbage = Buffer.alloc(10_000, 0x5a);
    writeFileSync(path, garbage);
    await assertStoreError(
      () => openStore(path),
      `store ${path} is not a mailpoll store or is damaged (file is not a database).`,
      'Move it away to start a new one; mailpoll never resets it by itself.',
    );
    assert.deepEqual(readFileSync(path), garbage);
  });

  it('refuses the SQLite database of another application', async () => {
    const withTables = freshPath();
    mkdirSync(dirname(withTables), { recursive: true });
    const other = rawDatabase(withTables);
    other.exec('CREATE TABLE contacts (name TEXT)');
    other.close();
    await assertStoreError(() => openStore(withTables), 'not a mailpoll store', 'another application', 'Move it away');

    const withId = freshPath();
    mkdirSync(dirname(withId), { recursive: true });
    const tagged = rawDatabase(withId);
    tagged.pragma('application_id = 42');
    tagged.close();
    await assertStoreError(() => openStore(withId), 'not a mailpoll store');
    assert.equal(pragma(withId, 'application_id'), 42);
  });

  it('refuses a store written by a newer mailpoll, naming both versions', async () => {
    const path = freshPath();
    openStore(path).close();
    const db = rawDatabase(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 7}`);
    db.close();
    await assertStoreError(
      () => openStore(path),
      `store ${path}`,
      `store version ${SCHEMA_VERSION + 7}`,
      `knows up to ${SCHEMA_VERSION}`,
      'Upgrade mailpoll',
    );
    assert.equal(pragma(path, 'user_version'), SCHEMA_VERSION + 7);
  });

  it('migrates a store of version 1 (before archive_files) on open, keeping its data', async () => {
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    const v1Sql = migrations.find((migration) => migration.version === 1)?.sql;
    assert.ok(v1Sql);
    const raw = Buffer.from('Subject: old\r\n\r\nkept from version 1\r\n');
    // What mailpoll with schema version 1 left behind.
    const v1 = rawDatabase(path);
    v1.exec('PRAGMA auto_vacuum = INCREMENTAL');
    v1.exec('PRAGMA journal_mode = WAL');
    v1.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    v1.exec(v1Sql);
    v1.exec('PRAGMA user_version = 1');
    v1.prepare(
      `INSERT INTO messages (ref, account, mailbox, uid_validity, uid, protocol, state, first_seen_at, updated_at)
       VALUES (7, 'support', 'INBOX', '1700000000', '1', 'imap', 'done', ?, ?)`,
    ).run(T0, T0);
    v1.prepare('INSERT INTO archive (ref, stored_at, raw) VALUES (7, ?, ?)').run(T0, raw);
    v1.close();
    assert.deepEqual(query(path, "SELECT name FROM sqlite_schema WHERE name LIKE 'archive_files%'"), []);

    const store = open(path);
    assert.equal(pragma(path, 'user_version'), SCHEMA_VERSION);
    assert.equal(pragma(path, 'application_id'), APPLICATION_ID);
    assert.deepEqual(
      query(path, "SELECT name FROM sqlite_schema WHERE name LIKE 'archive_files%' ORDER BY name"),
      [{ name: 'archive_files' }, { name: 'archive_files_stored' }],
    );
    const record = await store.get(7);
    assert.deepEqual([record?.uid, record?.state, record?.hasRaw], ['1', 'done', true]);
    assert.ok((await store.raw(7))?.equals(raw));
    // Its row knows no server until an account of that name adopts it (migration 3).
    assert.equal((await store.findByUids(key(''), ['1'])).size, 0);
    assert.equal((await store.findByUids(key('', { identity: 'legacy:support' }), ['1'])).get('1')?.ref, 7);
    assert.equal(await store.adoptLegacyRows({ identity: 'support', mailbox: 'INBOX' }, { account: 'support', protocol: 'imap' }), 1);
    assert.equal((await store.findByUids(key(''), ['1'])).get('1')?.ref, 7);
    assert.equal((await store.get(7))?.account, 'support');

    // The new table works at once: a large copy becomes a file.
    const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
    const big = Buffer.alloc(2 * 1024 * 1024, 0x61);
    const ref = (await store.recordReceived(runId, [message('2', { raw: big })], { archive: true })).get('2') ?? -1;
    assert.ok(readFileSync(join(`${path}-archive`, `${ref}.eml`)).equals(big));
    await store.close();
    await open(path).close(); // and it opens again as current
    assert.equal(pragma(path, 'user_version'), SCHEMA_VERSION);
  });

  it('migration 5 keeps refs, raw copies and the ref high-water mark, and takes skipped rows', async () => {
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    const v4 = rawDatabase(path);
    v4.exec('PRAGMA journal_mode = WAL');
    v4.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    for (const migration of migrations.filter((entry) => entry.version <= 4)) v4.exec(migration.sql);
    v4.exec('PRAGMA user_version = 4');
    const raw = Buffer.from('Subject: kept\r\n\r\nfrom version 4\r\n');
    for (const ref of [3, 9]) {
      v4.prepare(
        `INSERT INTO messages (ref, identity, account, mailbox, uid_validity, uid, protocol, state, first_seen_at, updated_at)
         VALUES (?, 'imap://a@h/INBOX', 'support', 'INBOX', '1', ?, 'imap', 'done', ?, ?)`,
      ).run(ref, String(ref), T0, T0);
    }
    v4.prepare('INSERT INTO archive (ref, stored_at, raw) VALUES (3, ?, ?)').run(T0, raw);
    // Ref 9 purged: 9 must never be handed out again.
    v4.prepare('DELETE FROM messages WHERE ref = 9').run();
    v4.close();

    const store = open(path);
    assert.equal(pragma(path, 'user_version'), SCHEMA_VERSION);
    assert.ok((await store.raw(3))?.equals(raw));
    const where = { identity: 'imap://a@h/INBOX', mailbox: 'INBOX', uidValidity: '1' };
    assert.equal(await store.isFirstRun(where.identity, where.mailbox), false);
    assert.equal(await store.isFirstRun(where.identity, 'Other'), true);
    const runId = await store.beginRun({ pid: 1, command: 'baseline', dryRun: false });
    const skipped = { ...message('20'), key: { ...where, uid: '20' }, raw: undefined };
    const known = { ...message('3'), key: { ...where, uid: '3' }, raw: undefined };
    assert.equal(await store.recordBaseline(runId, { identity: where.identity, mailbox: 'Other' }, []), 0);
    assert.equal(await store.isFirstRun(where.identity, 'Other'), false, 'an empty baseline still counts');
    assert.equal(await store.recordBaseline(runId, where, [skipped, known]), 1);
    const rows = await store.findByUids(where, ['3', '20']);
    assert.equal(rows.get('3')?.state, 'done');
    assert.equal(rows.get('20')?.state, 'skipped');
    assert.ok((rows.get('20')?.ref ?? 0) > 9);
    assert.equal(await store.release(rows.get('20')!.ref), true);
    assert.equal((await store.get(rows.get('20')!.ref))?.state, 'failed');
    await store.close();
  });

  it('says so when the store cannot be created (a path under a regular file, which stops root too)', async () => {
    const file = join(tmp, `plain-file-${++stores}`);
    writeFileSync(file, 'not a folder');
    const path = join(file, 'mailpoll.db');
    await assertStoreError(() => openStore(path), `cannot open store ${path}`, 'not a folder', '--store PATH', "'store:'");
  });

  it('says so when the folder is read-only', async (t) => {
    const folder = join(tmp, `read-only-${++stores}`);
    mkdirSync(folder);
    chmodSync(folder, 0o555);
    try {
      try {
        writeFileSync(join(folder, 'probe'), '');
        t.skip('permissions do not stop this user (root): covered by the path under a regular file');
        return;
      } catch {
        // Writes are refused: the real case.
      }
      const path = join(folder, 'mailpoll.db');
      await assertStoreError(() => openStore(path), `cannot open store ${path}`, 'no write permission', '--store PATH');
    } finally {
      chmodSync(folder, 0o755);
    }
  });

  it('refuses a damaged store when it is used, never resetting it', async () => {
    const path = freshPath();
    const store = openStore(path);
    const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
    await store.recordReceived(runId, Array.from({ length: 200 }, (_, i) => message(String(i))), { archive: true });
    await store.close();
    const bytes = readFileSync(path);
    const pageSize = bytes.readUInt16BE(16);
    bytes.fill(0xa5, pageSize, bytes.length); // everything after the header page
    writeFileSync(path, bytes);
    await assertStoreError(async () => {
      const damaged = open(path);
      await damaged.findByUids(key(''), ['1', '2']);
      await damaged.history({});
    }, 'is not a mailpoll store or is damaged');
    assert.deepEqual(readFileSync(path), bytes);
  });

  it('says the store is locked when another writer holds it past the busy timeout', async () => {
    const { store, runId } = await withReceived(['1']);
    const other = rawDatabase(store.path);
    other.exec('BEGIN IMMEDIATE');
    try {
      await assertStoreError(() => store.recordReceived(runId, [message('2')], { archive: false }), `store ${store.path} is locked`);
    } finally {
      other.exec('ROLLBACK');
      await other.close();
    }
    assert.equal((await store.findByUids(key(''), ['2'])).size, 0);
  });

  it('closes safely twice', async () => {
    const store = openStore(freshPath());
    await store.close();
    await store.close();
  });
});

describe('archive: large raw copies as files', () => {
  const MiB = 1024 * 1024;
  const folderOf = (store: Store) => `${store.path}-archive`;
  const fileOf = (store: Store, ref: number) => join(folderOf(store), `${ref}.eml`);

  it('puts a 2 MiB copy in <store>-archive/<ref>.eml and keeps 20 KB as a blob; raw() gives both back exactly', async () => {
    const store = open();
    assert.equal(existsSync(folderOf(store)), false, 'no folder before the first large copy');
    const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
    const big = bytes(2 * MiB);
    const small = bytes(20 * 1024, 7);
    const refs = await store.recordReceived(runId, [message('big', { raw: big }), message('small', { raw: small })], { archive: true });
    const bigRef = refs.get('big') ?? -1;
    const smallRef = refs.get('small') ?? -1;

    assert.ok(readFileSync(fileOf(store, bigRef)).equals(big), 'the file holds the exact bytes');
    assert.deepEqual(readdirSync(folderOf(store)), [`${bigRef}.eml`], 'no temp file, no file for the small copy');
    assert.deepEqual(query(store.path, 'SELECT ref FROM archive'), [{ ref: smallRef }], 'no blob for the large copy');
    assert.deepEqual(query(store.path, 'SELECT ref, stored_at > 0 AS dated, bytes FROM archive_files'), [
      { ref: bigRef, dated: 1, bytes: big.length },
    ]);

    assert.ok((await store.raw(bigRef))?.equals(big));
    assert.ok((await store.raw(smallRef))?.equals(small));
    assert.equal((await store.get(bigRef))?.hasRaw, true);
    assert.equal((await store.get(smallRef))?.hasRaw, true);
    assert.equal((await store.findByUids(key(''), ['big'])).get('big')?.hasRaw, true);
  });

  it('a message received again changes sides as its size says, leaving nothing behind', async () => {
    const store = open();
    const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
    const ref = (await store.recordReceived(runId, [message('1', { raw: bytes(2 * MiB) })], { archive: true })).get('1') ?? -1;
    assert.ok(existsSync(fileOf(store, ref)));

    const small = bytes(20 * 1024, 3);
    await store.recordReceived(runId, [message('1', { raw: small })], { archive: true });
    assert.equal(existsSync(fileOf(store, ref)), false, 'the file of the earlier copy is gone');
    assert.deepEqual(query(store.path, 'SELECT ref FROM archive_files'), []);
    assert.ok((await store.raw(ref))?.equals(small));

    const big = bytes(3 * MiB, 5);
    await store.recordReceived(runId, [message('1', { raw: big })], { archive: true });
    assert.deepEqual(query(store.path, 'SELECT ref FROM archive'), [], 'the blob of the earlier copy is gone');
    assert.ok((await store.raw(ref))?.equals(big));
    assert.deepEqual(readdirSync(folderOf(store)), [`${ref}.eml`]);

    await store.recordReceived(runId, [message('1', { raw: bytes(20 * 1024) })], { archive: false });
    assert.ok((await store.raw(ref))?.equals(big), 'archive: false keeps the earlier copy');
  });

  it('a batch that fails leaves no file for the refs it would have added', async () => {
    const store = open();
    const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
    const kept = bytes(2 * MiB, 9);
    const keptRef = (await store.recordReceived(runId, [message('kept', { raw: kept })], { archive: true })).get('kept') ?? -1;
    const bad = { ...message('bad'), protocol: 'smtp' } as unknown as ReceivedMessage;
    await assert.rejects(async () => store.recordReceived(runId, [message('big', { raw: bytes(2 * MiB) }), bad], { archive: true }), StoreError);
    assert.deepEqual(readdirSync(folderOf(store)), [`${keptRef}.eml`]);
    assert.ok((await store.raw(keptRef))?.equals(kept));
  });

  it('a file gone from the folder is a StoreError naming the ref and the path', async () => {
    const store = open();
    const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
    const ref = (await store.recordReceived(runId, [message('1', { raw: bytes(2 * MiB) })], { archive: true })).get('1') ?? -1;
    rmSync(fileOf(store, ref));
    await assertStoreError(() => store.raw(ref), `store ${store.path}`, `raw copy of ref ${ref}`, fileOf(store, ref), 'the file is missing');
  });

  it('purge deletes files like blobs (by age, with their rows, all at retention 0) and counts them', async () => {
    const clock = manualClock();
    const store = open(freshPath(), { now: clock.now });
    const oldRun = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
    const refs = await store.recordReceived(
      oldRun,
      [message('old', { raw: bytes(2 * MiB) }), message('deleted', { raw: bytes(2 * MiB, 2) }), message('blob', { raw: bytes(1000) })],
      { archive: true },
    );
    const ref = (uid: string) => refs.get(uid) ?? -1;
    await store.recordHandled(ref('deleted'), decide('delete'));
    await store.markDone([ref('deleted')]);
    clock.advance(10 * DAY);
    const fresh = (await store.recordReceived(oldRun, [message('fresh', { raw: bytes(2 * MiB, 4) })], { archive: true })).get('fresh') ?? -1;

    // Retention 30, ledger 5: only the row of the deleted message goes, and its file with it.
    assert.deepEqual(await store.purge({ retentionDays: 30, ledgerDays: 5 }), { rawDeleted: 1, rowsDeleted: 1, runsDeleted: 0 });
    assert.equal(existsSync(fileOf(store, ref('deleted'))), false);
    assert.equal(await store.get(ref('deleted')), undefined);

    // Retention 7: the old file and the old blob go; the fresh file stays. A file that cannot
    // be unlinked (here a folder in its place) is left behind without failing the purge.
    rmSync(fileOf(store, ref('old')));
    mkdirSync(fileOf(store, ref('old')));
    assert.deepEqual(await store.purge({ retentionDays: 7, ledgerDays: 30 }), { rawDeleted: 2, rowsDeleted: 0, runsDeleted: 0 });
    assert.equal((await store.get(ref('old')))?.hasRaw, false);
    assert.equal(await store.raw(ref('old')), undefined);
    assert.ok(existsSync(fileOf(store, fresh)));
    rmSync(fileOf(store, ref('old')), { recursive: true });

    // Retention 0: every copy goes.
    assert.deepEqual(await store.purge({ retentionDays: 0, ledgerDays: 30 }), { rawDeleted: 1, rowsDeleted: 0, runsDeleted: 0 });
    assert.equal(existsSync(fileOf(store, fresh)), false);
    assert.equal((await store.get(fresh))?.hasRaw, false);
    assert.equal(await store.raw(fresh), undefined);
    assert.deepEqual(readdirSync(folderOf(store)), []);
    assert.deepEqual(query(store.path, 'SELECT ref FROM archive_files'), []);
  });
});

describe('leases', () => {
  /** One store file opened by processes on two hosts, sharing a manual clock. */
  function twoHosts() {
    const clock = manualClock();
    const path = freshPath();
    return { clock, path, a: open(path, { now: clock.now, hostname: 'host-a' }), b: open(path, { now: clock.now, hostname: 'host-b' }) };
  }

  it('fencing: once another process took the lease over, the old holder\'s fenced writes are refused and write nothing', async () => {
    const { clock, path, a, b } = twoHosts();
    const runId = await a.beginRun({ pid: process.pid, command: 'run', dryRun: false });
    const refs = await a.recordReceived(runId, [message('1'), message('2')], { archive: false });
    const [one, two] = [refs.get('1')!, refs.get('2')!];
    const held = await a.acquireLease('support', { ttlMs: 60_000 });
    assert.ok(held.ok);
    assert.equal(held.lease.identity, 'support');
    await a.recordHandled(one, decide('delete'), held.lease); // still ours: written

    clock.advance(60_001); // A was paused past its lease
    const taken = await b.acquireLease('support', { ttlMs: 60_000 });
    assert.ok(taken.ok);
    assert.notEqual(taken.lease.token, held.lease.token, 'a takeover writes a new token');

    const rows = () => query(path, 'SELECT ref, state, action, attempts, last_error, handled_at, done_at, updated_at, expired_at FROM messages ORDER BY ref');
    const before = rows();
    const lost = (error: unknown) => error instanceof LeaseLostError && error.identity === 'support' && error.code === 'E_STORE';
    // Each is a rejected promise, never a synchronous throw: the argument is the call's result.
    await assert.rejects(a.recordHandled(two, decide('keep'), held.lease), lost);
    await assert.rejects(a.markDone([one], held.lease), lost);
    await assert.rejects(a.recordFailed(two, 'boom', 3, undefined, held.lease), lost);
    await assert.rejects(a.recordTemporaryFailure(two, 'later', undefined, held.lease), lost);
    await assert.rejects(a.recordActionFailed(one, 'refused', 3, held.lease), lost);
    await assert.rejects(a.markExpired([one], held.lease), lost);
    assert.deepEqual(rows(), before, 'nothing written');
    assert.equal(await held.lease.renew(), false, 'its renewal says it was lost');

    // The holder's fence is current: its writes go through.
    await b.markDone([one], taken.lease);
    await b.recordHandled(two, decide('keep'), taken.lease);
    assert.deepEqual([(await b.get(one))?.state, (await b.get(two))?.state], ['done', 'handled']);
  });

  it('fencing: a released lease fences like a lost one; an unfenced write is not checked', async () => {
    const { store, ref } = await withReceived(['1', '2']);
    const held = await store.acquireLease('support', { ttlMs: 60_000 });
    assert.ok(held.ok);
    await held.lease.release();
    await assert.rejects(store.recordHandled(ref('1'), decide('keep'), held.lease), LeaseLostError);
    assert.equal((await store.get(ref('1')))?.state, 'received');
    await store.recordHandled(ref('2'), decide('keep'));
    assert.equal((await store.get(ref('2')))?.state, 'handled');
    // A SQLite failure is a rejected promise too.
    await assert.rejects(store.recordHandled(424_242, decide('keep'), held.lease), LeaseLostError);
    await assert.rejects(store.recordHandled(424_242, decide('keep')), StoreError);
  });

  it('a dead pid on this host loses its lease; a pid on another host is never judged', async () => {
    const path = freshPath();
    const seed = open(path);
    await seed.close();
    const db = rawDatabase(path);
    const insert = db.prepare("INSERT OR REPLACE INTO leases (identity, pid, host, token, acquired_at, expires_at) VALUES (?, 424242, ?, 'token', ?, ?)");
    insert.run('support', 'this-host', T0, T0 + DAY);
    insert.run('sales', 'far-host', T0, T0 + DAY);
    db.close();
    const clock = manualClock();
    const alive = open(path, { now: clock.now, hostname: 'this-host', isAlive: () => true });
    assert.deepEqual(await alive.acquireLease('support', { ttlMs: 1000 }), { ok: false, holder: { pid: 424242, host: 'this-host', since: T0 } });
    const seen: number[] = [];
    const dead = open(path, { now: clock.now, hostname: 'this-host', isAlive: (pid) => (seen.push(pid), false) });
    assert.equal((await dead.acquireLease('support', { ttlMs: 1000 })).ok, true);
    assert.deepEqual(seen, [424242]);
    assert.equal((await dead.acquireLease('sales', { ttlMs: 1000 })).ok, false);
  });

  it('two processes racing for one account on a new store: exactly one wins', async () => {
    // No file yet: both processes create the store as they race.
    await assertOneWinsTheRace(freshPath());
  });
});

describe('fingerprint', () => {
  const base = { messageId: '<Abc.123@Example.COM>', sentDate: 'Mon, 6 Jan 2025 10:00:00 +0000', size: 2048 };

  it('is a stable 32-digit hex digest', async () => {
    const value = fingerprint(base);
    assert.match(value ?? '', /^[0-9a-f]{32}$/);
    assert.equal(fingerprint({ ...base }), value);
    // Pinned: stored fingerprints must keep matching across mailpoll versions.
    assert.equal(value, 'e5bdcab0fc5b7f9f91f617b35d55acc4');
  });

  it('ignores brackets, case and whitespace that do not identify the message', async () => {
    const value = fingerprint(base);
    assert.equal(fingerprint({ ...base, messageId: '  abc.123@example.com ' }), value);
    assert.equal(fingerprint({ ...base, sentDate: ' Mon,  6 Jan 2025\t10:00:00\r\n +0000 ' }), value);
  });

  it('changes with any identifying part', async () => {
    const value = fingerprint(base);
    assert.notEqual(fingerprint({ ...base, messageId: '<abc.124@example.com>' }), value);
    assert.notEqual(fingerprint({ ...base, sentDate: 'Mon, 6 Jan 2025 10:00:01 +0000' }), value);
    assert.notEqual(fingerprint({ ...base, size: 2049 }), value);
    assert.notEqual(fingerprint({ ...base, size: null }), value);
    assert.notEqual(fingerprint({ messageId: 'a', sentDate: null }), fingerprint({ messageId: null, sentDate: 'a' }));
  });

  it('is null without a Message-ID and a Date: size alone is too weak', async () => {
    assert.equal(fingerprint({ size: 100 }), null);
    assert.equal(fingerprint({ messageId: '  ', sentDate: '', size: 100 }), null);
    assert.equal(fingerprint({ messageId: '<>', sentDate: null, size: 100 }), null);
    assert.notEqual(fingerprint({ messageId: 'x@y', size: null }), null);
    assert.notEqual(fingerprint({ sentDate: 'Mon, 6 Jan 2025 10:00:00 +0000' }), null);
  });
});

describe('defaultStorePath', () => {
  it('uses XDG_STATE_HOME, else ~/.local/state', async () => {
    assert.equal(defaultStorePath({ XDG_STATE_HOME: '/var/state' }, '/home/ann'), '/var/state/mailpoll/mailpoll.db');
    assert.equal(defaultStorePath({}, '/home/ann'), '/home/ann/.local/state/mailpoll/mailpoll.db');
    assert.equal(defaultStorePath({ XDG_STATE_HOME: '' }, '/home/ann'), '/home/ann/.local/state/mailpoll/mailpoll.db');
    assert.equal(defaultStorePath({ XDG_STATE_HOME: 'relative' }, '/home/ann'), '/home/ann/.local/state/mailpoll/mailpoll.db');
  });
});
