/**
 * Which message is which, through the real CLI: a look-alike (same Message-ID, Date and size,
 * other bytes) is a new message; the ledger and the leases belong to a mailbox (server, login,
 * folder), not to an account's name; a store written before that is carried over; a dry run
 * writes nothing to the store. Real Dovecot, real SQLite files, real child processes.
 */
import assert from 'node:assert/strict';
import { chown, copyFile, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, messageEvents, runCli, writeConfig, type CliResult } from './helpers/cli.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { scenario, type Credentials } from './helpers/scenario.js';
import { startScriptedPop3 } from './helpers/pop3-server.js';
import { makeTempDir } from './helpers/temp.js';

const HANDLER = join(FIXTURES, 'handlers', 'log-subject.mjs');

const dovecot = useDovecot();
const world = scenario(dovecot);

/** One of two look-alikes: same Message-ID, Date and size; only the subject's last letter differs. */
function wire(letter: 'A' | 'B', messageId = '<same@sec.test>'): string {
  return [
    'From: a@sec.test',
    `Subject: Wire 10000 EUR to account ${letter}`,
    'Date: Mon, 05 Jan 2026 10:00:00 +0000',
    `Message-ID: ${messageId}`,
    '',
    'Please wire it today. Thanks!',
    '',
  ].join('\r\n');
}

function account(creds: Credentials, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return world.imapAccount(creds, { onlyUnseen: false, ...extra });
}

async function run(dir: string, args: string[] = [], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['--json', ...args], { cwd: dir, env: { HANDLER_LOG: join(dir, 'calls.ndjson'), ...env } });
}

async function calls(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, 'calls.ndjson'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { subject: string }).subject);
}

async function records(dir: string, env: Record<string, string> = {}): Promise<Array<Record<string, unknown>>> {
  const result = await runCli(['history', '--json', '--limit', '1000'], { cwd: dir, env });
  assert.equal(result.code, 0, result.stderr);
  return result.events.filter((event) => event.type === 'record');
}


describe('look-alikes are new messages', () => {
  test('same Message-ID, Date and size, other bytes, over IMAP: both are handed over', async () => {
    assert.equal(wire('A').length, 157);
    assert.equal(wire('B').length, 157);
    const creds = await world.mailbox([]);
    const dir = await writeConfig({ script: HANDLER, accounts: [account(creds)] });
    await dovecot.deliver(creds.user, wire('A'));
    assert.equal((await run(dir)).code, 0);
    await dovecot.deliver(creds.user, wire('B'));
    const second = await run(dir);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(messageEvents(second).map((event) => event.subject), ['Wire 10000 EUR to account B']);
    assert.equal(messageEvents(await run(dir)).length, 0, 'and then it is done');
    assert.deepEqual(await calls(dir), ['Wire 10000 EUR to account A', 'Wire 10000 EUR to account B']);
    const rows = await records(dir);
    assert.deepEqual(rows.map((row) => [row.uid, row.subject]).sort(), [
      ['1', 'Wire 10000 EUR to account A'],
      ['2', 'Wire 10000 EUR to account B'],
    ]);
  });

  test('after a UIDVALIDITY change, known messages are recognised by their bytes and a look-alike is handled', async () => {
    const creds = await world.mailbox(['[1] "keep"', '[2] "keep"']);
    const dir = await writeConfig({ script: HANDLER, accounts: [account(creds)] });
    await dovecot.deliver(creds.user, wire('A'));
    assert.equal(messageEvents(await run(dir)).length, 3);
    const before = await records(dir);

    await dovecot.renumber(creds.user);
    // Arrives with the rebuild: the handled A's fingerprint, other bytes.
    await dovecot.deliver(creds.user, wire('B'));
    const result = await run(dir);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((event) => event.subject), ['Wire 10000 EUR to account B']);
    assert.deepEqual((await calls(dir)).slice(3), ['Wire 10000 EUR to account B']);

    const afterRows = await records(dir);
    const moved = afterRows.filter((row) => before.some((old) => old.ref === row.ref));
    assert.equal(moved.length, 3);
    assert.ok(moved.every((row) => row.uidValidity !== before[0]!.uidValidity), 'the three known rows moved to the new UIDVALIDITY');
    assert.equal(messageEvents(await run(dir)).length, 0);
  });

  test('POP3 without UIDL (uids from headers): a look-alike arriving after the first was deleted is handed over', async () => {
    const maildrop: Buffer[] = [Buffer.from(wire('A'))];
    const port = (await startScriptedPop3(maildrop)).port;
    const dir = await writeConfig({
      script: HANDLER,
      accounts: [{ name: 'support', protocol: 'pop3', host: '127.0.0.1', port, tls: 'none', user: 'x', password: 'y' }],
    });
    const env = { HANDLER_ACTION: 'delete' };
    const first = await run(dir, [], env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(maildrop.length, 0, 'A deleted');
    maildrop.push(Buffer.from(wire('B')));
    const second = await run(dir, [], env);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(messageEvents(second).map((event) => event.subject), ['Wire 10000 EUR to account B']);
    assert.equal(maildrop.length, 0, 'B deleted');
    const rows = await records(dir);
    assert.equal(new Set(rows.map((row) => row.ref)).size, 2, 'A keeps its own ref');
  });

  test('POP3 without UIDL: a message kept on the server is not handed over again', async () => {
    const maildrop: Buffer[] = [Buffer.from(wire('A', '<kept@sec.test>'))];
    const port = (await startScriptedPop3(maildrop)).port;
    const dir = await writeConfig({
      script: HANDLER,
      accounts: [{ name: 'support', protocol: 'pop3', host: '127.0.0.1', port, tls: 'none', user: 'x', password: 'y' }],
    });
    assert.equal(messageEvents(await run(dir)).length, 1);
    const again = await run(dir);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(messageEvents(again).length, 0);
    assert.equal((await calls(dir)).length, 1);
  });
});

describe('the ledger belongs to a mailbox, not to a name', () => {
  test('two configs with an account "support" on two servers share the default store without mixing', async () => {
    const state = await makeTempDir('state');
    const env = { XDG_STATE_HOME: state };
    const a = await world.mailbox([]);
    const b = await world.mailbox([]);
    // The same message (same bytes) reaches both mailboxes.
    await dovecot.deliver(a.user, wire('A', '<shared@sec.test>'));
    await dovecot.deliver(b.user, wire('A', '<shared@sec.test>'));
    // `store` present but undefined: left out of the file, so the default store is used.
    const dirA = await writeConfig({ store: undefined, script: HANDLER, accounts: [account(a)] });
    const dirB = await writeConfig({ store: undefined, script: HANDLER, accounts: [account(b)] });
    // A third project names A's mailbox otherwise: the same mailbox, the same lease.
    const dirC = await writeConfig({ store: undefined, script: HANDLER, accounts: [account(a, { name: 'helpdesk' })] });

    // A holds its lease while its handler waits for the file `go`.
    const go = join(dirA, 'go');
    const held = run(dirA, [], { ...env, HANDLER_WAIT_FOR: go });
    await waitForFile(join(dirA, 'calls.ndjson'));
    const meanwhileB = await run(dirB, [], env);
    const meanwhileC = await run(dirC, [], env);
    await writeFile(go, '');
    const firstA = await held;

    assert.equal(firstA.code, 0, firstA.stderr);
    assert.equal(messageEvents(firstA).length, 1);
    const accountB = meanwhileB.events.find((event) => event.type === 'account');
    assert.equal(accountB?.status, 'ok', `B is not busy while A runs: ${meanwhileB.stdout}`);
    assert.deepEqual(messageEvents(meanwhileB).map((event) => event.status), ['ok'], 'B handles its copy');
    const accountC = meanwhileC.events.find((event) => event.type === 'account');
    assert.equal(accountC?.status, 'busy', `the same mailbox under another name waits: ${meanwhileC.stdout}`);

    assert.equal(messageEvents(await run(dirB, [], env)).length, 0);
    assert.equal(messageEvents(await run(dirC, [], env)).length, 0, 'helpdesk is A renamed: nothing new');

    const rows = await records(dirA, env);
    const servers = rows.map((row) => row.identity).sort();
    assert.deepEqual(servers, [
      `imap://${a.user}@127.0.0.1/INBOX`,
      `imap://${b.user}@127.0.0.1/INBOX`,
    ].sort());
    await rm(state, { recursive: true, force: true });
  });

  test('renaming an account does not reprocess its mail; history and show name the server', async () => {
    const creds = await world.mailbox(['[1] "keep"', '[2] "keep"']);
    const dir = await writeConfig({ script: HANDLER, accounts: [account(creds)] });
    assert.equal(messageEvents(await run(dir)).length, 2);
    await writeConfig({ script: HANDLER, accounts: [account(creds, { name: 'helpdesk' })] }, dir);
    const renamed = await run(dir);
    assert.equal(renamed.code, 0, renamed.stderr);
    assert.equal(messageEvents(renamed).length, 0);
    assert.equal((await calls(dir)).length, 2);

    const server = `imap://${creds.user}@127.0.0.1/INBOX`;
    const history = await runCli(['history'], { cwd: dir });
    assert.equal(history.code, 0, history.stderr);
    assert.ok(history.stdout.includes(`support (${server}) #1`), history.stdout);
    assert.ok(!history.stdout.includes(creds.password));
    const show = await runCli(['show', '1'], { cwd: dir });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`server:\\s+${server.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n`));
    assert.ok(!show.stdout.includes(creds.password));
  });

  test('a store written before mailbox identities is migrated; its handled mail is not handed over again', async () => {
    // test/fixtures/store/legacy-v2.db: written by the schema-2 CLI for account `support`,
    // INBOX with UIDVALIDITY 1700000000, uid 1 = legacy-v2.eml, done.
    const creds = await world.mailbox([]);
    const file = await dovecot.deliver(creds.user, await readFile(join(FIXTURES, 'store', 'legacy-v2.eml')));
    const root = dovecot.maildir(creds.user);
    await writeFile(join(root, 'dovecot-uidlist'), `3 V1700000000 N2\n1 :${file.split('/').pop()}\n`);
    const owner = await stat(file);
    await chown(join(root, 'dovecot-uidlist'), owner.uid, owner.gid);
    await dovecot.deliver(creds.user, wire('A', '<after-upgrade@sec.test>'));

    const dir = await writeConfig({ script: HANDLER, accounts: [account(creds)] });
    await copyFile(join(FIXTURES, 'store', 'legacy-v2.db'), join(dir, 'mailpoll.db'));
    const result = await run(dir);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((event) => event.subject), ['Wire 10000 EUR to account A']);
    assert.deepEqual(await calls(dir), ['Wire 10000 EUR to account A']);
    const rows = await records(dir);
    const old = rows.find((row) => row.ref === 1);
    assert.equal(old?.state, 'done');
    assert.equal(old?.account, 'support');
    assert.equal(old?.identity, `imap://${creds.user}@127.0.0.1/INBOX`, 'adopted by the account of its name');
    assert.equal(messageEvents(await run(dir)).length, 0);
  });
});

describe('--dry-run writes nothing to the store', () => {
  test('no store file is created where there was none', async () => {
    const creds = await world.mailbox(['[1] "keep"']);
    const dir = await writeConfig({ script: HANDLER, accounts: [account(creds)] });
    const result = await run(dir, ['--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((event) => event.status), ['dry-run']);
    assert.deepEqual((await readdir(dir)).filter((name) => name.startsWith('mailpoll.db')), []);
  });

  test('an existing store gets no run, no account row and no ledger change, and what is done stays skipped', async () => {
    const creds = await world.mailbox(['[1] "keep"']);
    const dir = await writeConfig({ script: HANDLER, accounts: [account(creds)] });
    assert.equal(messageEvents(await run(dir)).length, 1);
    await dovecot.deliver(creds.user, wire('A', '<dry@sec.test>'));
    const history = async () => (await runCli(['history', '--json', '--limit', '1000'], { cwd: dir })).events;
    const before = await history();

    const dry = await run(dir, ['--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(messageEvents(dry).map((event) => [event.subject, event.status]), [['Wire 10000 EUR to account A', 'dry-run']]);
    assert.deepEqual(await history(), before);
    assert.ok(existsSync(join(dir, 'mailpoll.db')));
  });
});

/** Resolves once `file` exists (the CLI under test got that far). */
async function waitForFile(file: string): Promise<void> {
  for (let tries = 0; tries < 600; tries += 1) {
    if (existsSync(file)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${file} never appeared`);
}

