/**
 * The store contract as one suite of tests, for every implementation of `AsyncStore`: the
 * ledger's states and attempts, the archive, baselines, retention, history and leases, as
 * behaviour seen through the contract only (no SQL, no files). A backend test file calls
 *
 *   describeStoreContract('postgres', { open, reopen, target });
 *
 * and adds the tests of what only it has (files, pragmas, fencing across hosts...).
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Decision } from '../../src/decision/types.js';
import { StoreError } from '../../src/errors.js';
import { registerSecret } from '../../src/redact.js';
import type { AsyncStore } from '../../src/store/contract.js';
import type { MessageKey, ReceivedMessage } from '../../src/store/types.js';

/** What the contract's tests may ask of a store when opening it. */
export interface ContractOpenOptions {
  now?: () => number;
  hostname?: string;
  isAlive?: (pid: number) => boolean;
}

export interface StoreBackend {
  /** A new, empty store. */
  open(options?: ContractOpenOptions): Promise<AsyncStore>;
  /** Another handle on the store that `store` is a handle of, as another process or host would open it. */
  reopen(store: AsyncStore, options?: ContractOpenOptions): Promise<AsyncStore>;
  /** What test/fixtures/store/store-child.ts opens to reach the same store (a path, a URL). */
  target(store: AsyncStore): string;
}

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const storeChild = join(repo, 'test', 'fixtures', 'store', 'store-child.ts');

export const DAY = 24 * 60 * 60 * 1000;
export const T0 = Date.UTC(2025, 0, 1);

/** A clock the test moves by hand. */
export function manualClock(start = T0): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => void (time += ms) };
}

export const key = (uid: string, over: Partial<MessageKey> = {}): MessageKey => ({
  identity: 'support',
  mailbox: 'INBOX',
  uidValidity: '1700000000',
  uid,
  ...over,
});

export function message(
  uid: string,
  over: { key?: Partial<MessageKey>; raw?: Buffer; subject?: string; fingerprint?: string | null } = {},
): ReceivedMessage {
  const raw = over.raw ?? Buffer.from(`Subject: ${uid}\r\n\r\nbody ${uid}\r\n`);
  return {
    key: key(uid, over.key),
    account: over.key?.identity ?? 'support',
    protocol: over.key?.uidValidity === null ? 'pop3' : 'imap',
    fingerprint: over.fingerprint === undefined ? `fp-${uid}` : over.fingerprint,
    rawHash: createHash('sha256').update(raw).digest('hex'),
    meta: {
      messageId: `<${uid}@example.com>`,
      sender: 'alice@example.com',
      subject: over.subject ?? `subject ${uid}`,
      date: '2025-01-01T00:00:00.000Z',
      size: 1234,
    },
    raw,
  };
}

export const decide = (action: Decision['action'], folder?: string, transition = true): Decision => ({ action, folder, transition });

/** The StoreError `work` rejects with: exit 2, E_STORE, one line, with each fragment. */
export async function assertStoreError(work: () => unknown, ...fragments: string[]): Promise<StoreError> {
  let caught: unknown;
  try {
    await work();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof StoreError, `expected a StoreError, got ${String(caught)}`);
  assert.equal(caught.exitCode, 2);
  assert.equal(caught.code, 'E_STORE');
  assert.ok(!caught.message.includes('\n'), `one line: ${caught.message}`);
  for (const fragment of fragments) assert.ok(caught.message.includes(fragment), `"${caught.message}" should include "${fragment}"`);
  return caught;
}

/** `size` bytes of every value, different for each seed. */
export function bytes(size: number, seed = 1): Buffer {
  const buffer = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buffer[i] = (i * 31 + (i >> 8) + seed) & 0xff;
  return buffer;
}

export function describeStoreContract(backendName: string, backend: StoreBackend): void {
  const opened: AsyncStore[] = [];
  after(async () => {
    for (const store of opened) await store.close();
  });
  const open = async (options: ContractOpenOptions = {}): Promise<AsyncStore> => {
    const store = await backend.open(options);
    opened.push(store);
    return store;
  };
  const reopen = async (store: AsyncStore, options: ContractOpenOptions = {}): Promise<AsyncStore> => {
    const again = await backend.reopen(store, options);
    opened.push(again);
    return again;
  };

  /** A store with one run and these messages received; returns the refs. */
  async function withReceived(uids: string[], options: ContractOpenOptions = {}) {
    const store = await open(options);
    const runId = await store.beginRun({ pid: process.pid, command: 'run', dryRun: false });
    const refs = await store.recordReceived(runId, uids.map((uid) => message(uid)), { archive: true });
    const ref = (uid: string): number => {
      const found = refs.get(uid);
      assert.ok(found !== undefined, `no ref for ${uid}`);
      return found;
    };
    return { store, runId, refs, ref };
  }

  describe(`store contract (${backendName})`, () => {
    describe('opening', () => {
      it('a second handle sees what the first wrote; closing twice is safe', async () => {
        const { store, ref } = await withReceived(['1']);
        const other = await reopen(store);
        assert.equal((await other.get(ref('1')))?.uid, '1');
        assert.equal((await other.history({})).runs.length, 1);
        await other.close();
        await other.close();
      });
    });

    describe('ledger', () => {
      it('received -> handled -> done, with on_server from the action', async () => {
        const clock = manualClock();
        const { store, runId, ref } = await withReceived(['del', 'keep', 'move', 'seen'], { now: clock.now });
        const record = await store.get(ref('del'));
        assert.ok(record);
        assert.deepEqual(
          { state: record.state, attempts: record.attempts, firstSeenAt: record.firstSeenAt, runId: record.runId, hasRaw: record.hasRaw },
          { state: 'received', attempts: 0, firstSeenAt: T0, runId, hasRaw: true },
        );
        assert.deepEqual(
          [record.uidValidity, record.protocol, record.fingerprint, record.messageId, record.sender, record.subject, record.size],
          ['1700000000', 'imap', 'fp-del', '<del@example.com>', 'alice@example.com', 'subject del', 1234],
        );
        assert.equal(record.rawHash, createHash('sha256').update('Subject: del\r\n\r\nbody del\r\n').digest('hex'));

        clock.advance(1000);
        await store.recordHandled(ref('del'), decide('delete'));
        await store.recordHandled(ref('keep'), decide('keep', undefined, false));
        await store.recordHandled(ref('move'), decide('move', 'Archive/2025'));
        await store.recordHandled(ref('seen'), { ...decide('markSeen'), extras: { flags: ['$Done'], unflags: [], copyTo: 'Copies' } });
        const handled = await store.get(ref('move'));
        assert.deepEqual(
          [handled?.state, handled?.action, handled?.moveTo, handled?.transition, handled?.handledAt, handled?.extras],
          ['handled', 'move', 'Archive/2025', true, T0 + 1000, null],
        );
        assert.equal((await store.get(ref('keep')))?.transition, false);
        assert.deepEqual((await store.get(ref('seen')))?.extras, { flags: ['$Done'], unflags: [], copyTo: 'Copies' });
        assert.deepEqual((await store.pendingDecisions('support', 'INBOX')).map((r) => r.uid).sort(), ['del', 'keep', 'move', 'seen']);

        clock.advance(1000);
        await store.sync();
        await store.markDone([ref('del'), ref('keep'), ref('move'), ref('seen')]);
        const done = async (uid: string) => {
          const r = await store.get(ref(uid));
          return { state: r?.state, onServer: r?.onServer, doneAt: r?.doneAt, updatedAt: r?.updatedAt };
        };
        assert.deepEqual(await done('del'), { state: 'done', onServer: false, doneAt: T0 + 2000, updatedAt: T0 + 2000 });
        assert.deepEqual(await done('move'), { state: 'done', onServer: false, doneAt: T0 + 2000, updatedAt: T0 + 2000 });
        assert.deepEqual(await done('keep'), { state: 'done', onServer: true, doneAt: T0 + 2000, updatedAt: T0 + 2000 });
        assert.deepEqual(await done('seen'), { state: 'done', onServer: true, doneAt: T0 + 2000, updatedAt: T0 + 2000 });
        assert.deepEqual(await store.pendingDecisions('support', 'INBOX'), []);
      });

      it('failed attempts count up to quarantine at maxAttempts; release gives a fresh start', async () => {
        const { store, ref } = await withReceived(['1']);
        assert.equal(await store.recordFailed(ref('1'), 'handler threw: boom 1', 3), 'failed');
        assert.equal(await store.recordFailed(ref('1'), 'handler threw: boom 2', 3), 'failed');
        assert.equal(await store.recordFailed(ref('1'), 'handler threw: boom 3', 3), 'quarantined');
        const quarantined = await store.get(ref('1'));
        assert.deepEqual([quarantined?.state, quarantined?.attempts, quarantined?.lastError], ['quarantined', 3, 'handler threw: boom 3']);

        assert.equal(await store.release(ref('1')), true);
        const released = await store.get(ref('1'));
        assert.deepEqual([released?.state, released?.attempts, released?.lastError], ['failed', 0, 'handler threw: boom 3']);
        assert.equal(await store.release(ref('1')), true, 'a failed message can be released too');

        assert.equal(await store.release(987_654), false, 'unknown ref');
        await store.recordHandled(ref('1'), decide('keep'));
        assert.equal(await store.release(ref('1')), false, 'a handled message is not released');
        assert.equal((await store.get(ref('1')))?.state, 'handled');
        assert.equal((await store.get(ref('1')))?.lastError, null, 'handled clears the error');
      });

      it("keeps a failure's detail (masked, capped) until the message is handled", async () => {
        const { store, ref } = await withReceived(['1']);
        registerSecret('detail-secret-value-1234');
        const stack = 'Error: boom\n    at handle (file:///srv/handler.mjs:4:11) token=detail-secret-value-1234';
        await store.recordFailed(ref('1'), 'handler failed: boom', 5, stack);
        assert.equal((await store.get(ref('1')))?.lastErrorDetail, 'Error: boom\n    at handle (file:///srv/handler.mjs:4:11) token=***');
        await store.recordFailed(ref('1'), 'handler failed: huge', 5, `x${'y'.repeat(100_000)}`);
        assert.match((await store.get(ref('1')))?.lastErrorDetail ?? '', /bytes cut/);
        await store.recordFailed(ref('1'), `handler failed: ${'z'.repeat(100_000)}`, 5);
        assert.ok(((await store.get(ref('1')))?.lastError ?? '').length < 5000, 'the one-line error is capped too');
        assert.equal((await store.get(ref('1')))?.lastErrorDetail, null, 'a failure without detail does not keep an older one');
        await store.recordFailed(ref('1'), 'handler failed: boom', 5, stack);
        await store.recordHandled(ref('1'), decide('keep'));
        assert.equal((await store.get(ref('1')))?.lastErrorDetail, null);
      });

      it('a temporary failure is kept without counting: the row stays received, attempts unchanged', async () => {
        const { store, ref } = await withReceived(['1']);
        await store.recordFailed(ref('1'), 'handler failed: boom', 5);
        const run2 = await store.beginRun({ pid: 2, command: 'run', dryRun: false });
        await store.recordReceived(run2, [message('1')], { archive: true });
        await store.recordTemporaryFailure(ref('1'), 'webhook answered 503 Service Unavailable; tried again on the next run', 'at fetch');
        const record = await store.get(ref('1'));
        assert.deepEqual(
          [record?.state, record?.attempts, record?.lastError, record?.lastErrorDetail],
          ['received', 1, 'webhook answered 503 Service Unavailable; tried again on the next run', 'at fetch'],
        );
        await assertStoreError(() => store.recordTemporaryFailure(424_242, 'x'), 'no message with ref 424242');
      });

      it('maxAttempts 1 quarantines at the first failure', async () => {
        const { store, ref } = await withReceived(['1']);
        assert.equal(await store.recordFailed(ref('1'), 'nope', 1), 'quarantined');
      });

      it('recordReceived on a failed row keeps ref, attempts and first_seen_at, and updates the rest', async () => {
        const clock = manualClock();
        const { store, ref } = await withReceived(['1'], { now: clock.now });
        await store.recordFailed(ref('1'), 'boom', 5);
        await store.recordFailed(ref('1'), 'boom again', 5);
        clock.advance(60_000);
        const run2 = await store.beginRun({ pid: 2, command: 'run', dryRun: false });
        const again = await store.recordReceived(run2, [message('1', { subject: 'new subject', fingerprint: 'fp-new' })], { archive: true });
        assert.equal(again.get('1'), ref('1'));
        const record = await store.get(ref('1'));
        assert.deepEqual(
          {
            state: record?.state,
            attempts: record?.attempts,
            firstSeenAt: record?.firstSeenAt,
            updatedAt: record?.updatedAt,
            runId: record?.runId,
            subject: record?.subject,
            fingerprint: record?.fingerprint,
            lastError: record?.lastError,
          },
          { state: 'received', attempts: 2, firstSeenAt: T0, updatedAt: T0 + 60_000, runId: run2, subject: 'new subject', fingerprint: 'fp-new', lastError: 'boom again' },
        );
      });

      it('a raw hash is kept when the message is received again without one', async () => {
        const { store, runId, ref } = await withReceived(['1']);
        const before = (await store.get(ref('1')))?.rawHash;
        assert.ok(before);
        await store.recordReceived(runId, [{ ...message('1'), rawHash: null, raw: undefined }], { archive: true });
        assert.equal((await store.get(ref('1')))?.rawHash, before);
      });

      it('a done row reprocessed goes back to received without its old Decision', async () => {
        const { store, runId, ref } = await withReceived(['1']);
        await store.recordHandled(ref('1'), { ...decide('move', 'Done'), extras: { flags: ['x'], unflags: [], copyTo: undefined } });
        await store.markDone([ref('1')]);
        assert.equal((await store.get(ref('1')))?.onServer, false);
        await store.recordReceived(runId, [message('1')], { archive: false });
        const record = await store.get(ref('1'));
        assert.deepEqual(
          [record?.state, record?.action, record?.moveTo, record?.handledAt, record?.doneAt, record?.onServer, record?.extras],
          ['received', null, null, null, null, true, null],
        );
      });

      it('a failed server action leaves the message handled with the error', async () => {
        const { store, ref } = await withReceived(['1']);
        await store.recordHandled(ref('1'), decide('move', 'Gone'));
        assert.equal(await store.recordActionFailed(ref('1'), 'move failed: no such folder', 5), 'handled');
        const record = await store.get(ref('1'));
        assert.deepEqual(
          [record?.state, record?.attempts, record?.action, record?.lastError],
          ['handled', 1, 'move', 'move failed: no such folder'],
          'a refused action is an attempt',
        );
        await store.markDone([ref('1')]);
        assert.equal((await store.get(ref('1')))?.lastError, null);
      });

      it('a server action refused maxAttempts times quarantines the message: its decision is no longer pending', async () => {
        const { store, ref } = await withReceived(['1']);
        await store.recordHandled(ref('1'), decide('move', 'Gone'));
        assert.equal(await store.recordActionFailed(ref('1'), 'move failed: 1', 2), 'handled');
        assert.equal(await store.recordActionFailed(ref('1'), 'move failed: 2', 2), 'quarantined');
        assert.equal((await store.get(ref('1')))?.state, 'quarantined');
        assert.equal(await store.quarantinedCount('support'), 1);
        assert.equal(await store.quarantinedCount('elsewhere'), 0);
        assert.deepEqual(await store.quarantinedRefs({ identity: 'support' }), [ref('1')]);
        assert.deepEqual(await store.quarantinedRefs({ identity: 'elsewhere' }), []);
        assert.deepEqual(await store.quarantinedRefs({ account: 'support' }), [ref('1')]);
        assert.deepEqual(await store.quarantinedRefs({ account: 'sales' }), []);
        assert.deepEqual(await store.quarantinedRefs({}), [ref('1')]);
        assert.deepEqual(await store.pendingDecisions('support', 'INBOX'), []);
      });

      it('rekey moves a record to a new UIDVALIDITY; a key that is taken is refused', async () => {
        const { store, ref } = await withReceived(['1', '2']);
        await store.setAside(ref('2'));
        await store.rekey(ref('1'), key('41', { uidValidity: '1800000000' }));
        assert.equal((await store.findByUids(key(''), ['1'])).size, 0);
        const moved = await store.findByUids({ identity: 'support', mailbox: 'INBOX', uidValidity: '1800000000' }, ['41']);
        assert.equal(moved.get('41')?.ref, ref('1'));
        assert.equal(moved.get('41')?.onServer, true);
        await assertStoreError(() => store.rekey(ref('2'), key('41', { uidValidity: '1800000000' })), `ref ${ref('1')} already has it`);
        await assertStoreError(() => store.rekey(999_999, key('99')), 'no message with ref 999999');
      });

      it('setAside keeps the row and its ref under <uid>#<ref>, off the server; its key is free again', async () => {
        const { store, runId, ref } = await withReceived(['1']);
        await store.setAside(ref('1'));
        const record = await store.get(ref('1'));
        assert.deepEqual([record?.uid, record?.onServer], [`1#${ref('1')}`, false]);
        assert.equal((await store.findByUids(key(''), ['1'])).size, 0);
        const fresh = (await store.recordReceived(runId, [message('1')], { archive: false })).get('1');
        assert.ok(fresh !== undefined && fresh !== ref('1'), 'a new message gets a new ref');
        await assertStoreError(() => store.setAside(777_777), 'no message with ref 777777');
      });

      it('findByUids returns only records of that identity, mailbox and UIDVALIDITY', async () => {
        const store = await open();
        const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        await store.recordReceived(
          runId,
          [
            message('1'),
            message('2'),
            message('1', { key: { mailbox: 'Other' } }),
            message('1', { key: { uidValidity: '5' } }),
            message('1', { key: { identity: 'sales' } }),
          ],
          { archive: false },
        );
        const found = await store.findByUids(key(''), ['1', '2', '3']);
        assert.deepEqual([...found.keys()].sort(), ['1', '2']);
        assert.equal(found.get('1')?.mailbox, 'INBOX');
        assert.equal(found.get('1')?.uidValidity, '1700000000');
        assert.equal((await store.findByUids(key(''), ['2'])).get('2')?.uid, '2');
        assert.equal((await store.findByUids(key(''), [])).size, 0);
      });

      it('a key without UIDVALIDITY (POP3, Maildir) is still unique', async () => {
        const store = await open();
        const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        const pop = { key: { identity: 'legacy', mailbox: '', uidValidity: null } };
        const first = (await store.recordReceived(runId, [message('UIDL-1', pop)], { archive: false })).get('UIDL-1');
        const second = (await store.recordReceived(runId, [message('UIDL-1', pop)], { archive: false })).get('UIDL-1');
        assert.equal(first, second);
        const found = await store.findByUids({ identity: 'legacy', mailbox: '', uidValidity: null }, ['UIDL-1']);
        assert.equal(found.get('UIDL-1')?.uidValidity, null);
        assert.equal(found.get('UIDL-1')?.protocol, 'pop3');
        assert.equal((await store.history({ account: 'legacy' })).messages.length, 1);
      });

      it('findRenumbered looks in one mailbox of one identity, under other UIDVALIDITYs, on the server only', async () => {
        const store = await open();
        const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        const refs = await store.recordReceived(
          runId,
          [
            message('1', { fingerprint: 'fp-a', key: { uidValidity: '9' } }),
            message('2', { fingerprint: 'fp-a', key: { uidValidity: '9' } }),
            message('3', { fingerprint: 'fp-b' }),
            message('7', { fingerprint: 'fp-c', key: { mailbox: 'Archive', uidValidity: '9' } }),
            message('8', { fingerprint: 'fp-d', key: { identity: 'sales', uidValidity: '9' } }),
            message('9', { fingerprint: 'fp-e', key: { uidValidity: '9' } }),
          ],
          { archive: false },
        );
        await store.recordHandled(refs.get('9')!, decide('delete'));
        await store.markDone([refs.get('9')!]);
        const where = { identity: 'support', mailbox: 'INBOX', uidValidity: '1700000000' };
        const found = await store.findRenumbered(where, ['fp-a', 'fp-b', 'fp-c', 'fp-d', 'fp-e', 'fp-zzz']);
        assert.deepEqual([...found.keys()], ['fp-a'], 'same key, other folder, other identity and deleted rows are left out');
        assert.deepEqual(found.get('fp-a')?.map((record) => record.uid), ['1', '2']);
        assert.equal(found.get('fp-a')?.[0]?.rawHash, createHash('sha256').update('Subject: 1\r\n\r\nbody 1\r\n').digest('hex'));
        assert.equal((await store.findRenumbered(where, [])).size, 0);
      });

      it('pendingDecisions lists handled messages of one mailbox, oldest first', async () => {
        const clock = manualClock();
        const { store, runId, ref } = await withReceived(['1', '2', '3', '4'], { now: clock.now });
        const other = (await store.recordReceived(runId, [message('1', { key: { mailbox: 'Other' } })], { archive: false })).get('1') ?? -1;
        for (const uid of ['3', '1', '4']) {
          clock.advance(10);
          await store.recordHandled(ref(uid), decide('delete'));
        }
        await store.recordHandled(other, decide('delete'));
        await store.markDone([ref('4')]);
        assert.deepEqual((await store.pendingDecisions('support', 'INBOX')).map((r) => r.uid), ['3', '1']);
        assert.deepEqual((await store.pendingDecisions('support', 'Other')).map((r) => r.ref), [other]);
        assert.deepEqual(await store.pendingDecisions('sales', 'INBOX'), []);
      });

      it('keptBefore lists kept messages handled by the cutoff; markExpired takes them off the server', async () => {
        const clock = manualClock();
        const { store, ref } = await withReceived(['keep', 'seen', 'late', 'deleted', 'pending'], { now: clock.now });
        await store.recordHandled(ref('keep'), decide('keep'));
        await store.recordHandled(ref('seen'), { ...decide('markSeen'), extras: { flags: ['$Done'], unflags: [], copyTo: undefined } });
        await store.recordHandled(ref('deleted'), decide('delete'));
        await store.recordHandled(ref('pending'), decide('keep'));
        clock.advance(DAY);
        await store.recordHandled(ref('late'), decide('keep'));
        await store.markDone([ref('keep'), ref('seen'), ref('late'), ref('deleted')]);
        const where = { identity: 'support', mailbox: 'INBOX', uidValidity: '1700000000' };
        assert.deepEqual((await store.keptBefore(where, T0 + 1)).map((r) => r.uid), ['keep', 'seen']);
        assert.deepEqual(await store.keptBefore({ ...where, uidValidity: '5' }, T0 + 1), []);

        clock.advance(1000);
        await store.markExpired([ref('keep'), ref('pending')]);
        const expired = await store.get(ref('keep'));
        assert.deepEqual([expired?.onServer, expired?.expiredAt, expired?.updatedAt], [false, T0 + DAY + 1000, T0 + DAY + 1000]);
        const pending = await store.get(ref('pending'));
        assert.deepEqual([pending?.state, pending?.onServer, pending?.expiredAt], ['handled', true, null], 'only done rows expire');
        assert.deepEqual((await store.keptBefore(where, T0 + DAY)).map((r) => r.uid), ['seen', 'late']);
        await store.markExpired([]);
      });

      it('legacy rows are adopted by the first matching mailbox, once, keeping a key the identity has', async () => {
        const store = await open();
        const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        const legacy = { identity: 'legacy:support' };
        const refs = await store.recordReceived(
          runId,
          [message('1', { key: legacy }), message('2', { key: legacy }), message('3', { key: { ...legacy, mailbox: 'Other' } })],
          { archive: false },
        );
        const own = (await store.recordReceived(runId, [message('2', { key: { identity: 'imap://a@h/INBOX' } })], { archive: false })).get('2');
        const where = { identity: 'imap://a@h/INBOX', mailbox: 'INBOX' };
        assert.equal(await store.adoptLegacyRows(where, { account: 'support', protocol: 'pop3' }), 0, 'another protocol');
        assert.equal(await store.adoptLegacyRows(where, { account: 'support', protocol: 'imap' }), 0, 'once per identity and process');
        const fresh = await reopen(store);
        assert.equal(await fresh.adoptLegacyRows(where, { account: 'support', protocol: 'imap' }), 1);
        assert.equal((await fresh.get(refs.get('1')!))?.identity, 'imap://a@h/INBOX');
        assert.equal((await fresh.get(refs.get('2')!))?.identity, 'legacy:support', 'its key is taken: it stays legacy');
        assert.equal((await fresh.get(own!))?.identity, 'imap://a@h/INBOX');
        assert.equal((await fresh.get(refs.get('3')!))?.identity, 'legacy:support', 'another folder');
      });

      it('a batch is one transaction: one bad message records none of them', async () => {
        const { store, runId } = await withReceived(['1']);
        const bad = { ...message('3'), protocol: 'smtp' } as unknown as ReceivedMessage;
        // A small copy and a large one (a backend may keep them apart): neither is kept.
        const batch = [message('2'), message('4', { raw: bytes(3 * 1024 * 1024) }), bad];
        await assertStoreError(() => store.recordReceived(runId, batch, { archive: true }));
        assert.equal((await store.findByUids(key(''), ['2', '3', '4'])).size, 0);
        assert.equal((await store.findByUids(key(''), ['1'])).size, 1);
      });

      it('markDone is one transaction; an unknown ref is an error and changes nothing', async () => {
        const { store, ref } = await withReceived(['1']);
        await store.recordHandled(ref('1'), decide('delete'));
        await assertStoreError(() => store.markDone([ref('1'), 424_242]), 'no message with ref 424242');
        assert.equal((await store.get(ref('1')))?.state, 'handled');
        await assertStoreError(() => store.recordHandled(424_242, decide('keep')), 'no message with ref 424242');
        await assertStoreError(() => store.recordFailed(424_242, 'x', 3), 'no message with ref 424242');
        await assertStoreError(() => store.recordActionFailed(424_242, 'x', 3), 'no message with ref 424242');
        assert.equal(await store.get(424_242), undefined);
        await store.markDone([]);
      });
    });

    describe('baselines', () => {
      it('a first run takes its baseline once: skipped rows for what the ledger does not know', async () => {
        const store = await open();
        const where = { identity: 'support', mailbox: 'INBOX' };
        assert.equal(await store.isFirstRun(where.identity, where.mailbox), true);
        const runId = await store.beginRun({ pid: 1, command: 'baseline', dryRun: false });
        const known = (await store.recordReceived(runId, [message('3')], { archive: false })).get('3')!;
        assert.equal(await store.isFirstRun(where.identity, where.mailbox), false, 'a ledger row counts');
        assert.equal(await store.isFirstRun(where.identity, 'Other'), true);
        assert.equal(await store.recordBaseline(runId, { identity: 'support', mailbox: 'Other' }, []), 0);
        assert.equal(await store.isFirstRun(where.identity, 'Other'), false, 'an empty baseline still counts');

        assert.equal(await store.recordBaseline(runId, where, [message('20'), message('3'), message('21')]), 2);
        const rows = await store.findByUids(key(''), ['3', '20', '21']);
        assert.equal(rows.get('3')?.ref, known);
        assert.equal(rows.get('3')?.state, 'received', 'a known message keeps its row');
        const skipped = rows.get('20');
        assert.deepEqual(
          [skipped?.state, skipped?.attempts, skipped?.onServer, skipped?.hasRaw, skipped?.sender, skipped?.subject, skipped?.messageId, skipped?.size],
          ['skipped', 0, true, false, null, null, '<20@example.com>', 1234],
        );
        assert.equal(await store.recordBaseline(runId, where, [message('20')]), 0, 'taken twice: nothing new');
        assert.equal(await store.release(skipped!.ref), true);
        assert.equal((await store.get(skipped!.ref))?.state, 'failed');
      });
    });

    describe('archive', () => {
      it('keeps raw bytes exactly: 5 MB of every byte value, a few bytes, and none', async () => {
        const big = bytes(5 * 1024 * 1024);
        const small = Buffer.from([0, 13, 10, 0xff, 0x80, 0]);
        const store = await open();
        const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        const refs = await store.recordReceived(
          runId,
          [message('big', { raw: big }), message('small', { raw: small }), message('empty', { raw: Buffer.alloc(0) })],
          { archive: true },
        );
        const bigRef = refs.get('big') ?? -1;
        assert.ok((await store.raw(bigRef))?.equals(big));
        assert.ok((await store.raw(refs.get('small') ?? -1))?.equals(small));
        assert.equal((await store.raw(refs.get('empty') ?? -1))?.length, 0);
        assert.equal((await store.get(bigRef))?.hasRaw, true);
        assert.equal((await store.findByUids(key(''), ['big'])).get('big')?.hasRaw, true);
        assert.equal(new Set(big).size, 256);
      });

      it('archives nothing with archive: false or without raw, and keeps an earlier copy', async () => {
        const store = await open();
        const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        const refs = await store.recordReceived(runId, [message('1'), { ...message('2'), raw: undefined }], { archive: false });
        assert.equal((await store.get(refs.get('1') ?? -1))?.hasRaw, false);
        assert.equal(await store.raw(refs.get('1') ?? -1), undefined);
        await store.recordReceived(runId, [{ ...message('2'), raw: undefined }], { archive: true });
        assert.equal((await store.get(refs.get('2') ?? -1))?.hasRaw, false);
        await store.recordReceived(runId, [message('1', { raw: Buffer.from('first') })], { archive: true });
        await store.recordReceived(runId, [message('1', { raw: Buffer.from('second') })], { archive: true });
        assert.equal((await store.raw(refs.get('1') ?? -1))?.toString(), 'second');
        await store.recordReceived(runId, [message('1', { raw: Buffer.from('third') })], { archive: false });
        assert.equal((await store.raw(refs.get('1') ?? -1))?.toString(), 'second');
        assert.equal(await store.raw(123_456), undefined);
      });

      it('a message received again replaces its copy, small by large and large by small', async () => {
        const store = await open();
        const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        const ref = (await store.recordReceived(runId, [message('1', { raw: bytes(2 * 1024 * 1024) })], { archive: true })).get('1') ?? -1;
        const small = bytes(20 * 1024, 3);
        await store.recordReceived(runId, [message('1', { raw: small })], { archive: true });
        assert.ok((await store.raw(ref))?.equals(small));
        const big = bytes(3 * 1024 * 1024, 5);
        await store.recordReceived(runId, [message('1', { raw: big })], { archive: true });
        assert.ok((await store.raw(ref))?.equals(big));
      });

      it('a batch that fails keeps the earlier copies as they were', async () => {
        const store = await open();
        const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        const kept = bytes(2 * 1024 * 1024, 9);
        const keptRef = (await store.recordReceived(runId, [message('kept', { raw: kept })], { archive: true })).get('kept') ?? -1;
        const bad = { ...message('bad'), protocol: 'smtp' } as unknown as ReceivedMessage;
        await assertStoreError(() => store.recordReceived(runId, [message('kept', { raw: bytes(1000) }), bad], { archive: true }));
        assert.ok((await store.raw(keptRef))?.equals(kept));
      });
    });

    describe('purge', () => {
      it('drops raw copies after retentionDays and rows only when done, off the server and older than ledgerDays', async () => {
        const clock = manualClock();
        const store = await open({ now: clock.now });
        const oldRun = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        const uids = ['deleted', 'moved', 'kept', 'seen', 'failed', 'quarantined', 'handled', 'received'];
        const refs = await store.recordReceived(oldRun, uids.map((uid) => message(uid, uid === 'moved' ? { raw: bytes(2 * 1024 * 1024) } : {})), { archive: true });
        const ref = (uid: string) => refs.get(uid) ?? -1;
        await store.recordHandled(ref('deleted'), decide('delete'));
        await store.recordHandled(ref('moved'), decide('move', 'Archive'));
        await store.recordHandled(ref('kept'), decide('keep'));
        await store.recordHandled(ref('seen'), decide('markSeen'));
        await store.recordHandled(ref('handled'), decide('delete'));
        await store.markDone([ref('deleted'), ref('moved'), ref('kept'), ref('seen')]);
        await store.recordFailed(ref('failed'), 'x', 5);
        await store.recordFailed(ref('quarantined'), 'x', 1);
        await store.endRun(oldRun, 0);

        clock.advance(10 * DAY);
        const newRun = await store.beginRun({ pid: 2, command: 'run', dryRun: false });
        const fresh = (await store.recordReceived(newRun, [message('fresh')], { archive: true })).get('fresh') ?? -1;
        await store.recordHandled(fresh, decide('delete'));
        await store.markDone([fresh]);
        await store.endRun(newRun, 0);

        assert.deepEqual(await store.purge({ retentionDays: 30, ledgerDays: 30 }), { rawDeleted: 0, rowsDeleted: 0, runsDeleted: 0 });

        // A preview counts what a purge would delete, and deletes nothing.
        assert.deepEqual(await store.previewPurge({ retentionDays: 7, ledgerDays: 7 }), { rawDeleted: uids.length, rowsDeleted: 2, runsDeleted: 1 });
        assert.ok(await store.raw(ref('moved')));
        assert.equal((await store.history({})).runs.length, 2);

        // Retention 7: the old raw copies go, rows stay (ledger 30).
        assert.deepEqual(await store.purge({ retentionDays: 7, ledgerDays: 30 }), { rawDeleted: uids.length, rowsDeleted: 0, runsDeleted: 0 });
        assert.equal((await store.get(ref('kept')))?.hasRaw, false);
        assert.equal(await store.raw(ref('failed')), undefined);
        assert.equal(await store.raw(ref('moved')), undefined);
        assert.ok(await store.raw(fresh));

        // Ledger 7: only the old rows that are done and off the server go; the old run too.
        assert.deepEqual(await store.purge({ retentionDays: 7, ledgerDays: 7 }), { rawDeleted: 0, rowsDeleted: 2, runsDeleted: 1 });
        assert.equal(await store.get(ref('deleted')), undefined);
        assert.equal(await store.get(ref('moved')), undefined);
        for (const uid of ['kept', 'seen', 'failed', 'quarantined', 'handled', 'received']) {
          assert.ok(await store.get(ref(uid)), `${uid} stays`);
          assert.equal((await store.get(ref(uid)))?.runId, null, `${uid}: its run was purged`);
        }
        assert.equal((await store.get(fresh))?.state, 'done');
        assert.deepEqual((await store.history({})).runs.map((run) => run.id), [newRun]);

        // Retention 0: every raw copy goes, however new.
        assert.deepEqual(await store.purge({ retentionDays: 0, ledgerDays: 7 }), { rawDeleted: 1, rowsDeleted: 0, runsDeleted: 0 });
        assert.equal((await store.get(fresh))?.hasRaw, false);

        // A purged ref is never handed out again.
        const next = (await store.recordReceived(newRun, [message('next')], { archive: false })).get('next') ?? -1;
        assert.ok(next > fresh);
      });

      it('counts the raw copies of purged rows, and keeps a run still going in this process', async () => {
        const clock = manualClock();
        const store = await open({ now: clock.now });
        const running = await store.beginRun({ pid: 1, command: 'watch', dryRun: false });
        const ref = (await store.recordReceived(running, [message('1')], { archive: true })).get('1') ?? -1;
        await store.recordHandled(ref, decide('delete'));
        await store.markDone([ref]);
        clock.advance(100 * DAY);
        assert.deepEqual(await store.purge({ retentionDays: 365, ledgerDays: 30 }), { rawDeleted: 1, rowsDeleted: 1, runsDeleted: 0 });
        await store.recordAccountRun(running, { account: 'support', status: 'ok', fetched: 1, processed: 1, failed: 0, transitions: 1, error: null, durationMs: 5 });
        await store.endRun(running, 0);
        assert.equal((await store.history({})).runs[0]?.accounts.length, 1);
      });

      it('rejects a negative number of days', async () => {
        const store = await open();
        await assert.rejects(() => store.purge({ retentionDays: -1, ledgerDays: 30 }), RangeError);
        await assert.rejects(() => store.previewPurge({ retentionDays: 1, ledgerDays: Number.NaN }), RangeError);
      });
    });

    describe('history', () => {
      it('lists runs newest first with their accounts, and messages newest first, filtered and limited', async () => {
        const clock = manualClock();
        const store = await open({ now: clock.now });
        const run1 = await store.beginRun({ pid: 11, command: 'run', dryRun: true });
        await store.recordReceived(run1, [message('1'), message('2', { key: { identity: 'sales' } })], { archive: false });
        await store.recordAccountRun(run1, { account: 'support', status: 'ok', fetched: 1, processed: 1, failed: 0, transitions: 0, error: null, durationMs: 12.6 });
        await store.recordAccountRun(run1, { account: 'sales', status: 'error', fetched: 0, processed: 0, failed: 0, transitions: 0, error: 'login failed', durationMs: 3 });
        await store.endRun(run1, 3);
        clock.advance(60_000);
        const run2 = await store.beginRun({ pid: 12, command: 'run', dryRun: false });
        const refs = await store.recordReceived(run2, [message('3'), message('4')], { archive: false });
        await store.recordFailed(refs.get('4') ?? -1, 'boom', 3);
        await store.recordAccountRun(run2, { account: 'support', status: 'busy', fetched: 0, processed: 0, failed: 0, transitions: 0, error: null, durationMs: 0 });
        clock.advance(60_000);
        const run3 = await store.beginRun({ pid: 13, command: 'run', dryRun: false });
        await store.recordAccountRun(run3, { account: 'sales', status: 'ok', fetched: 0, processed: 0, failed: 0, transitions: 0, error: null, durationMs: 1 });
        await store.recordAccountRun(987_654, { account: 'sales', status: 'ok', fetched: 0, processed: 0, failed: 0, transitions: 0, error: null, durationMs: 1 });

        const all = await store.history({});
        assert.deepEqual(all.runs.map((run) => run.id), [run3, run2, run1]);
        assert.deepEqual(all.runs[2], {
          id: run1,
          startedAt: T0,
          endedAt: T0,
          pid: 11,
          command: 'run',
          dryRun: true,
          exitCode: 3,
          accounts: [
            { account: 'support', status: 'ok', fetched: 1, processed: 1, failed: 0, transitions: 0, error: null, durationMs: 13 },
            { account: 'sales', status: 'error', fetched: 0, processed: 0, failed: 0, transitions: 0, error: 'login failed', durationMs: 3 },
          ],
        });
        assert.equal(all.runs[1]?.endedAt, null);
        assert.deepEqual(all.messages.map((m) => m.uid), ['4', '3', '2', '1']);

        const support = await store.history({ account: 'support' });
        assert.deepEqual(support.runs.map((run) => run.id), [run2, run1]);
        assert.deepEqual(support.runs[1]?.accounts.map((a) => a.account), ['support']);
        assert.deepEqual(support.messages.map((m) => m.uid), ['4', '3', '1']);

        const since = await store.history({ since: T0 + 60_000 });
        assert.deepEqual(since.runs.map((run) => run.id), [run3, run2]);
        assert.deepEqual(since.messages.map((m) => m.uid), ['4', '3']);

        assert.deepEqual((await store.history({ state: 'failed' })).messages.map((m) => m.uid), ['4']);
        assert.deepEqual((await store.history({ account: 'sales', state: 'failed' })).messages, []);
        const limited = await store.history({ limit: 1 });
        assert.equal(limited.runs.length, 1);
        assert.equal(limited.messages.length, 1);
      });

      it('returns 50 of each by default', async () => {
        const store = await open();
        const runId = await store.beginRun({ pid: 1, command: 'run', dryRun: false });
        for (let i = 0; i < 55; i++) await store.beginRun({ pid: i, command: 'run', dryRun: false });
        await store.recordReceived(runId, Array.from({ length: 60 }, (_, i) => message(String(i))), { archive: false });
        const history = await store.history({});
        assert.equal(history.runs.length, 50);
        assert.equal(history.messages.length, 50);
      });
    });

    describe('leases', () => {
      /** One store opened by processes on two hosts, sharing a manual clock. */
      async function twoHosts() {
        const clock = manualClock();
        const a = await open({ now: clock.now, hostname: 'host-a' });
        const b = await reopen(a, { now: clock.now, hostname: 'host-b' });
        return { clock, a, b };
      }

      it('refuses a second holder with who has it and since when; release lets it in', async () => {
        const { clock, a, b } = await twoHosts();
        const first = await a.acquireLease('support', { ttlMs: 60_000 });
        assert.ok(first.ok);
        assert.equal(first.lease.identity, 'support');
        clock.advance(1000);
        assert.deepEqual(await b.acquireLease('support', { ttlMs: 60_000 }), { ok: false, holder: { pid: process.pid, host: 'host-a', since: T0 } });
        assert.equal((await b.acquireLease('sales', { ttlMs: 60_000 })).ok, true, 'another mailbox is free');
        await first.lease.release();
        await first.lease.release();
        assert.equal(await first.lease.renew(), false, 'released');
        assert.equal((await b.acquireLease('support', { ttlMs: 60_000 })).ok, true);
        await assert.rejects(() => a.acquireLease('x', { ttlMs: 0 }), RangeError);
      });

      it('takes over a lease past its expiry; the old holder can then neither renew nor release it', async () => {
        const { clock, a, b } = await twoHosts();
        const old = await a.acquireLease('support', { ttlMs: 60_000 });
        assert.ok(old.ok);
        clock.advance(30_000);
        assert.equal(await old.lease.renew(), true); // expires at T0 + 90 s now
        clock.advance(60_000);
        assert.equal((await b.acquireLease('support', { ttlMs: 60_000 })).ok, false, 'renewed: not expired yet');
        clock.advance(1);
        const taken = await b.acquireLease('support', { ttlMs: 60_000 });
        assert.ok(taken.ok, 'past its expiry');
        assert.notEqual(taken.lease.token, old.lease.token);

        clock.advance(5000);
        assert.equal(await taken.lease.renew(), true); // expires at T0 + 90_001 + 5000 + 60_000 now
        clock.advance(5000);
        // Had the old token's renewal counted, the lease would run 5 s longer than the holder's.
        assert.equal(await old.lease.renew(), false);
        await old.lease.release();
        const holder = { ok: false, holder: { pid: process.pid, host: 'host-b', since: T0 + 90_001 } };
        assert.deepEqual(await a.acquireLease('support', { ttlMs: 1 }), holder, 'the old token released nothing');
        clock.advance(55_000);
        assert.deepEqual(await a.acquireLease('support', { ttlMs: 1 }), holder, 'the renewal counts');
        clock.advance(1);
        assert.equal((await a.acquireLease('support', { ttlMs: 1 })).ok, true, 'the old token extended nothing');
      });

      it('the same process takes its own lease again', async () => {
        const store = await open();
        const first = await store.acquireLease('support', { ttlMs: 60_000 });
        const again = await store.acquireLease('support', { ttlMs: 60_000 });
        assert.ok(first.ok && again.ok);
        await first.lease.release(); // the older token: no effect
        const other = await reopen(store, { hostname: 'elsewhere' });
        assert.equal((await other.acquireLease('support', { ttlMs: 60_000 })).ok, false);
      });

      it('a lease held by a process that exited is taken over on its host (real pid), never judged from another host', async () => {
        const store = await open();
        const child = startStoreChild(backend.target(store));
        await child.line(); // ready
        child.send('lease support 60000');
        assert.deepEqual(JSON.parse(await child.line()), { ok: true, pid: child.pid });
        const busy = await store.acquireLease('support', { ttlMs: 60_000 });
        assert.equal(busy.ok, false, 'the child is alive and holds it');
        if (!busy.ok) assert.equal(busy.holder.pid, child.pid);
        await child.exit();
        const believed = await reopen(store, { isAlive: () => true });
        assert.equal((await believed.acquireLease('support', { ttlMs: 60_000 })).ok, false, 'a pid believed alive keeps it');
        const far = await reopen(store, { hostname: 'far-host', isAlive: () => false });
        assert.equal((await far.acquireLease('support', { ttlMs: 60_000 })).ok, false, 'a pid on another host is never judged');
        assert.equal((await store.acquireLease('support', { ttlMs: 60_000 })).ok, true, 'its pid is dead now');
      });

      it('two processes racing for one mailbox: exactly one wins', async () => {
        const store = await open();
        await assertOneWinsTheRace(backend.target(store));
      });
    });
  });
}

/** Two processes on `target` ask for one lease at once: exactly one gets it, the other is told who has it. */
export async function assertOneWinsTheRace(target: string): Promise<void> {
  const children = [startStoreChild(target), startStoreChild(target)];
  await Promise.all(children.map((child) => child.line()));
  for (const child of children) child.send('lease support 60000');
  const results = (await Promise.all(children.map((child) => child.line()))).map(
    (line) => JSON.parse(line) as { ok: boolean; pid: number; holder?: { pid: number } },
  );
  await Promise.all(children.map((child) => child.exit()));
  const winners = results.filter((result) => result.ok);
  const losers = results.filter((result) => !result.ok);
  assert.equal(winners.length, 1, JSON.stringify(results));
  assert.equal(losers[0]?.holder?.pid, winners[0]?.pid);
}

interface StoreChild {
  pid: number;
  line(): Promise<string>;
  send(line: string): void;
  exit(): Promise<void>;
}

/** test/fixtures/store/store-child.ts in its own node process, on `target`. */
export function startStoreChild(target: string): StoreChild {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', storeChild, target], { cwd: repo, stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = once(child, 'exit');
  assert.ok(child.pid !== undefined);
  return {
    pid: child.pid,
    async line() {
      const next = await Promise.race([lines.next(), exited.then(() => ({ done: true, value: undefined }))]);
      if (next.done || next.value === undefined) throw new Error(`store child exited early: ${stderr}`);
      return next.value;
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    async exit() {
      child.stdin.end();
      const [code] = await exited;
      assert.equal(code, 0, stderr);
    },
  };
}
