/**
 * The CLI on a PostgreSQL store (`--store postgres://...`, `store:` in the config): a real run
 * against the private Dovecot recorded in the private PostgreSQL cluster, then the commands
 * that read the store. The password in the URL never reaches any output.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli, writeConfig } from './helpers/cli.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { usePostgres } from './helpers/use-postgres.js';
import { configureSpec, handlerCalls, runSpec, scenario } from './helpers/scenario.js';

const dovecot = useDovecot();
const postgres = usePostgres();
const world = scenario(dovecot);

describe('a PostgreSQL store named on the command line or in the config', () => {
  test('a run records there, the next one knows the messages, and history/show read them back', async () => {
    const url = await postgres.createDatabase();
    const creds = await world.mailbox(['"keep"', '"keep"', '1']);
    const { dir, log } = await configureSpec(world.imapAccount(creds));

    const first = await runSpec(dir, log, ['--store', url]);
    assert.equal(first.code, 0, first.stderr);
    const messages = first.events.filter((event) => event.type === 'message');
    assert.equal(messages.length, 3);
    assert.equal((await handlerCalls(log)).length, 3);

    // The ledger is in the database: nothing handed over twice.
    const second = await runSpec(dir, log, ['--store', url]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.events.filter((event) => event.type === 'message').length, 0);
    assert.equal((await handlerCalls(log)).length, 3);
    const rows = await postgres.query<{ n: string }>('SELECT count(*)::text AS n FROM mailpoll.messages', [], new URL(url).pathname.slice(1));
    assert.equal(rows[0]?.n, '3');

    const history = await runCli(['history', '--json', '--store', url], { cwd: dir });
    assert.equal(history.code, 0, history.stderr);
    assert.equal(history.events.filter((event) => event.type === 'record').length, 3);
    const ref = String(messages[0]?.ref);
    const shown = await runCli(['show', ref, '--raw', '--store', url], { cwd: dir });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /Subject: "keep"/);

    for (const result of [first, second, history, shown]) {
      assert.doesNotMatch(result.rawStdout + result.rawStderr, new RegExp(postgres.password));
    }
  });

  test('`store:` in the config names it too, and a dry run writes nothing there', async () => {
    const url = await postgres.createDatabase();
    const database = new URL(url).pathname.slice(1);
    const creds = await world.mailbox(['1']);
    const { dir, log } = await configureSpec(world.imapAccount(creds), { store: url });

    const dry = await runSpec(dir, log, ['--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    const schema = await postgres.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_namespace WHERE nspname = 'mailpoll'", [], database);
    assert.equal(schema[0]?.n, '0', 'a dry run creates no schema');

    const real = await runSpec(dir, log);
    assert.equal(real.code, 0, real.stderr);
    const rows = await postgres.query<{ state: string }>('SELECT state FROM mailpoll.messages', [], database);
    assert.deepEqual(rows.map((row) => row.state), ['done']);
    assert.doesNotMatch(real.rawStdout + real.rawStderr, new RegExp(postgres.password));
  });

  test('an unreachable PostgreSQL store is a clear error, the password masked', async () => {
    const url = postgres.url('nowhere').replace(`:${postgres.port}/`, ':1/');
    const dir = await writeConfig({ accounts: [{ name: 'm', protocol: 'maildir', path: './mail' }], script: './h.mjs' });
    const result = await runCli(['--store', url], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /store postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/nowhere/);
    assert.doesNotMatch(result.rawStdout + result.rawStderr, new RegExp(postgres.password));
  });
});
