/**
 * One account's cycle in process, without a server: `pollAccount` and `runOnce` over a real
 * Maildir in a temp folder, a real SQLite store, a handler function and a reporter that
 * collects. The CLI tests show the same rules from outside; here each step is seen call by
 * call: the order of ledger writes and server actions, decisions recovered without the
 * handler, retries and quarantine on the store's clock, deletes that count only once the
 * server confirms them.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { AccountConfig } from '../src/config/types.js';
import { ConnectionError } from '../src/errors.js';
import type { Handler, HandlerResult } from '../src/handler/types.js';
import { createMaildirMailbox } from '../src/mailbox/maildir.js';
import type { Disposition, Mailbox } from '../src/mailbox/types.js';
import { pollAccount, type CycleDeps, type CycleResult } from '../src/poll/cycle.js';
import { runOnce } from '../src/poll/run.js';
import { createJsonReporter } from '../src/report/json.js';
import { createTextReporter } from '../src/report/text.js';
import type { MessageEvent, ReportEvent } from '../src/report/types.js';
import { openStore } from '../src/store/open.js';
import type { MessageState, Store } from '../src/store/types.js';
import { accountConfig } from './helpers/account.js';
import { FIXTURES } from './helpers/cli.js';
import { readMaildir } from './helpers/maildir-state.js';
import { makeTempDir } from './helpers/temp.js';

const T0 = Date.UTC(2030, 5, 1, 12, 0, 0);
const MINUTE = 60_000;

const stores: Store[] = [];
after(async () => {
  for (const store of stores) await store.close();
});

/**
 * The uid of a ref, read through a connection of its own. Its statements stay reachable for
 * the run (better-sqlite3 12 on Node 24: see CLOSED_STORES in src/store/sqlite-store.ts).
 */
const READERS: unknown[] = [];
function uidReader(file: string): (ref: number) => string {
  let select: Database.Statement<[number], string> | undefined;
  return (ref) => {
    select ??= new Database(file, { readonly: true }).prepare<[number], string>('SELECT uid FROM messages WHERE ref = ?').pluck();
    READERS.push(select);
    return select.get(ref) ?? `ref ${ref}`;
  };
}

/** A Maildir holding one message per subject in new/, oldest first; each file is named after its subject, so uid = subject. */
async function makeMaildir(root: string, subjects: string[]): Promise<string> {
  const path = join(root, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  for (const [index, subject] of subjects.entries()) {
    const file = join(path, 'new', subject);
    await writeFile(file, `From: a@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@cycle.test>\r\n\r\nbody of ${subject}\r\n`);
    const mtime = new Date(T0 - (subjects.length - index) * MINUTE);
    await utimes(file, mtime, mtime);
  }
  return path;
}

/**
 * Stand-in wrappers record the calls that matter for the order, in one list with the
 * handler's: `store.recordHandled b move`, `mailbox.apply delete a, keep c`, `handler b`.
 */
function recorded<T extends object>(label: string, target: T, calls: string[], describe: Record<string, (...args: never[]) => string>): T {
  return new Proxy(target, {
    get(object, key) {
      const value: unknown = Reflect.get(object, key);
      if (typeof value !== 'function') return value;
      const describeCall = describe[String(key)];
      if (describeCall === undefined) return value.bind(object);
      return (...args: never[]) => {
        const detail = describeCall(...args);
        calls.push(detail === '' ? `${label}.${String(key)}` : `${label}.${String(key)} ${detail}`);
        return value.apply(object, args);
      };
    },
  });
}

type Results = Record<string, HandlerResult | Error>;

/** A handler that returns (or throws) what `results` says for the message's subject. */
function handlerOf(results: Results): Handler {
  return (message) => {
    const result = results[message.subject ?? ''];
    if (result instanceof Error) throw result;
    return result;
  };
}

interface CycleRun {
  /** Minutes after T0 on the store's clock. */
  at?: number;
  /** Wrap the Maildir adapter (a server that confirms later, one that fails). */
  mailbox?: (maildir: Mailbox) => Mailbox;
}

/** A Maildir account with its store; `cycle()` runs one pollAccount over it. */
async function prepare(subjects: string[], overrides: Partial<AccountConfig> = {}) {
  const root = await makeTempDir('cycle');
  const path = await makeMaildir(root, subjects);
  const clock = { now: T0 };
  const store = openStore(join(root, 'mailpoll.db'), { now: () => clock.now, notice: () => undefined });
  stores.push(store);
  const account = accountConfig({ name: 'local', protocol: 'maildir', tls: 'none', path, onlyUnseen: false, after: 'keep', ...overrides });
  const calls: string[] = [];
  const events: MessageEvent[] = [];
  const reporter = createJsonReporter((line) => {
    const event = JSON.parse(line) as ReportEvent;
    if (event.type === 'message') events.push(event);
  });
  // The store is asynchronous and a call's description is not: a reader of the file of its own.
  const uidOf = uidReader(join(root, 'mailpoll.db'));
  const watchedStore = recorded('store', store, calls, {
    recordReceived: (_runId: number, messages: Array<{ key: { uid: string } }>) => messages.map((m) => m.key.uid).join(' '),
    recordHandled: (ref: number, decision: { action: string }) => `${uidOf(ref)} ${decision.action}`,
    recordFailed: (ref: number) => uidOf(ref),
    recordActionFailed: (ref: number) => uidOf(ref),
    sync: () => '',
    markDone: (refs: number[]) => refs.map(uidOf).join(' '),
  });

  return {
    path,
    store,
    account,
    calls,
    events,
    /** One pollAccount at `run.at` minutes after T0; `calls` then holds this cycle's calls. */
    async cycle(results: Results, run: CycleRun = {}): Promise<CycleResult> {
      clock.now = T0 + (run.at ?? 0) * MINUTE;
      calls.length = 0;
      const maildir = createMaildirMailbox(account, { warn: () => undefined });
      const mailbox = recorded('mailbox', run.mailbox?.(maildir) ?? maildir, calls, {
        present: (uids: string[]) => uids.join(' '),
        apply: (dispositions: Disposition[]) => dispositions.map((d) => `${d.action} ${d.uid}`).join(', '),
        commit: () => '',
        close: () => '',
      });
      const handle = handlerOf(results);
      const handler: Handler = (message, context) => {
        calls.push(`handler ${message.subject}`);
        return handle(message, context);
      };
      const deps: CycleDeps = {
        mailbox,
        handler: { fn: handler, parse: 'full' },
        reporter,
        store: watchedStore,
        runId: await store.beginRun({ pid: process.pid, command: 'test', dryRun: false }),
        archive: false,
        now: () => clock.now,
      };
      return pollAccount(account, deps, { dryRun: false });
    },
    /** The ledger's state of each message, by uid. */
    async ledger(): Promise<Record<string, MessageState>> {
      return Object.fromEntries((await store.history({ limit: 1000 })).messages.map((record) => [record.uid, record.state]));
    },
    /** Where each message is now: `folder/flags` by subject ('' for INBOX). */
    async files(): Promise<Record<string, string>> {
      return Object.fromEntries((await readMaildir(path)).map((m) => [m.subject, `${m.folder}/${m.flags}`]));
    },
    /** Message events since the last call, as [subject, action, status]. */
    take(): Array<[string | null, string, string]> {
      return events.splice(0).map((e) => [e.subject, e.action, e.status]);
    },
  };
}

describe('the order that keeps mail safe', () => {
  test('received for the batch, then per message handler -> handled, then one barrier, the server actions, done', async () => {
    const box = await prepare(['a', 'b', 'c', 'd']);
    const results: Results = { a: 'delete', b: { action: 'move', folder: 'Archive' }, c: 'keep', d: 'markSeen' };
    let atAction: { ledger: Record<string, MessageState>; files: Record<string, string> } | undefined;
    const result = await box.cycle(results, {
      mailbox: (maildir) => ({
        ...maildir,
        async apply(dispositions) {
          atAction = { ledger: await box.ledger(), files: await box.files() };
          return maildir.apply(dispositions);
        },
      }),
    });

    assert.equal(result.status, 'ok', String(result.error));
    assert.deepEqual(box.calls, [
      'store.recordReceived a b c d',
      'handler a',
      'store.recordHandled a delete',
      'handler b',
      'store.recordHandled b move',
      'handler c',
      'store.recordHandled c keep',
      'handler d',
      'store.recordHandled d markSeen',
      'store.sync',
      'mailbox.apply delete a, move b, keep c, markSeen d',
      'store.markDone a b c d',
      'mailbox.close',
    ]);
    // Nothing on the server changed before every decision was committed.
    assert.deepEqual(atAction, {
      ledger: { a: 'handled', b: 'handled', c: 'handled', d: 'handled' },
      files: { a: '/', b: '/', c: '/', d: '/' },
    });
    assert.deepEqual(await box.ledger(), { a: 'done', b: 'done', c: 'done', d: 'done' });
    assert.deepEqual(await box.files(), { b: 'Archive/', c: '/', d: '/S' });
    assert.deepEqual(box.take(), [
      ['a', 'delete', 'ok'],
      ['b', 'move', 'ok'],
      ['c', 'keep', 'ok'],
      ['d', 'markSeen', 'ok'],
    ]);
    assert.deepEqual([result.fetched, result.processed, result.failed], [4, 4, 0]);

    // Done is done: the next cycle lists nothing and calls no handler.
    await box.cycle(results, { at: 1 });
    assert.deepEqual(box.calls, ['mailbox.close']);
  });

  test('a failing handler costs its message an attempt, not the batch: the others are carried out', async () => {
    const box = await prepare(['a', 'b']);
    const result = await box.cycle({ a: new Error('boom'), b: 'delete' });
    assert.equal(result.status, 'ok');
    assert.deepEqual(box.calls, [
      'store.recordReceived a b',
      'handler a',
      'store.recordFailed a',
      'handler b',
      'store.recordHandled b delete',
      'store.sync',
      'mailbox.apply delete b',
      'store.markDone b',
      'mailbox.close',
    ]);
    assert.deepEqual(box.take(), [
      ['a', 'keep', 'failed'],
      ['b', 'delete', 'ok'],
    ]);
    assert.deepEqual(await box.ledger(), { a: 'failed', b: 'done' });
    assert.deepEqual(await box.files(), { a: '/' });
  });
});

describe('recovery', () => {
  test('decisions recorded by a run that died before acting are carried out next cycle, without the handler', async () => {
    const box = await prepare(['a', 'b', 'c']);
    const results: Results = { a: 'delete', b: { action: 'move', folder: 'Done' }, c: 'delete' };
    // The process "dies" where the server actions would start: the decisions are committed.
    const died = await box.cycle(results, {
      mailbox: (maildir) => ({
        ...maildir,
        apply: () => Promise.reject(new Error('killed before the server action')),
      }),
    });
    assert.equal(died.status, 'error');
    assert.deepEqual(await box.ledger(), { a: 'handled', b: 'handled', c: 'handled' });
    assert.deepEqual(await box.files(), { a: '/', b: '/', c: '/' });
    box.take();
    // Meanwhile another program removed c: nothing left to do for it.
    await rm(join(box.path, 'new', 'c'));

    const next = await box.cycle({});
    assert.equal(next.status, 'ok', String(next.error));
    // c is gone: done with nothing to do; a and b: the barrier, their actions, done. No handler.
    assert.deepEqual(box.calls, ['mailbox.present a b c', 'store.markDone c', 'store.sync', 'mailbox.apply delete a, move b', 'store.markDone a b', 'mailbox.close']);
    assert.deepEqual(box.events.map((e) => [e.subject, e.action, e.status, e.recovered]), [
      ['a', 'delete', 'ok', true],
      ['b', 'move', 'ok', true],
    ]);
    assert.deepEqual(await box.ledger(), { a: 'done', b: 'done', c: 'done' });
    assert.deepEqual(await box.files(), { b: 'Done/' });
  });

  test('a refused server action keeps its decision: applied again after retryDelay, not handed to the handler again', async () => {
    const box = await prepare(['a'], { retryDelay: 10 * MINUTE, maxAttempts: 3 });
    // A file where the folder would be: the move is refused until it is gone.
    await writeFile(join(box.path, '.Blocked'), 'not a folder');
    const results: Results = { a: { action: 'move', folder: 'Blocked' } };

    const first = await box.cycle(results);
    assert.equal(first.failed, 1);
    assert.match(String(box.events[0]?.error), /^move failed: .*cannot create folder Blocked.*; the handler's decision is kept and applied again by a run after retryDelay$/);
    assert.deepEqual(box.take(), [['a', 'move', 'failed']]);
    assert.deepEqual(await box.ledger(), { a: 'handled' });

    // Before retryDelay has passed: left alone, counted as deferred.
    const early = await box.cycle(results, { at: 9 });
    assert.deepEqual([early.deferred, early.nextAttemptAt], [1, T0 + 10 * MINUTE]);
    assert.deepEqual(box.calls, ['mailbox.close']);

    await rm(join(box.path, '.Blocked'));
    const later = await box.cycle(results, { at: 10 });
    assert.equal(later.status, 'ok');
    assert.deepEqual(box.calls, ['mailbox.present a', 'store.sync', 'mailbox.apply move a', 'store.markDone a', 'mailbox.close']);
    assert.deepEqual(box.events.map((e) => [e.subject, e.status, e.recovered]), [['a', 'ok', true]]);
    assert.deepEqual(await box.files(), { a: 'Blocked/' });
  });
});

describe('quarantine', () => {
  test('a handler failing maxAttempts times, each after the doubling retryDelay, is quarantined and moved aside', async () => {
    const box = await prepare(['bad', 'good'], { retryDelay: 10 * MINUTE, maxAttempts: 3, quarantineFolder: 'Quarantine' });
    const results: Results = { bad: new Error('boom'), good: 'keep' };
    const handled = (): string[] => box.calls.filter((call) => call.startsWith('handler '));

    await box.cycle(results);
    assert.deepEqual(box.take(), [['bad', 'keep', 'failed'], ['good', 'keep', 'ok']]);
    assert.deepEqual(handled(), ['handler bad', 'handler good']);

    // Waits: 10 minutes after the first failure, 20 after the second.
    const schedule: Array<[number, 'deferred' | 'failed' | 'quarantined']> = [
      [9, 'deferred'],
      [10, 'failed'],
      [29, 'deferred'],
      [30, 'quarantined'],
    ];
    for (const [minutes, expected] of schedule) {
        const result = await box.cycle(results, { at: minutes });
      const label = `at +${minutes} min`;
      if (expected === 'deferred') {
        assert.equal(result.deferred, 1, label);
        assert.deepEqual(handled(), [], label);
        assert.deepEqual(box.take(), [], label);
        continue;
      }
      assert.deepEqual(handled(), ['handler bad'], label);
      const [event] = box.events;
      assert.deepEqual(box.take(), [['bad', expected === 'quarantined' ? 'move' : 'keep', expected]], label);
      if (expected === 'quarantined') {
        assert.match(String(event?.error), /^handler failed: boom \(attempt 3 of 3: quarantined; mailpoll retry \d+ releases it\)$/);
        assert.equal(event?.moveTo, 'Quarantine');
      }
    }
    assert.deepEqual(await box.ledger(), { bad: 'quarantined', good: 'done' });
    assert.deepEqual(await box.files(), { bad: 'Quarantine/', good: '/' });
    assert.equal((await box.store.quarantinedRefs({})).length, 1);

    // Much later: never handed over again.
    await box.cycle(results, { at: 24 * 60 });
    assert.deepEqual(handled(), []);
  });
});

/** Two ways a server confirms deletes after `apply`: IMAP's EXPUNGE (the session goes on), POP3's QUIT (it ends it). */
const CONFIRMED_LATER = [
  { name: 'at expunge (IMAP)', commitEndsSession: false, leftWhen: 'the expunge fails' },
  { name: 'at QUIT (POP3)', commitEndsSession: true, leftWhen: 'QUIT is not answered' },
] as const;

/**
 * The Maildir adapter as a server that only marks deletes in `apply` (`pending`) and carries
 * them out when `commit` confirms them, or fails to when `fail` is set.
 */
function confirmingLater(maildir: Mailbox, commitEndsSession: boolean, fail: boolean): Mailbox {
  const marked: Disposition[] = [];
  return {
    ...maildir,
    capabilities: { ...maildir.capabilities, commitEndsSession },
    async apply(dispositions) {
      const deletes = dispositions.filter((d) => d.action === 'delete');
      marked.push(...deletes);
      const others = await maildir.apply(dispositions.filter((d) => d.action !== 'delete'));
      return [...others, ...deletes.map((d) => ({ uid: d.uid, status: 'pending' as const }))];
    },
    async commit() {
      if (fail) throw new ConnectionError('local: connection lost before the server confirmed');
      const results = await maildir.apply(marked.splice(0));
      assert.ok(results.every((result) => result.status === 'done'));
      return results.map((result) => result.uid);
    },
  };
}

describe('deletes the server confirms later', () => {
  test('a Maildir delete is final at once: done right after the action', async () => {
    const box = await prepare(['a']);
    await box.cycle({ a: 'delete' });
    assert.deepEqual(box.calls.slice(-3), ['mailbox.apply delete a', 'store.markDone a', 'mailbox.close']);
    assert.deepEqual(await box.files(), {});
  });

  for (const { name, commitEndsSession, leftWhen } of CONFIRMED_LATER) {
    test(`${name}: done only after the confirmation; other actions are done at once`, async () => {
      const box = await prepare(['a', 'b']);
      const result = await box.cycle({ a: 'delete', b: 'markSeen' }, { mailbox: (maildir) => confirmingLater(maildir, commitEndsSession, false) });
      assert.equal(result.status, 'ok', String(result.error));
      const tail = box.calls.slice(box.calls.indexOf('mailbox.apply delete a, markSeen b'));
      assert.deepEqual(tail, ['mailbox.apply delete a, markSeen b', 'store.markDone b', 'mailbox.commit', 'store.markDone a', 'mailbox.close']);
      assert.deepEqual(await box.ledger(), { a: 'done', b: 'done' });
      assert.deepEqual(await box.files(), { b: '/S' });
    });

    test(`${name}: when ${leftWhen}, the delete stays decided and the next cycle carries it out without the handler`, async () => {
      const box = await prepare(['a']);
      const failed = await box.cycle({ a: 'delete' }, { mailbox: (maildir) => confirmingLater(maildir, commitEndsSession, true) });
      assert.equal(failed.status, 'error');
      assert.match(String(failed.error?.message), /connection lost before the server confirmed.* mailpoll carries out the 1 delete\(s\) on the next run, without calling the handler again\.$/);
      assert.deepEqual(box.take(), [['a', 'delete', 'ok']]);
      assert.deepEqual(await box.ledger(), { a: 'handled' });
      assert.deepEqual(await box.files(), { a: '/' });

        const next = await box.cycle({}, { at: 1 });
      assert.equal(next.status, 'ok', String(next.error));
      assert.ok(!box.calls.some((call) => call.startsWith('handler ')), box.calls.join('\n'));
      assert.deepEqual(box.events.map((e) => [e.subject, e.action, e.status, e.recovered]), [['a', 'delete', 'ok', true]]);
      assert.deepEqual(await box.ledger(), { a: 'done' });
      assert.deepEqual(await box.files(), {});
    });
  }
});

describe('runOnce', () => {
  const SPEC_HANDLER = join(FIXTURES, 'handlers', 'spec-from-subject.mjs');

  async function twoAccounts() {
    const root = await makeTempDir('run');
    const path = await makeMaildir(root, ['[1] "delete"', '[2] "keep"', '[3] throw']);
    const store = openStore(join(root, 'mailpoll.db'), { now: () => T0, notice: () => undefined });
    stores.push(store);
    const accounts = [
      accountConfig({ name: 'local', protocol: 'maildir', tls: 'none', path, onlyUnseen: false, script: SPEC_HANDLER }),
      accountConfig({ name: 'gone', protocol: 'maildir', tls: 'none', path: join(root, 'missing'), script: SPEC_HANDLER }),
    ];
    return { path, store, accounts };
  }

  test('every account in turn: one failing does not stop the other; events, summary and exit code', async () => {
    const { path, store, accounts } = await twoAccounts();
    const lines: string[] = [];
    const logged: string[] = [];
    const run = await runOnce({
      accounts,
      store,
      reporter: createTextReporter({ write: (line) => lines.push(line), color: false }),
      retention: { retentionDays: 0, ledgerDays: 30 },
      logger: { info: (line) => logged.push(line) },
      dryRun: false,
      now: () => T0,
    });
    // An unreachable account (3) outweighs a failed message (1).
    assert.equal(run.exitCode, 3);
    assert.deepEqual(run.accounts.map((a) => [a.account, a.status, a.processed, a.failed]), [
      ['local', 'ok', 2, 1],
      ['gone', 'error', 0, 0],
    ]);
    assert.equal(lines.filter((line) => /\[\d\]/.test(line)).length, 3, lines.join('\n'));
    assert.match(lines.at(-1) ?? '', /^mailpoll: /);
    assert.ok(lines.some((line) => /gone: .*is not a Maildir/.test(line)), lines.join('\n'));
    assert.equal(logged.length, 3, 'context.log lines of the three handler calls');
    assert.deepEqual((await readMaildir(path)).map((m) => m.subject), ['[2] "keep"', '[3] throw']);
    assert.equal((await store.history({})).runs.length, 1);
  });

  test('--dry-run: handlers run, nothing changes on the server or in the ledger', async () => {
    const { path, store, accounts } = await twoAccounts();
    const events: ReportEvent[] = [];
    const run = await runOnce({
      accounts: accounts.slice(0, 1),
      store,
      reporter: { report: (event) => events.push(event) },
      retention: { retentionDays: 0, ledgerDays: 30 },
      logger: { info: () => undefined },
      dryRun: true,
    });
    assert.equal(run.exitCode, 1, 'the throwing handler still fails its message');
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'message' ? [[e.subject, e.status, e.ref]] : [])),
      [
        ['[1] "delete"', 'dry-run', null],
        ['[2] "keep"', 'dry-run', null],
        ['[3] throw', 'failed', null],
      ],
    );
    assert.equal((await readMaildir(path)).length, 3);
    assert.deepEqual((await store.history({})).messages, []);
  });
});
