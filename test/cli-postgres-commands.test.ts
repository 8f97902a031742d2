/**
 * The store commands on a PostgreSQL store through real CLI processes: the store named by
 * MAILPOLL_STORE (between --store and store:), its password from a `storePassword*` key or
 * PGPASSWORD, run history that never holds the password, and history, show --raw (a 2 MiB
 * message byte for byte), retry of a quarantined message, purge (and --dry-run), check and
 * baseline against it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { usePostgres } from './helpers/use-postgres.js';
import { configureSpec, handlerCalls, runSpec, scenario } from './helpers/scenario.js';

const dovecot = useDovecot();
const postgres = usePostgres();
const world = scenario(dovecot);

const databaseOf = (url: string) => new URL(url).pathname.slice(1);

describe('naming a PostgreSQL store and giving its password', () => {
  test('MAILPOLL_STORE names it over store:, --store over both; storePasswordEnv or PGPASSWORD give the password', async () => {
    const url = await postgres.createDatabase();
    const database = databaseOf(url);
    const bare = postgres.url(database, { password: null });
    assert.doesNotMatch(bare, new RegExp(postgres.password));
    const creds = await world.mailbox(['[1] "keep"', '[2] "keep"']);
    // The config's store: is mailpoll.db in its folder; the environment wins over it.
    const { dir, log } = await configureSpec(world.imapAccount(creds), { storePasswordEnv: 'STORE_PW' });

    const run = await runSpec(dir, log, [], { MAILPOLL_STORE: bare, STORE_PW: postgres.password });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(messageEvents(run).length, 2);
    assert.equal(existsSync(join(dir, 'mailpoll.db')), false, 'MAILPOLL_STORE wins over store:');
    const rows = await postgres.query<{ n: string }>('SELECT count(*)::text AS n FROM mailpoll.messages', [], database);
    assert.equal(rows[0]?.n, '2');

    // --store wins over MAILPOLL_STORE.
    const other = await runCli(['history', '--json', '--store', 'other.db'], { cwd: dir, env: { MAILPOLL_STORE: bare, STORE_PW: postgres.password } });
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.events.filter((event) => event.type === 'record').length, 0);
    assert.ok(existsSync(join(dir, 'other.db')));

    // A source that gives nothing is a config error naming the key.
    const unset = await runCli(['history'], { cwd: dir, env: { MAILPOLL_STORE: bare, STORE_PW: undefined } });
    assert.equal(unset.code, 2, unset.stdout + unset.stderr);
    assert.match(unset.stderr, /mailpoll\.config\.json: storePasswordEnv: environment variable STORE_PW is not set/);

    // Without a storePassword* key, PostgreSQL's own PGPASSWORD applies.
    const plain = await writeConfig({ accounts: [{ name: 'm', protocol: 'maildir', path: './mail' }], script: './h.mjs' });
    const viaPg = await runCli(['history', '--json'], { cwd: plain, env: { MAILPOLL_STORE: bare, PGPASSWORD: postgres.password } });
    assert.equal(viaPg.code, 0, viaPg.stderr);
    assert.equal(viaPg.events.filter((event) => event.type === 'record').length, 2);

    for (const result of [run, other, unset, viaPg]) assert.doesNotMatch(result.rawStdout + result.rawStderr, new RegExp(postgres.password));
  });

  test('two password keys, and a password source that fails, exit 2 naming the key', async () => {
    const dir = await writeConfig({
      accounts: [{ name: 'm', protocol: 'maildir', path: './mail' }],
      script: './h.mjs',
      storePasswordEnv: 'X',
      storePasswordFile: './pw',
    });
    const both = await runCli(['validate'], { cwd: dir });
    assert.equal(both.code, 2);
    assert.match(both.stdout + both.stderr, /storePasswordFile: only one store password source, not storePasswordEnv and storePasswordFile/);

    const url = await postgres.createDatabase();
    const fileOnly = await writeConfig({ accounts: [{ name: 'm', protocol: 'maildir', path: './mail' }], script: './h.mjs', storePasswordFile: './missing' });
    const missing = await runCli(['history', '--store', postgres.url(databaseOf(url), { password: null })], { cwd: fileOnly });
    assert.equal(missing.code, 2, missing.stdout + missing.stderr);
    assert.match(missing.stderr, /storePasswordFile: cannot read .*missing: no such file/);
  });

  test('the run history never holds the password of a --store URL, read back by a process that does not know it', async () => {
    const url = await postgres.createDatabase();
    const database = databaseOf(url);
    const creds = await world.mailbox(['[1] "keep"']);
    const { dir, log } = await configureSpec(world.imapAccount(creds));
    const run = await runSpec(dir, log, ['--store', url]);
    assert.equal(run.code, 0, run.stderr);
    const again = await runSpec(dir, log, [`--store=${url}`]);
    assert.equal(again.code, 0, again.stderr);

    const commands = await postgres.query<{ command: string }>('SELECT command FROM mailpoll.runs ORDER BY id', [], database);
    assert.equal(commands.length, 2);
    for (const { command } of commands) {
      assert.doesNotMatch(command, new RegExp(postgres.password));
      assert.match(command, /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
    }
    const history = await runCli(['history', '--store', postgres.url(database, { password: null })], { cwd: dir, env: { PGPASSWORD: postgres.password } });
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /mailpoll --json --store postgres:\/\/postgres:\*\*\*@/);
    assert.match(history.stdout, /mailpoll --json --store=postgres:\/\/postgres:\*\*\*@/);
  });
});

describe('the store commands on a PostgreSQL store', () => {
  test('a 2 MiB message shown back byte for byte; a quarantined one listed, checked and retried; purge and its dry run', async () => {
    const url = await postgres.createDatabase();
    const database = databaseOf(url);
    const creds = await world.mailbox(['[1] throw']);
    const line = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-+/=abcdefghijkl\n';
    const large = message({ subject: '[2] "keep"', messageId: `<large.${creds.user}@test>`, body: line.repeat(Math.ceil((2 * 1024 * 1024) / line.length)) });
    assert.ok(Buffer.byteLength(large) > 2 * 1024 * 1024);
    await dovecot.deliver(creds.user, large);
    const { dir, log } = await configureSpec(world.imapAccount(creds, { maxAttempts: 1 }), { store: url });

    const first = await runSpec(dir, log);
    assert.equal(first.code, 1, first.stderr);
    const events = messageEvents(first);
    assert.deepEqual(events.map((event) => [event.subject, event.status]), [
      ['[1] throw', 'quarantined'],
      ['[2] "keep"', 'ok'],
    ]);
    const [quarantined, kept] = events;

    const shown = await runCli(['show', String(kept?.ref), '--raw'], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(Buffer.compare(Buffer.from(shown.rawStdout, 'utf8'), Buffer.from(large, 'utf8')), 0, 'the archived copy, byte for byte');
    const record = await runCli(['show', String(kept?.ref), '--json'], { cwd: dir });
    assert.equal(record.code, 0, record.stderr);
    assert.equal(record.events[0]?.size, Buffer.byteLength(large));
    const chunks = await postgres.query<{ n: string }>('SELECT count(*)::text AS n FROM mailpoll.archive_chunks WHERE ref = $1', [kept?.ref], database);
    assert.ok(Number(chunks[0]?.n) >= 2, 'stored in pieces');

    const listed = await runCli(['history', '--status', 'quarantined', '--json'], { cwd: dir });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(listed.events.filter((event) => event.type === 'record').map((event) => event.ref), [quarantined?.ref]);

    const check = await runCli(['check', '--json'], { cwd: dir });
    assert.equal(check.code, 0, check.stderr);
    assert.equal(check.events.find((event) => event.type === 'check')?.quarantined, 1);

    const retry = await runCli(['retry', String(quarantined?.ref)], { cwd: dir });
    assert.equal(retry.code, 0, retry.stderr);
    const second = await runSpec(dir, log);
    assert.deepEqual(messageEvents(second).map((event) => [event.subject, event.status]), [['[1] throw', 'quarantined']]);
    assert.equal((await handlerCalls(log)).filter((call) => call.subject === '[1] throw').length, 2, 'handed over again after retry');

    // Past retentionDays (7): the dry run counts the raw copies and keeps them; purge deletes them.
    const later = { MAILPOLL_NOW: new Date(Date.now() + 30 * 86_400_000).toISOString() };
    const preview = await runCli(['purge', '--dry-run', '--json'], { cwd: dir, env: later });
    assert.equal(preview.code, 0, preview.stderr);
    const previewed = preview.events.find((event) => event.type === 'purge');
    assert.equal(previewed?.dryRun, true);
    assert.equal(previewed?.rawDeleted, 2);
    const kept2 = await runCli(['show', String(kept?.ref), '--raw'], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(kept2.rawStdout.length, large.length, 'a dry run deletes nothing');

    const purge = await runCli(['purge', '--json'], { cwd: dir, env: later });
    assert.equal(purge.code, 0, purge.stderr);
    assert.equal(purge.events.find((event) => event.type === 'purge')?.rawDeleted, 2);
    const pieces = await postgres.query<{ n: string }>('SELECT count(*)::text AS n FROM mailpoll.archive_chunks', [], database);
    assert.equal(pieces[0]?.n, '0');
    const gone = await runCli(['show', String(kept?.ref), '--raw'], { cwd: dir });
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /no raw copy in the archive/);
  });

  test('check and a dry baseline create nothing; baseline records what is there; the next run hands over only new mail', async () => {
    const url = await postgres.createDatabase();
    const database = databaseOf(url);
    const creds = await world.mailbox(['[1] "delete"', '[2] "delete"']);
    const { dir, log } = await configureSpec(world.imapAccount(creds), { store: url });

    const check = await runCli(['check', '--json'], { cwd: dir });
    assert.equal(check.code, 0, check.stderr);
    assert.equal(check.events.find((event) => event.type === 'check')?.quarantined, null, 'no store yet');
    const dry = await runCli(['baseline', '--dry-run'], { cwd: dir });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /support: baseline: 2 messages recorded, none handled/);
    const schema = await postgres.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_namespace WHERE nspname = 'mailpoll'", [], database);
    assert.equal(schema[0]?.n, '0', 'neither check nor a dry run creates the schema');

    const taken = await runCli(['baseline'], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.equal(taken.code, 0, taken.stdout + taken.stderr);
    assert.match(taken.stdout, /support: baseline: 2 messages recorded, none handled/);
    const skipped = await postgres.query<{ n: string }>("SELECT count(*)::text AS n FROM mailpoll.messages WHERE state = 'skipped'", [], database);
    assert.equal(skipped[0]?.n, '2');

    await dovecot.deliver(creds.user, message({ subject: '[3] "delete"', messageId: `<m3.${creds.user}@test>` }));
    const run = await runSpec(dir, log);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(messageEvents(run).map((event) => event.subject), ['[3] "delete"']);
    assert.equal((await handlerCalls(log)).length, 1);
    const left = (await world.state(creds.user)).map((stored) => stored.subject).sort();
    assert.deepEqual(left, ['[1] "delete"', '[2] "delete"']);
  });
});
