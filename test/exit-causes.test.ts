/**
 * The exit code and the summary's words follow the cause of an account's failure: a store that
 * fails in the middle of a cycle is exit 2 and "store error", a refused login exit 3 and
 * "failed to log in", a bug inside the cycle exit 70 and "internal error". The real CLI
 * against a Maildir and a private Dovecot.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { FIXTURES, runCli, writeConfig } from './helpers/cli.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { readMaildir } from './helpers/maildir-state.js';
import { scenario } from './helpers/scenario.js';
import { makeTempDir } from './helpers/temp.js';

const KEEP = join(FIXTURES, 'handlers', 'echo-subject.mjs');

async function maildir(count: number): Promise<string> {
  const root = await makeTempDir('exit');
  const path = join(root, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  for (let index = 0; index < count; index += 1) {
    const raw = `From: a@example.com\r\nSubject: message ${index}\r\nMessage-ID: <exit${index}@test>\r\n\r\nbody ${index}\r\n`;
    await writeFile(join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`), raw);
  }
  return path;
}

function summary(stdout: string): string {
  return stdout.split('\n').find((line) => line.startsWith('mailpoll: ')) ?? `(no summary in)\n${stdout}`;
}

const dovecot = useDovecot();

describe('exit codes and summary words by cause', () => {
  test('a store that refuses writes in the middle of a cycle: exit 2, "1 store error", the message left alone', async () => {
    const path = await maildir(3);
    const dir = await writeConfig({ script: KEEP, accounts: [{ name: 'local', protocol: 'maildir', path }] });
    // A first run creates the store; new mail arrives; then every update of a message row fails,
    // the way a full disk or a broken file fails a write after the run has started.
    const first = await runCli([], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    await writeFile(join(path, 'new', '1767000010.M10P1.test'), 'From: a@example.com\r\nSubject: late\r\nMessage-ID: <late@test>\r\n\r\nx\r\n');
    const db = new Database(join(dir, 'mailpoll.db'));
    db.exec("CREATE TRIGGER refuse BEFORE UPDATE ON messages BEGIN SELECT RAISE(ABORT, 'the store refuses this write'); END");
    db.close();

    const run = await runCli([], { cwd: dir });
    assert.equal(run.code, 2, `${run.stdout}\n${run.stderr}`);
    assert.match(summary(run.stdout), /1 store error/);
    assert.doesNotMatch(run.stdout, /unreachable/);
    assert.match(run.stdout, /local: store .*the store refuses this write/);

    const json = await runCli(['--json'], { cwd: dir });
    assert.equal(json.code, 2, json.stderr);
    const account = json.events.find((e) => e.type === 'account');
    assert.deepEqual([account?.status, account?.code], ['error', 'E_STORE']);
    const end = json.events.find((e) => e.type === 'summary');
    assert.deepEqual([end?.exitCode, end?.accountsFailedBy], [2, { E_STORE: 1 }]);
    // The late message was never acted on: still new on the Maildir.
    assert.ok((await readMaildir(path)).some((m) => m.subject === 'late'));
  });

  test('a wrong password: exit 3, "1 failed to log in"', async () => {
    const { mailbox, imapAccount } = scenario(dovecot);
    const creds = await mailbox(['one']);
    const dir = await writeConfig({ script: KEEP, accounts: [imapAccount(creds, { password: 'wrong-Pa55word' })] });
    const run = await runCli([], { cwd: dir });
    assert.equal(run.code, 3, run.stderr);
    assert.match(summary(run.stdout), /1 failed to log in/);
    assert.doesNotMatch(run.stdout, /unreachable/);
  });

  test('a bug inside the cycle (MAILPOLL_TEST_FAULT=cycle): exit 70, "1 internal error", a hint to report it', async () => {
    const path = await maildir(1);
    const dir = await writeConfig({ script: KEEP, accounts: [{ name: 'local', protocol: 'maildir', path }] });
    const run = await runCli([], { cwd: dir, env: { MAILPOLL_TEST_FAULT: 'cycle' } });
    assert.equal(run.code, 70, `${run.stdout}\n${run.stderr}`);
    assert.match(summary(run.stdout), /1 internal error/);
    assert.match(run.stdout, /local: internal error: .*TypeError|local: internal error: MAILPOLL_TEST_FAULT/);
    assert.match(run.stdout, /bug in mailpoll: please report it with the output of --verbose/);

    const verbose = await runCli(['-v'], { cwd: dir, env: { MAILPOLL_TEST_FAULT: 'cycle' } });
    assert.equal(verbose.code, 70);
    assert.match(verbose.stderr, /TypeError: MAILPOLL_TEST_FAULT=cycle[^\n]*\n[^\n]*at /, 'the stack under -v');
  });
});
