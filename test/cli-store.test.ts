/**
 * The local store through the real CLI: the ledger's dedupe, crash recovery, quarantine,
 * retention, leases between concurrent runs, and damaged store files. Real SQLite files,
 * a real Dovecot, real child processes (some killed with SIGKILL on purpose).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BIN, messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { bySubject } from './helpers/maildir-state.js';
import { startRelay } from './helpers/tcp-relay.js';
import { configureSpec, expectMessage, handlerCalls, runSpec as run, scenario, SPEC_HANDLER, type Credentials } from './helpers/scenario.js';
import { makeTempDir } from './helpers/temp.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

/** A config for one IMAP account in a fresh folder; returns the folder and its handler log. */
const setup = (creds: Credentials, account: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => configureSpec(world.imapAccount(creds, account), top);

async function records(dir: string): Promise<Array<Record<string, unknown>>> {
  const result = await runCli(['history', '--json', '--limit', '100000'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  return result.events.filter((event) => event.type === 'record');
}

/** Set \Seen off again on every message, as a user or another client would. */
async function markAllUnseen(creds: Credentials): Promise<void> {
  const client = dovecot.imapClient(creds.user, creds.password);
  await client.connect();
  await client.mailboxOpen('INBOX');
  await client.messageFlagsRemove('1:*', ['\\Seen']);
  await client.logout();
}

describe('the ledger', () => {
  test('after: keep across three runs hands each message to the handler once', async () => {
    const creds = await world.mailbox(['[1] "keep"', '[2] "keep"', '[3] 4']);
    const { dir, log } = await setup(creds, { onlyUnseen: false });
    for (const expected of [3, 0, 0]) {
      const result = await run(dir, log);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(messageEvents(result).length, expected);
    }
    const calls = await handlerCalls(log);
    assert.deepEqual(calls.map((call) => call.subject), ['[1] "keep"', '[2] "keep"', '[3] 4']);
    for (const subject of ['[1] "keep"', '[2] "keep"', '[3] 4']) {
      expectMessage(await world.state(creds.user), subject, { folder: '', seen: false });
    }
  });

  test('a message set back to unseen is skipped, unless reprocess: true', async () => {
    const creds = await world.mailbox(['[1] "markSeen"', '[2] "markSeen"']);
    const plain = await setup(creds);
    assert.equal(messageEvents(await run(plain.dir, plain.log)).length, 2);
    await markAllUnseen(creds);
    const skipped = await run(plain.dir, plain.log);
    assert.equal(messageEvents(skipped).length, 0, 'the ledger has them as done');

    // Same mailbox, same store, reprocess on: the unseen reset brings them back.
    await writeConfig({ script: SPEC_HANDLER, accounts: [world.imapAccount(creds, { reprocess: true })] }, plain.dir);
    const again = await run(plain.dir, plain.log);
    assert.deepEqual(messageEvents(again).map((e) => [e.subject, e.status]), [
      ['[1] "markSeen"', 'ok'],
      ['[2] "markSeen"', 'ok'],
    ]);
    assert.equal((await handlerCalls(plain.log)).length, 4);
    assert.equal(messageEvents(await run(plain.dir, plain.log)).length, 0, 'seen again: not listed');
  });

  test('a UIDVALIDITY change does not hand the whole folder over again', async () => {
    const creds = await world.mailbox(['[1] "keep"', '[2] "keep"', '[3] "keep"']);
    const { dir, log } = await setup(creds, { onlyUnseen: false });
    assert.equal(messageEvents(await run(dir, log)).length, 3);
    const before = (await records(dir)).map((r) => r.uidValidity);

    await dovecot.renumber(creds.user);

    const result = await run(dir, log);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(messageEvents(result).length, 0, 'known by fingerprint');
    assert.equal((await handlerCalls(log)).length, 3);
    const after = (await records(dir)).map((r) => r.uidValidity);
    assert.notDeepEqual(after, before, 'rows moved to the new UIDVALIDITY');
  });

  test('every message line carries the ref that show takes; show --raw gives the exact bytes', async () => {
    const creds = await world.mailbox(['[1] "keep"']);
    const { dir, log } = await setup(creds);
    const original = await readFile(bySubject(await world.state(creds.user), '[1] "keep"')!.file);
    const result = await run(dir, log);
    const [event] = messageEvents(result);
    assert.equal(typeof event?.ref, 'number');
    const ref = String(event?.ref);

    const raw = await rawOf(dir, ref);
    assert.ok(raw.equals(original), 'archived copy is byte-identical to the server\'s');

    const show = await runCli(['show', ref], { cwd: dir });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /state:\s+done/);
    assert.match(show.stdout, /decision:\s+keep, transition/);
    assert.match(show.stdout, /subject:\s+\[1\] "keep"/);

    const text = await runCli([], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.equal(text.code, 0);
    const unknown = await runCli(['show', '999999'], { cwd: dir });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no message with ref 999999/);
  });

  test('a raw copy over 1 MiB is a file in mailpoll.db-archive/ beside the store; show --raw gives its exact bytes', async () => {
    const creds = await world.mailbox([]);
    // ~1.5 MB of text lines, every line different (Dovecot may compress nothing away).
    const body = Array.from({ length: 20_000 }, (_, i) => `line ${String(i).padStart(5, '0')} ${'0123456789abcdef'.repeat(4)}`).join('\n');
    await dovecot.deliver(creds.user, message({ subject: '[1] "keep"', messageId: `<big.${creds.user}@test>`, body }));
    const { dir, log } = await setup(creds);
    const original = await readFile(bySubject(await world.state(creds.user), '[1] "keep"')!.file);
    assert.ok(original.length > 1.4 * 1024 * 1024, `${original.length} bytes`);

    const result = await run(dir, log);
    assert.equal(result.code, 0, result.stderr);
    const [event] = messageEvents(result);
    assert.equal(event?.status, 'ok');
    const ref = String(event?.ref);

    const file = join(dir, 'mailpoll.db-archive', `${ref}.eml`);
    assert.equal((await stat(file)).size, original.length, 'the raw copy is a file beside the store');
    assert.deepEqual(await readdir(join(dir, 'mailpoll.db-archive')), [`${ref}.eml`]);
    assert.ok((await rawOf(dir, ref)).equals(original), "show --raw is byte-identical to the server's file");
    const show = await runCli(['show', ref], { cwd: dir });
    assert.match(show.stdout, /raw copy:\s+yes/);
  });
});

/** `mailpoll show REF --raw`, as bytes. */
function rawOf(dir: string, ref: string, env: Record<string, string> = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'show', ref, '--raw'], { cwd: dir, env: { ...process.env, ...env } });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`show --raw exited ${code}`))));
  });
}

describe('failures and quarantine', () => {
  test('after maxAttempts a failing message is quarantined and skipped; retry releases it', async () => {
    const creds = await world.mailbox(['[1] throw', '[2] "markSeen"']);
    const { dir, log } = await setup(creds, { maxAttempts: 2 });

    const first = await run(dir, log);
    assert.equal(first.code, 1);
    assert.deepEqual(messageEvents(first).map((e) => [e.subject, e.status]), [
      ['[1] throw', 'failed'],
      ['[2] "markSeen"', 'ok'],
    ]);
    // Attempts are spread over time: the next one once retryDelay has passed (store clock an hour on).
    const hoursLater = (hours: number) => ({ MAILPOLL_NOW: new Date(Date.now() + hours * 3_600_000).toISOString() });
    const second = await run(dir, log, [], hoursLater(1));
    const [quarantined] = messageEvents(second);
    assert.equal(quarantined?.status, 'quarantined');
    assert.match(String(quarantined?.error), /boom from handler.*quarantined; mailpoll retry \d+ releases it/);
    assert.equal(second.code, 1);

    const third = await run(dir, log, [], hoursLater(2));
    assert.equal(third.code, 0, 'a quarantined message is skipped');
    assert.equal(messageEvents(third).length, 0);
    assert.equal((await handlerCalls(log)).filter((c) => c.subject === '[1] throw').length, 2);
    expectMessage(await world.state(creds.user), '[1] throw', { folder: '', seen: false });

    const history = await runCli(['history', '--status', 'quarantined'], { cwd: dir });
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /ref:\d+ .* quarantined attempts 2 .*"\[1\] throw" \(handler failed: boom from handler\)/);

    const retry = await runCli(['retry', String(quarantined?.ref)], { cwd: dir });
    assert.equal(retry.code, 0, retry.stderr);
    const fourth = await run(dir, log);
    assert.deepEqual(messageEvents(fourth).map((e) => [e.subject, e.status]), [['[1] throw', 'failed']]);
  });

  test('quarantineFolder moves a quarantined message aside', async () => {
    const creds = await world.mailbox(['[1] throw']);
    const { dir, log } = await setup(creds, { maxAttempts: 1, quarantineFolder: 'Quarantine' });
    const result = await run(dir, log);
    assert.equal(result.code, 1);
    assert.deepEqual(messageEvents(result).map((e) => [e.status, e.action, e.moveTo]), [['quarantined', 'move', 'Quarantine']]);
    expectMessage(await world.state(creds.user), '[1] throw', { folder: 'Quarantine', seen: false });
    assert.equal(messageEvents(await run(dir, log)).length, 0, 'out of sight, and quarantined');

    // retry moves it back into the polled folder before releasing it, so the next run sees it.
    const retry = await runCli(['retry', String(messageEvents(result)[0]?.ref)], { cwd: dir });
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stderr, /moved <m0\.\S+@test> from Quarantine back to INBOX/);
    expectMessage(await world.state(creds.user), '[1] throw', { folder: '', seen: false });
    const again = await run(dir, log);
    assert.deepEqual(messageEvents(again).map((e) => [e.subject, e.status]), [['[1] throw', 'quarantined']]);
  });

  test('a message larger than maxMessageSize is reported once, never downloaded or deleted', async () => {
    const creds = await world.mailbox(['[1] "delete"', `[2] "delete" ${'x'.repeat(3000)}`]);
    const { dir, log } = await setup(creds, { maxMessageSize: '2KB' });
    const result = await run(dir, log);
    assert.deepEqual(messageEvents(result).map((e) => e.status), ['quarantined', 'ok']);
    assert.match(String(messageEvents(result)[0]?.error), /larger than maxMessageSize/);
    assert.equal((await handlerCalls(log)).length, 1);
    assert.equal(messageEvents(await run(dir, log)).length, 0);
    const left = await world.state(creds.user);
    assert.equal(left.length, 1);
    // Dovecot's session summaries say how many body bytes were sent: never the large one's.
    const sessions = (await dovecot.logLines()).filter((line) => line.includes(`(${creds.user})`) && line.includes('body_bytes='));
    assert.ok(sessions.length >= 2, sessions.join('\n'));
    const bodyBytes = sessions.reduce((sum, line) => sum + Number(/body_bytes=(\d+)/.exec(line)?.[1] ?? 0), 0);
    assert.ok(bodyBytes < 2048, `${bodyBytes} body bytes sent`);
  });
});

describe('crashes and concurrent runs', () => {
  test('a crash after the handler: the recorded decision is applied next run without the handler', async () => {
    const creds = await world.mailbox(['[1] "delete"', '[2] die-once']);
    const { dir, log } = await setup(creds);
    const crashed = await run(dir, log);
    assert.equal(crashed.signal, 'SIGKILL', 'the second handler killed the process');
    // [1]'s decision is recorded (handled) but the batch never reached its server actions.
    expectMessage(await world.state(creds.user), '[1] "delete"', { folder: '', seen: false });
    const [row] = (await records(dir)).filter((r) => r.subject === '[1] "delete"');
    assert.deepEqual([row?.state, row?.action], ['handled', 'delete']);

    const next = await run(dir, log);
    assert.equal(next.code, 0, next.stderr);
    const recovered = messageEvents(next).find((e) => e.subject === '[1] "delete"');
    assert.deepEqual([recovered?.recovered, recovered?.action, recovered?.status], [true, 'delete', 'ok']);
    assert.equal((await handlerCalls(log)).filter((c) => c.subject === '[1] "delete"').length, 1, 'handler not called again');
    // [2] died inside its handler, before `handled`: the one case where a handler runs twice.
    assert.equal((await handlerCalls(log)).filter((c) => c.subject === '[2] die-once').length, 2);
    assert.equal((await world.state(creds.user)).length, 0, 'both deleted now');
  });

  test('the link drops while the next batch downloads: decisions made meanwhile are applied next run, none handled twice', async () => {
    // 130 messages: a batch of 100, then one of 30 that downloads while the first batch's
    // handlers run. The relay cuts the connection when that second download is asked for.
    const subjects = Array.from({ length: 130 }, (_, i) => `[${String(i).padStart(3, '0')}] "delete"`);
    const creds = await world.mailbox(subjects);
    let downloads = 0;
    const relay = await startRelay(dovecot.ports.imap, { cutWhen: (chunk) => chunk.toString('latin1').includes('BODY.PEEK[]') && ++downloads === 2 });
    const { dir, log } = await setup(creds, { tls: 'none', port: relay.port });
    const cut = await run(dir, log);
    assert.equal(cut.code, 3, cut.stdout + cut.stderr);
    assert.equal(downloads, 2, 'the second batch was asked for before the first one was applied');
    assert.equal((await handlerCalls(log)).length, 100, 'the first batch was handled');
    assert.equal((await world.state(creds.user)).length, 130, 'nothing deleted: the link was gone before the actions');
    const handled = (await records(dir)).filter((r) => r.state === 'handled');
    assert.equal(handled.length, 100, 'their decisions are recorded');

    // Same store, straight to Dovecot: the 100 recorded decisions are applied, the 30 handled.
    const direct = await writeConfig({ script: SPEC_HANDLER, store: join(dir, 'mailpoll.db'), accounts: [world.imapAccount(creds)] });
    const next = await run(direct, log);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(messageEvents(next).filter((e) => e.recovered).length, 100);
    assert.equal(messageEvents(next).filter((e) => !e.recovered).length, 30);
    const calls = (await handlerCalls(log)).map((c) => String(c.subject));
    assert.deepEqual(calls, subjects, 'each handled exactly once, oldest first');
    assert.equal((await world.state(creds.user)).length, 0);
  });

  test('the link drops at the UID EXPUNGE: the flagged deletes are completed next run without the handler', async () => {
    const creds = await world.mailbox(['[1] "delete"', '[2] "delete"', '[3] "keep"']);
    const relay = await startRelay(dovecot.ports.imap, { cutWhen: (chunk) => chunk.toString('latin1').includes('UID EXPUNGE') });
    const { dir, log } = await setup(creds, { tls: 'none', port: relay.port });
    const cut = await run(dir, log);
    assert.equal(cut.code, 3, cut.stdout + cut.stderr);
    const account = cut.events.find((e) => e.type === 'account');
    assert.match(String(account?.error), /mailpoll carries out the 2 delete\(s\) on the next run, without calling the handler again\./);
    // Flagged \Deleted (Maildir info letter T), not expunged; the ledger still has them handled.
    const flagged = (await world.state(creds.user)).filter((m) => m.flags.includes('T')).map((m) => m.subject);
    assert.deepEqual(flagged.sort(), ['[1] "delete"', '[2] "delete"']);
    const states = (await records(dir)).map((r) => [r.subject, r.state]).sort();
    assert.deepEqual(states, [['[1] "delete"', 'handled'], ['[2] "delete"', 'handled'], ['[3] "keep"', 'done']]);

    const direct = await writeConfig({ script: SPEC_HANDLER, store: join(dir, 'mailpoll.db'), accounts: [world.imapAccount(creds)] });
    const next = await run(direct, log);
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(messageEvents(next).filter((e) => e.recovered).map((e) => e.subject).sort(), ['[1] "delete"', '[2] "delete"']);
    assert.deepEqual((await world.state(creds.user)).map((m) => m.subject), ['[3] "keep"']);
    assert.equal((await handlerCalls(log)).length, 3, 'each handled exactly once');
  });

  test('two CLIs started at once on one account: no message is handled twice', async () => {
    const subjects = Array.from({ length: 40 }, (_, i) => `[${String(i).padStart(2, '0')}] "markSeen"`);
    const creds = await world.mailbox(subjects);
    const { dir, log } = await setup(creds);
    const [a, b] = await Promise.all([run(dir, log, [], { HANDLER_DELAY_MS: '10' }), run(dir, log, [], { HANDLER_DELAY_MS: '10' })]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const calls = (await handlerCalls(log)).map((c) => c.messageId);
    assert.equal(new Set(calls).size, calls.length, 'each message handed over once');
    assert.equal(calls.length, 40);
    const busy = [...a.events, ...b.events].filter((e) => e.type === 'account' && e.status === 'busy');
    assert.equal(busy.length, 1, 'one of them found the account busy');
    assert.match(String(busy[0]?.error), /^support: busy \(pid \d+ since \d\d:\d\d:\d\d\)$/);
  });

  test('kill -9 at random points, then a full run: nothing lost, at most one duplicate per kill', async () => {
    const count = 300;
    const subjects = Array.from({ length: count }, (_, i) => `[${String(i).padStart(3, '0')}] "delete"`);
    const creds = await world.mailbox(subjects);
    const { dir, log } = await setup(creds);
    const kills = 6;
    let seed = 7;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    let handledBefore = 0;
    for (let i = 0; i < kills; i += 1) {
      // Kill after a random number of further handler calls plus a random few ms: mid-handler,
      // mid-ledger-write, mid-server-action or mid-fetch, whatever the machine's speed.
      await runAndKill(dir, log, creds, subjects, handledBefore + 1 + Math.floor(random() * 45), Math.floor(random() * 30));
      const handled = (await handlerCalls(log)).length;
      assert.ok(handled > handledBefore, `run ${i + 1} handled nothing`);
      handledBefore = handled;
    }
    assert.ok(handledBefore < count, 'the kills must interrupt the work, not follow it');
    const final = await run(dir, log);
    assert.equal(final.code, 0, final.stderr);
    assert.ok(messageEvents(final).length > 0, 'the final run finishes the work');

    const calls = (await handlerCalls(log)).map((c) => String(c.messageId));
    const unique = new Set(calls);
    assert.equal(unique.size, count, 'every message handled at least once');
    assert.ok(calls.length - count <= kills, `duplicates ${calls.length - count} > kills ${kills}`);
    assert.equal((await world.state(creds.user)).length, 0, 'all deleted in the end');

    const rows = await records(dir);
    assert.equal(rows.length, count);
    for (const row of rows) {
      assert.equal(row.state, 'done', `${String(row.subject)} done`);
      assert.equal(row.hasRaw, true, `${String(row.subject)} archived`);
    }
  });
});

/**
 * Start a run, SIGKILL it once the handler log holds `calls` lines plus `extraMs`, then check
 * the rule at that moment: nothing gone from the server without a handled (or done) row.
 */
async function runAndKill(dir: string, log: string, creds: Credentials, subjects: string[], calls: number, extraMs: number): Promise<void> {
  // Handlers take a few ms each, so a kill lands in the middle of the batch work.
  const env = { ...process.env, HANDLER_LOG: log, HANDLER_DELAY_MS: '3' };
  const child = spawn(process.execPath, [BIN, '--json'], { cwd: dir, env, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('close', resolve));
  let running = true;
  void exited.then(() => (running = false));
  while (running && (await handlerCalls(log)).length < calls) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, extraMs));
  child.kill('SIGKILL');
  await exited;
  const state = new Set((await world.state(creds.user)).map((m) => m.subject));
  const rows = await records(dir);
  const decided = new Set(rows.filter((r) => r.state === 'handled' || r.state === 'done').map((r) => String(r.subject)));
  for (const subject of subjects) {
    if (!state.has(subject)) assert.ok(decided.has(subject), `${subject} deleted without a handled row`);
  }
}

describe('store files', () => {
  test('a damaged store file or an unusable location is exit 2 with a clear message, never a reset', async () => {
    const creds = await world.mailbox(['[1] "keep"']);
    const { dir, log } = await setup(creds, {}, { store: './garbage.db' });
    const garbage = Buffer.from('this is not a database, just some bytes that happen to be here\n'.repeat(100));
    await writeFile(join(dir, 'garbage.db'), garbage);
    const result = await run(dir, log);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /garbage\.db.*not a mailpoll store/);
    assert.ok((await readFile(join(dir, 'garbage.db'))).equals(garbage), 'left exactly as it was');
    assert.equal((await handlerCalls(log)).length, 0, 'no mail touched');

    const blocked = await makeTempDir('blocked');
    await writeFile(join(blocked, 'a-file'), 'x');
    const unusable = await runCli(['--store', join(blocked, 'a-file', 'mailpoll.db')], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.equal(unusable.code, 2);
    assert.match(unusable.stderr, /a-file\/mailpoll\.db/);
  });

  test('retention: raw copies purged after retentionDays, ledger rows of deleted mail after ledgerDays', async () => {
    const creds = await world.mailbox(['[1] "delete"', '[2] "keep"']);
    const { dir, log } = await setup(creds, { onlyUnseen: false }, { retentionDays: 7, ledgerDays: 30 });
    const t0 = Date.parse('2026-03-01T12:00:00Z');
    const at = (days: number) => ({ MAILPOLL_NOW: new Date(t0 + days * 86_400_000).toISOString() });
    const result = await run(dir, log, [], at(0));
    const [deleted, kept] = messageEvents(result).map((e) => String(e.ref));

    const purge = (days: number) => runCli(['purge'], { cwd: dir, env: at(days) });
    assert.equal((await purge(6)).code, 0);
    assert.ok((await rawOf(dir, deleted!, at(6))).length > 0, 'kept for 7 days');
    const afterWeek = await purge(8);
    assert.equal(afterWeek.code, 0, afterWeek.stderr);
    assert.match(afterWeek.stdout, /purged 2 raw copies/);
    const gone = await runCli(['show', deleted!, '--raw'], { cwd: dir });
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /no raw copy/);

    await purge(31);
    assert.equal((await runCli(['show', deleted!], { cwd: dir })).code, 2, 'row of a deleted message purged');
    assert.equal((await runCli(['show', kept!], { cwd: dir })).code, 0, 'row of a message still on the server kept');
    // And the kept message is still not handed over again.
    assert.equal(messageEvents(await run(dir, log, [], at(32))).length, 0);
  });
});
