/**
 * Command handlers (`command:`) through the real CLI and real child processes: sh and
 * python3 programs on Maildir accounts, and one IMAP account on a private Dovecot for the
 * move and the secrets kept out of the handler's environment.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { messageEvents, runCli, writeConfig, type CliResult } from './helpers/cli.js';
import { bySubject, readMaildir } from './helpers/maildir-state.js';
import { expectMessage, scenario } from './helpers/scenario.js';
import { makeTempDir } from './helpers/temp.js';
import { useDovecot } from './helpers/use-dovecot.js';

/** Prints what the subject after `] ` says; `exit N`, `empty` and `kill` do what they say. */
const SPEC_SH = `#!/bin/sh
cat > /dev/null
spec=\${MAILPOLL_SUBJECT#*] }
case "$spec" in
  "exit "*) echo "first stderr line" >&2; echo "why it failed" >&2; exit \${spec#exit } ;;
  empty) ;;
  kill) kill -9 $$ ;;
  *) echo "debug: looking at $MAILPOLL_UID"; printf '%s\\n' "$spec"; echo ""; echo "  " ;;
esac
`;

/** Logs the sha256 of its stdin and its MAILPOLL_* environment to $CALLS, then prints $ANSWER (if set). */
const RECORD_PY = `#!/usr/bin/env python3
import hashlib, json, os, sys
raw = sys.stdin.buffer.read()
entry = {k: v for k, v in os.environ.items() if k.startswith('MAILPOLL_') or k.startswith('MP_')}
entry['sha256'] = hashlib.sha256(raw).hexdigest()
with open(os.environ['CALLS'], 'a') as log:
    log.write(json.dumps(entry) + '\\n')
print('python says hello', file=sys.stderr)
answer = os.environ.get('ANSWER')
if answer:
    print(answer)
`;

async function program(dir: string, name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  await chmod(file, 0o755);
  return file;
}

/** A Maildir with one message per source, in order (named so that they sort as given). */
async function maildir(sources: Array<string | Buffer>): Promise<string> {
  const path = join(await makeTempDir('cmd-md'), 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  for (const [index, source] of sources.entries()) {
    const file = join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`);
    await writeFile(file, source);
    await utimes(file, 1_767_000_000 + index, 1_767_000_000 + index);
  }
  return path;
}

function simple(subject: string, index = 0): string {
  return `From: Ann <a@example.com>\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <cmd${index}@test>\r\nDate: Thu, 01 Jan 2026 10:0${index % 10}:00 +0000\r\n\r\nbody ${index}\r\n`;
}

async function setup(sources: Array<string | Buffer>, account: Record<string, unknown>): Promise<{ dir: string; path: string; calls: string }> {
  const path = await maildir(sources);
  const dir = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, ...account }] });
  return { dir, path, calls: join(dir, 'calls.ndjson') };
}

async function calls(file: string): Promise<Array<Record<string, string>>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, string>);
}

/** stdout is the report only: every line is an NDJSON event. */
function assertStdoutIsReport(result: CliResult): void {
  for (const line of result.stdout.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), `not NDJSON: ${line}`);
}

/** Running (a zombie not yet reaped by an init that does not reap counts as gone). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

const leftRunning: number[] = [];
after(() => {
  for (const pid of leftRunning) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

describe('command handlers: the decision', () => {
  test('sh: every stdout form and exit status, stdout and stderr kept off the report', async () => {
    const subjects = [
      '[1] 1',
      '[2] 4',
      '[3] delete',
      '[4] keep',
      '[5] markSeen',
      '[6] move:Archive',
      '[7] {"action":"move","folder":"Done","transition":false}',
      '[8] empty',
      '[9] exit 3',
      '[10] exit 75',
      '[11] bogus word',
      '[12] {not json',
      '[13] kill',
      '[14] 2',
    ];
    const { dir, path } = await setup(
      subjects.map((subject, index) => simple(subject, index)),
      { command: ['./spec.sh'] },
    );
    await program(dir, 'spec.sh', SPEC_SH);
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assertStdoutIsReport(result);
    const events = messageEvents(result);
    assert.deepEqual(
      events.map((e) => [e.subject, e.status, e.status === 'ok' ? e.action : e.code, e.status === 'ok' ? e.transition : null]),
      [
        ['[1] 1', 'ok', 'delete', true],
        ['[2] 4', 'ok', 'keep', false],
        ['[3] delete', 'ok', 'delete', true],
        ['[4] keep', 'ok', 'keep', true],
        ['[5] markSeen', 'ok', 'markSeen', true],
        ['[6] move:Archive', 'ok', 'move', true],
        ['[7] {"action":"move","folder":"Done","transition":false}', 'ok', 'move', false],
        ['[8] empty', 'ok', 'markSeen', true],
        ['[9] exit 3', 'failed', 'E_HANDLER_THREW', null],
        ['[10] exit 75', 'failed', 'E_HANDLER_TEMPORARY', null],
        ['[11] bogus word', 'failed', 'E_INVALID_RESULT', null],
        ['[12] {not json', 'failed', 'E_INVALID_RESULT', null],
        ['[13] kill', 'failed', 'E_HANDLER_THREW', null],
        ['[14] 2', 'ok', 'keep', true],
      ],
    );
    const error = (subject: string) => String(events.find((e) => e.subject === subject)?.error);
    assert.match(error('[9] exit 3'), /^handler failed: command exited with 3: why it failed$/);
    assert.match(error('[10] exit 75'), /command exited with 75 \(temporary failure.*not counted towards maxAttempts\): why it failed/);
    assert.match(error('[11] bogus word'), /^handler returned "bogus word"; expected 1, 2, 3, 4/);
    assert.match(error('[12] {not json'), /^command printed "\{not json", which is not valid JSON/);
    assert.match(error('[13] kill'), /^handler failed: command killed by SIGKILL$/);
    // The lines before the decision, and stderr, go to stderr under the account.
    assert.match(result.stderr, /^\[local\] debug: looking at \S+$/m);
    assert.match(result.stderr, /^\[local\] first stderr line$/m);
    assert.doesNotMatch(result.stdout, /debug:|stderr line/);

    const stored = await readMaildir(path);
    assert.equal(bySubject(stored, '[1] 1'), undefined);
    assert.equal(bySubject(stored, '[6] move:Archive')?.folder, 'Archive');
    assert.equal(bySubject(stored, '[7] {"action":"move","folder":"Done","transition":false}')?.folder, 'Done');
    assert.ok(bySubject(stored, '[8] empty')?.flags.includes('S'));
    for (const failed of ['[9] exit 3', '[10] exit 75', '[11] bogus word', '[13] kill']) {
      assert.deepEqual([bySubject(stored, failed)?.folder, bySubject(stored, failed)?.flags], ['', ''], `${failed} is untouched`);
    }
  });

  test('python3: the string form under /bin/sh -c, a JSON object and a code', async () => {
    const { dir, calls: log } = await setup([simple('[1] one', 1), simple('[2] two', 2)], {
      command: 'ANSWER=\'{"action":"keep","transition":false}\' python3 record.py',
      after: 'keep',
    });
    await program(dir, 'record.py', RECORD_PY);
    const result = await runCli(['--json'], { cwd: dir, env: { CALLS: log } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => [e.status, e.action, e.transition]), [
      ['ok', 'keep', false],
      ['ok', 'keep', false],
    ]);
    assert.match(result.stderr, /^\[local\] python says hello$/m);
    assert.equal((await calls(log)).length, 2);
  });
});

describe('command handlers: what the program receives', () => {
  test('8-bit and CRLF sources arrive byte for byte; the environment holds the metadata, cleaned', async () => {
    const eightBit = Buffer.concat([
      Buffer.from('From: =?utf-8?q?Zo=C3=AB?= <z@example.com>\nSubject: =?utf-8?q?Hi=0Athere=1B[31mred=1B]0;title=07!?=\nMessage-ID: <eight@test>\nDate: Fri, 02 Jan 2026 03:04:05 +0200\nContent-Type: text/plain; charset=latin1\nContent-Transfer-Encoding: 8bit\n\n'),
      Buffer.from([0xe9, 0xff, 0x00, 0x0d, 0x0a, 0x80, 0x0a, 0x0d, 0x0d, 0x0a]),
    ]);
    const crlf = Buffer.from(`${simple('[2] crlf', 2)}line with trailing spaces   \r\n\r\n.\r\n..\r\nlast line without newline`);
    const { dir, path, calls: log } = await setup([eightBit, crlf], { command: ['./record.py'] });
    await program(dir, 'record.py', RECORD_PY);
    const result = await runCli(['--json'], { cwd: dir, env: { CALLS: log, MP_KEPT: 'passed on' } });
    assert.equal(result.code, 0, result.stderr);
    const [first, second] = await calls(log);
    const sha = (source: Buffer) => createHash('sha256').update(source).digest('hex');
    assert.equal(first?.sha256, sha(eightBit));
    assert.equal(second?.sha256, sha(crlf));

    const events = messageEvents(result);
    const files = await readdir(join(path, 'cur'));
    assert.equal(files.length, 2);
    assert.deepEqual(
      { ...first, sha256: undefined, MAILPOLL_UID: undefined, MAILPOLL_REF: undefined },
      {
        MAILPOLL_ACCOUNT: 'local',
        MAILPOLL_FOLDER: 'INBOX',
        MAILPOLL_MESSAGE_ID: '<eight@test>',
        MAILPOLL_FROM: '"Zoë" <z@example.com>',
        MAILPOLL_SUBJECT: 'Hi therered!',
        MAILPOLL_DATE: '2026-01-02T01:04:05.000Z',
        MAILPOLL_SIZE: String(eightBit.length),
        MAILPOLL_FLAGS: '',
        MAILPOLL_DRY_RUN: '0',
        MP_KEPT: 'passed on',
        sha256: undefined,
        MAILPOLL_UID: undefined,
        MAILPOLL_REF: undefined,
      },
    );
    assert.equal(first?.MAILPOLL_REF, String(events[0]?.ref));
    assert.equal(first?.MAILPOLL_UID, events[0]?.uid);
    assert.equal(second?.MAILPOLL_SUBJECT, '[2] crlf');
  });

  test('--dry-run passes MAILPOLL_DRY_RUN=1 and changes nothing', async () => {
    const { dir, path, calls: log } = await setup([simple('[1] dry', 1)], { command: ['./record.py'] });
    await program(dir, 'record.py', RECORD_PY);
    const result = await runCli(['--json', '--dry-run'], { cwd: dir, env: { CALLS: log, ANSWER: 'delete' } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => [e.status, e.action]), [['dry-run', 'delete']]);
    const [call] = await calls(log);
    assert.equal(call?.MAILPOLL_DRY_RUN, '1');
    assert.equal(call?.MAILPOLL_REF, '');
    assert.equal((await readdir(join(path, 'new'))).length, 1);
  });

  test('a handler that never reads its stdin (a message larger than a pipe) still decides', async () => {
    const big = `${simple('[1] big', 1)}${'x'.repeat(76)}\r\n`.repeat(1);
    const source = big + `${'y'.repeat(998)}\r\n`.repeat(2000);
    const { dir } = await setup([source], { command: 'echo delete' });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => [e.status, e.action]), [['ok', 'delete']]);
  });
});

describe('command handlers: stopping them', () => {
  test('a handler that hangs is killed at handlerTimeout (TERM, then KILL) and the message is left untouched', async () => {
    const { dir, path } = await setup([simple('[1] hang', 1), simple('[2] next', 2)], {
      command: 'case "$MAILPOLL_SUBJECT" in *hang) trap "" TERM; cat >/dev/null; sleep 30; echo delete;; *) echo keep;; esac',
      handlerTimeout: '1s',
    });
    const started = Date.now();
    const result = await runCli(['--json'], { cwd: dir });
    const took = Date.now() - started;
    assert.equal(result.code, 1, result.stderr);
    const [hang, next] = messageEvents(result);
    assert.equal(hang?.status, 'failed');
    assert.equal(hang?.code, 'E_HANDLER_TIMEOUT');
    assert.match(String(hang?.error), /handler timed out after 1s/);
    assert.equal(next?.status, 'ok');
    // KILL 5 s after TERM reaches the shell that ignores TERM and its sleep: the run does not wait 30 s.
    assert.ok(took < 20_000, `took ${took} ms`);
    const hung = bySubject(await readMaildir(path), '[1] hang');
    assert.deepEqual([hung?.folder, hung?.flags], ['', ''], 'untouched');
  });

  test('a grandchild still running at handlerTimeout is killed with the process group', async () => {
    const { dir } = await setup([simple('[1] fork', 1)], {
      command: "sh -c 'echo $$ > grandchild.pid; exec sleep 60' & sleep 60",
      handlerTimeout: '1s',
    });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(messageEvents(result)[0]?.code, 'E_HANDLER_TIMEOUT');
    const pid = Number(await readFile(join(dir, 'grandchild.pid'), 'utf8'));
    leftRunning.push(pid);
    // A signal is delivered asynchronously: give a loaded machine a moment to end it.
    for (let wait = 0; wait < 40 && isAlive(pid); wait += 1) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(isAlive(pid), false, 'the grandchild was killed');
  });

  test('a grandchild left running after a normal exit does not hold up the run', async () => {
    const { dir } = await setup([simple('[1] fork', 1), simple('[2] next', 2)], {
      command: "sh -c 'echo $$ >> grandchildren.pid; exec sleep 60' & echo keep",
    });
    const started = Date.now();
    const result = await runCli(['--json'], { cwd: dir });
    const took = Date.now() - started;
    const pids = (await readFile(join(dir, 'grandchildren.pid'), 'utf8')).split('\n').filter(Boolean).map(Number);
    leftRunning.push(...pids);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => [e.status, e.action]), [
      ['ok', 'keep'],
      ['ok', 'keep'],
    ]);
    assert.ok(took < 10_000, `took ${took} ms`);
  });
});

describe('command handlers: temporary failures', () => {
  test('exit 75 is tried again by the next run and never counted towards quarantine', async () => {
    const { dir, path } = await setup([simple('[1] later', 1)], {
      command: 'if [ -e ready ]; then echo delete; else echo "queue full" >&2; exit 75; fi',
      maxAttempts: 2,
    });
    for (let run = 0; run < 3; run += 1) {
      const result = await runCli(['--json'], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      const [event] = messageEvents(result);
      assert.deepEqual([event?.status, event?.code], ['failed', 'E_HANDLER_TEMPORARY'], `run ${run + 1}`);
      assert.match(String(event?.error), /queue full/);
    }
    await writeFile(join(dir, 'ready'), '');
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => [e.status, e.action]), [['ok', 'delete']]);
    assert.equal((await readMaildir(path)).length, 0);
  });
});

describe('command handlers: config and validate', () => {
  test('script and command together are refused; a missing or not executable program fails validate and the run', async () => {
    const path = await maildir([simple('[1] x', 1)]);
    const both = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, script: './h.mjs', command: 'cat' }] });
    const refused = await runCli(['validate'], { cwd: both });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /accounts\[0\]\.command: conflicts with script; set one handler kind \(script, command, webhook, deliver\)/);

    const missing = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, command: ['./nowhere.sh'] }] });
    const validate = await runCli(['validate'], { cwd: missing });
    assert.notEqual(validate.code, 0);
    assert.match(validate.stderr, /command \S*nowhere\.sh: file not found/);

    const plain = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, command: ['./plain.sh', '--flag'] }] });
    await writeFile(join(plain, 'plain.sh'), 'echo keep\n');
    const run = await runCli(['--json'], { cwd: plain });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /plain\.sh: not executable/);
    assert.equal((await readdir(join(path, 'new'))).length, 1);

    const inherited = await writeConfig({ defaults: { command: ['cat'] }, script: './unused.mjs', accounts: [{ name: 'local', protocol: 'maildir', path }] });
    const shown = await runCli(['validate'], { cwd: inherited });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /"command"/);
  });
});

describe('the examples', () => {
  test('examples/handle.sh and examples/handle.py handle the bundled mail', async () => {
    const mail = fileURLToPath(new URL('../examples/mail/', import.meta.url));
    const sources = await Promise.all((await readdir(mail)).sort().map((name) => readFile(join(mail, name))));
    for (const example of ['handle.sh', 'handle.py']) {
      const { dir } = await setup(sources, { command: [fileURLToPath(new URL(`../examples/${example}`, import.meta.url)), '--queue', 'support'] });
      const result = await runCli(['--json'], { cwd: dir, env: { QUEUE_DIR: join(dir, 'queue') } });
      assert.equal(result.code, 0, `${example}: ${result.stderr}`);
      const events = messageEvents(result);
      assert.equal(events.length, sources.length);
      for (const event of events) assert.equal(event.status, 'ok', `${example}: ${String(event.error)}`);
      assert.match(result.stderr, /^\[local\] (queued|filed in support:) /m);
    }
  });
});

describe('command handlers on IMAP', () => {
  const dovecot = useDovecot();
  const world = scenario(dovecot);

  test('a move decided by a command, and the password kept out of its environment', async () => {
    const creds = await world.mailbox(['[1] move me', '[2] keep me']);
    const account = world.imapAccount(creds, { command: ['./record.py'], passwordEnv: 'MP_PASSWORD' });
    delete account.password;
    const dir = await writeConfig({ accounts: [account] });
    await program(dir, 'record.py', RECORD_PY.replace("answer = os.environ.get('ANSWER')", "answer = 'move:Handled' if 'move' in os.environ['MAILPOLL_SUBJECT'] else 'keep'"));
    const log = join(dir, 'calls.ndjson');
    const result = await runCli(['--json'], { cwd: dir, env: { CALLS: log, MP_PASSWORD: creds.password, MP_OTHER: 'kept' } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => [e.subject, e.status, e.action]), [
      ['[1] move me', 'ok', 'move'],
      ['[2] keep me', 'ok', 'keep'],
    ]);
    const state = await world.state(creds.user);
    expectMessage(state, '[1] move me', { folder: 'Handled', seen: false });
    expectMessage(state, '[2] keep me', { folder: '', seen: false });
    for (const call of await calls(log)) {
      assert.equal(call.MP_PASSWORD, undefined, 'the password is not passed on');
      assert.equal(call.MP_OTHER, 'kept');
      assert.equal(call.MAILPOLL_ACCOUNT, 'support');
      assert.equal(call.MAILPOLL_FOLDER, 'INBOX');
    }
  });
});
