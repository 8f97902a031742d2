/**
 * What the CLI says and how: time on every log line (ISO prefix in a pipe, `time` in NDJSON),
 * history in the run's words, message lines with the ref, errors that name the account once and
 * count by cause, unknown commands and broken JSON configs told plainly, colour and the time
 * prefix decided by the terminal, purge --dry-run, init --dir/--force, the signal note. The
 * real CLI over local Maildirs; the terminal cases run it under script(1), a real pseudo-terminal.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { BIN, FIXTURES, TIME_PREFIX, messageEvents, runCli, startCli, writeConfig } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';
import { hasScript, runOnTerminal } from './helpers/terminal.js';

const HANDLER = join(FIXTURES, 'handlers', 'spec-from-subject.mjs');
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

async function maildir(subjects: string[]): Promise<string> {
  const path = join(await makeTempDir('out'), 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  for (const [index, subject] of subjects.entries()) {
    const raw = `From: a@example.com\r\nSubject: ${subject}\r\nMessage-ID: <out${index}@test>\r\nDate: Thu, 01 Jan 2026 10:0${index}:00 +0000\r\n\r\nbody ${index}\r\n`;
    const file = join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`);
    await writeFile(file, raw);
    await utimes(file, 1_767_000_000 + index, 1_767_000_000 + index);
  }
  return path;
}

async function setup(subjects: string[], extra: Record<string, unknown> = {}, account: Record<string, unknown> = {}): Promise<string> {
  const path = await maildir(subjects);
  return writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path, ...account }], ...extra });
}

/** The times of `raw`'s lines; every non-empty line must start with one. */
function stampedTimes(raw: string, what: string): number[] {
  const lines = raw.split('\n').filter((line) => line !== '');
  assert.ok(lines.length > 0, `${what}: some output`);
  return lines.map((line) => {
    assert.match(line, TIME_PREFIX, `${what}: every line starts with an ISO time`);
    return Date.parse(line.slice(0, 24));
  });
}

function assertInOrder(times: readonly number[], what: string): void {
  for (let index = 1; index < times.length; index += 1) assert.ok(times[index]! >= times[index - 1]!, `${what}: times never go back`);
}

describe('time on every line', () => {
  test('in a pipe, text lines on stdout and stderr start with an ISO time; --no-timestamps drops it', async () => {
    const dir = await setup(['[1] 4', '[2] throw']);
    // A warning of mailpoll's own on stderr: a Maildir entry that is no message file.
    const config = JSON.parse(await readFile(join(dir, 'mailpoll.config.json'), 'utf8')) as { accounts: Array<{ path: string }> };
    await symlink('/dev/null', join(config.accounts[0]!.path, 'new', '1767000100.link'));
    const run = await runCli([], { cwd: dir });
    assert.equal(run.code, 1, run.stderr);
    assertInOrder(stampedTimes(run.rawStdout, 'stdout'), 'stdout');
    assertInOrder(stampedTimes(run.rawStderr, 'stderr'), 'stderr');
    assert.match(run.rawStderr, new RegExp(`${TIME_PREFIX.source}mailpoll: local: warning: skipped `, 'm'));
    assert.match(run.rawStderr, new RegExp(`${TIME_PREFIX.source}\\[local\\] handling \\[1\\] 4$`, 'm'), "a handler's context.log line too");
    assert.match(run.stdout, /^mailpoll: 1 account, 1 processed, 1 failed/m);

    const plain = await runCli(['--no-timestamps'], { cwd: await setup(['[1] 4']) });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.rawStdout, plain.stdout, 'no prefix on stdout');
    assert.equal(plain.rawStderr, plain.stderr, 'no prefix on stderr');
    assert.match(plain.rawStdout, /^local ref:1 /m);
  });

  test('documents are not stamped: validate prints the config as JSON, its note on stderr is', async () => {
    const dir = await setup([]);
    const validate = await runCli(['validate'], { cwd: dir });
    assert.equal(validate.code, 0, validate.stderr);
    assert.equal((JSON.parse(validate.rawStdout) as { accounts: unknown[] }).accounts.length, 1);
    stampedTimes(validate.rawStderr, 'validate stderr');
  });

  test('NDJSON: type, then time (ISO, UTC, milliseconds), in order, on every event; MAILPOLL_NOW fixes the clock', async () => {
    const json = await runCli(['--json'], { cwd: await setup(['[1] 4', '[2] throw']) });
    assert.equal(json.code, 1, json.stderr);
    assert.ok(json.events.length >= 4);
    assert.equal(json.rawStdout.split('\n').filter(Boolean).length, json.events.length, 'every line is an event, none prefixed');
    for (const event of json.events) {
      assert.deepEqual(Object.keys(event).slice(0, 2), ['type', 'time']);
      assert.match(String(event.time), ISO);
    }
    assertInOrder(json.events.map((event) => Date.parse(String(event.time))), 'events');

    const now = '2026-01-02T03:04:05.678Z';
    const fixed = await runCli(['--json'], { cwd: await setup(['[1] 4']), env: { MAILPOLL_NOW: now } });
    assert.deepEqual([...new Set(fixed.events.map((event) => event.time))], [now]);
    const text = await runCli([], { cwd: await setup(['[1] 4']), env: { MAILPOLL_NOW: now } });
    assert.ok(text.rawStdout.split('\n').filter(Boolean).every((line) => line.startsWith(`${now} `)), text.rawStdout);
  });

  test('history --json and show --json: the field names and ISO times of the run', async () => {
    const dir = await setup(['[1] 4', '[2] throw']);
    const run = await runCli(['--json'], { cwd: dir });
    const history = await runCli(['history', '--json'], { cwd: dir });
    assert.equal(history.code, 0, history.stderr);
    const records = history.events.filter((event) => event.type === 'record');
    const [runRow] = history.events.filter((event) => event.type === 'run');
    assert.equal(records.length, 2);
    for (const message of messageEvents(run)) {
      const record = records.find((candidate) => candidate.ref === message.ref);
      assert.ok(record, `record of ref ${String(message.ref)}`);
      for (const key of ['from', 'subject', 'account', 'protocol', 'uid', 'messageId', 'date']) assert.deepEqual(record[key], message[key], key);
      assert.equal('sender' in record, false);
      for (const key of ['time', 'firstSeenAt', 'updatedAt']) assert.match(String(record[key]), ISO, key);
      assert.equal(record.time, record.updatedAt);
    }
    for (const key of ['time', 'startedAt', 'endedAt']) assert.match(String(runRow?.[key]), ISO, key);
    const show = await runCli(['show', String(records[0]!.ref), '--json'], { cwd: dir });
    assert.deepEqual(show.events, [records[0]]);
  });
});

describe('what the CLI says', () => {
  test('a message line shows its ref; the server uid only under -v and in --json', async () => {
    const text = await runCli([], { cwd: await setup(['[1] 4']) });
    assert.match(text.stdout, /^local ref:1 a@example\.com "\[1\] 4" keep ok$/m);
    assert.doesNotMatch(text.stdout, /#|uid/);
    const dir = await setup(['[1] 4']);
    const verbose = await runCli(['-v'], { cwd: dir });
    const [record] = (await runCli(['history', '--json'], { cwd: dir })).events.filter((event) => event.type === 'record');
    assert.match(String(record?.uid), /\S/);
    assert.ok(verbose.stdout.includes(`local ref:1 uid:${String(record?.uid)} a@example.com`), verbose.stdout);
  });

  test('an unknown command is named, with the closest one', async () => {
    const typo = await runCli(['chek']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /^mailpoll: unknown command 'chek' \(did you mean 'check'\?\)$/m);
    assert.doesNotMatch(typo.stderr, /too many arguments/);
    const other = await runCli(['status']);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /unknown command 'status' \(commands: run, watch, check, validate, try, history, show, baseline, retry, purge, workers, secret, auth, init, schema;/);
    assert.equal(other.stdout, '');
  });

  test('a .json config with a trailing comma: line, column and reason', async () => {
    const dir = await makeTempDir('json');
    await writeFile(join(dir, 'mailpoll.config.json'), '{\n  "accounts": [\n    { "name": "a", "protocol": "maildir", "path": "m" },\n  ]\n}\n');
    const run = await runCli(['validate'], { cwd: dir });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^mailpoll\.config\.json: cannot parse: line 3, column 56: a trailing comma before "\]" \(JSON allows none\)$/m);
  });

  test('--json with an invalid config: an error event with the problems on stdout, exit 2', async () => {
    const dir = await setup([], {}, { after: 'nope' });
    for (const args of [['--json'], ['check', '--json']]) {
      const run = await runCli(args, { cwd: dir });
      assert.equal(run.code, 2, args.join(' '));
      assert.equal(run.events.length, 1, run.rawStdout);
      const [event] = run.events;
      assert.deepEqual([event?.type, event?.code, event?.exitCode], ['error', 'E_CONFIG', 2]);
      assert.match(String(event?.time), ISO);
      assert.match(String((event?.problems as string[])[0]), /^mailpoll\.config\.json: accounts\[0\]\.after: expected markSeen, delete, move, keep, copy:<Folder>/);
      assert.match(run.stderr, /accounts\[0\]\.after: expected markSeen, delete, move, keep, copy:<Folder>/, 'stderr says it too');
    }
  });

  test('an account error names the account once; the summary counts accounts by cause', async () => {
    const dir = await writeConfig({
      script: HANDLER,
      accounts: [
        { name: 'down', protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'x', password: 'secret-y' },
        { name: 'gone', protocol: 'maildir', path: './no-such-maildir' },
      ],
    });
    const run = await runCli([], { cwd: dir });
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stdout, /^down: cannot connect to 127\.0\.0\.1:1 /m);
    assert.doesNotMatch(run.stdout, /down: down:|gone: gone:/);
    assert.match(run.stdout, /^mailpoll: 2 accounts, 1 unreachable, 1 mailbox error, 0 processed/m);
  });

  test('--watch: each failure is printed once, on its backoff line', async () => {
    const dir = await writeConfig({
      script: HANDLER,
      accounts: [{ name: 'down', protocol: 'imap', host: '127.0.0.1', port: 1, tls: 'none', user: 'x', password: 'secret-y', backoff: { initial: '100ms', max: '400ms' } }],
    });
    const cli = startCli(['--watch'], { cwd: dir });
    const result = await cli.exited;
    const failures = result.stdout.split('\n').filter((line) => line.includes('cannot connect'));
    assert.ok(failures.length >= 2, result.stdout);
    assert.deepEqual(
      failures.map((line) => /^down: (attempt \d+ failed|giving up)/.exec(line)?.[1]),
      [...failures.slice(0, -1).map((_, index) => `attempt ${index + 1} failed`), 'giving up'],
      result.stdout,
    );
  });

  test('top-level --help lists the options of the default command', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.equal(help.rawStdout, help.stdout, 'help is not stamped');
    const section = help.stdout.slice(help.stdout.indexOf('Options of the default command'));
    for (const option of ['-c, --config <file>', '--json', '--dry-run', '-q, --quiet', '-v, --verbose', '--timestamps', '--no-timestamps']) {
      assert.ok(section.includes(option), `${option} in:\n${section}`);
    }
  });

  test('a signal between messages says it stops; with a message in hand, that it finishes it first', async () => {
    const idle = startCli(['--watch', '--json'], { cwd: await setup([], {}, { interval: '1h' }) });
    await idle.waitFor((event) => event.type === 'cycle', 'the first cycle');
    idle.signal('SIGINT');
    const stopped = await idle.exited;
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /^mailpoll: SIGINT: stopping \(again to exit at once\)$/m);
    assert.doesNotMatch(stopped.stderr, /message in hand/);

    const log = join(await makeTempDir('hand'), 'calls.ndjson');
    const busy = startCli([], { cwd: await setup(['[1] 4', '[2] 4']), env: { HANDLER_LOG: log, HANDLER_DELAY_MS: '1500' } });
    while (!existsSync(log) || (await stat(log)).size === 0) await new Promise((wake) => setTimeout(wake, 20));
    busy.signal('SIGINT');
    const finished = await busy.exited;
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stderr, /^mailpoll: SIGINT: stopping after the message in hand \(again to exit at once\)$/m);
  });
});

describe('terminal, colour and time prefix', { skip: hasScript ? false : 'script(1) (util-linux) is not installed' }, () => {
  test('on a terminal: colour unless NO_COLOR or FORCE_COLOR=0; no time prefix unless --timestamps', async () => {
    const dir = await setup(['[1] 4'], {}, { after: 'keep', reprocess: true });
    const plain = await runOnTerminal([], dir);
    assert.equal(plain.code, 0, plain.output);
    assert.match(plain.output, /\u001b\[/, 'colours on a terminal');
    assert.doesNotMatch(plain.output, new RegExp(TIME_PREFIX.source, 'm'), 'no time prefix on a terminal');
    for (const env of [{ FORCE_COLOR: '0' }, { NO_COLOR: '1' }]) {
      const off = await runOnTerminal([], dir, env);
      assert.equal(off.code, 0, off.output);
      assert.doesNotMatch(off.output, /\u001b\[/, JSON.stringify(env));
      assert.match(off.output, /^local ref:\d+ a@example\.com "\[1\] 4" keep ok$/m);
    }
    const stamped = await runOnTerminal(['--timestamps'], dir, { NO_COLOR: '1' });
    stampedTimes(stamped.output, '--timestamps on a terminal');
  });
});

describe('purge --dry-run and init', () => {
  test('purge --dry-run counts what purge deletes, and deletes nothing', async () => {
    const dir = await setup(['[1] 4'], { retentionDays: 1 });
    assert.equal((await runCli([], { cwd: dir, env: { MAILPOLL_NOW: '2026-01-01T00:00:00Z' } })).code, 0);
    const later = { MAILPOLL_NOW: '2026-01-03T00:00:00Z' };
    const preview = await runCli(['purge', '--dry-run', '--json'], { cwd: dir, env: later });
    assert.equal(preview.code, 0, preview.stderr);
    assert.deepEqual([preview.events[0]?.type, preview.events[0]?.dryRun, preview.events[0]?.rawDeleted], ['purge', true, 1]);
    const text = await runCli(['purge', '--dry-run'], { cwd: dir, env: later });
    assert.match(text.stdout, /^would purge 1 raw copy \(older than 1 days\), .* \(dry run: nothing deleted\)$/m);
    assert.equal((await runCli(['show', '1', '--raw'], { cwd: dir, env: later })).code, 0, 'the raw copy is still there');

    const purge = await runCli(['purge', '--json'], { cwd: dir, env: later });
    assert.deepEqual([purge.events[0]?.dryRun, purge.events[0]?.rawDeleted], [false, 1]);
    assert.equal((await runCli(['show', '1', '--raw'], { cwd: dir, env: later })).code, 2, 'now it is gone');
  });

  test('init --dir writes there with the schema line; an existing file is kept unless --force', async () => {
    const cwd = await makeTempDir('init');
    const init = await runCli(['init', '--dir', 'conf/mail'], { cwd });
    assert.equal(init.code, 0, init.stderr);
    const config = join(cwd, 'conf', 'mail', 'mailpoll.config.yaml');
    const written = await readFile(config, 'utf8');
    const schema = /^# yaml-language-server: \$schema=(\S+)\n/.exec(written)?.[1];
    assert.ok(schema !== undefined, written.slice(0, 200));
    const schemaFile = isAbsolute(schema) ? schema : resolve(dirname(config), schema);
    assert.equal((JSON.parse(await readFile(schemaFile, 'utf8')) as { title: string }).title, 'mailpoll config');
    assert.ok(existsSync(join(cwd, 'conf', 'mail', 'handler.mjs')));
    assert.match(init.stderr, /^created conf\/mail\/mailpoll\.config\.yaml$/m);
    assert.match(init.stderr, /next: .*mailpoll validate -c conf\/mail\/mailpoll\.config\.yaml/);
    const validate = await runCli(['validate', '-c', 'conf/mail/mailpoll.config.yaml'], { cwd, env: { SUPPORT_IMAP_PASSWORD: 'a-password' } });
    assert.equal(validate.code, 0, validate.stderr);

    await writeFile(config, 'accounts: []\n');
    const again = await runCli(['init', '--dir', 'conf/mail'], { cwd });
    assert.match(again.stderr, /kept conf\/mail\/mailpoll\.config\.yaml: it exists and is not overwritten \(--force overwrites it\)/);
    assert.equal(await readFile(config, 'utf8'), 'accounts: []\n');
    const forced = await runCli(['init', '--dir', 'conf/mail', '--force'], { cwd });
    assert.match(forced.stderr, /^overwrote conf\/mail\/mailpoll\.config\.yaml$/m);
    assert.equal(await readFile(config, 'utf8'), written);
  });
});
