/**
 * Text from mail reaches the terminal escaped: control characters (ESC, BEL, CR, LF, C1) and
 * bidi overrides in subjects, senders and handler errors are shown as `\u001b`, `\r`, `\u202e`,
 * in the run's report, `history`, `show` and on stderr. The real CLI against a Maildir.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { BIN, FIXTURES, messageEvents, runCli, writeConfig, type CliResult } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';

const HANDLER = join(FIXTURES, 'handlers', 'echo-subject.mjs');
const FORGED = 'FORGED: mailpoll: 1 account, 0 processed (exit 0)';

function b64(text: string): string {
  return `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

/** Hostile subjects (and one sender), each encoded the way a sender would hide it. */
const HOSTILE: Array<{ subject: string; from?: string; decoded: string }> = [
  { subject: b64('retitle \x1b]0;owned\x07 here'), decoded: 'retitle \x1b]0;owned\x07 here' },
  { subject: b64('erase \x1b[1A\x1b[2K above'), decoded: 'erase \x1b[1A\x1b[2K above' },
  { subject: `=?UTF-8?Q?line=0D=0A${FORGED.replace(/ /g, '_').replace(/[:()]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase()}`)}?=`, decoded: `line\r\n${FORGED}` },
  { subject: b64('invoice \u202egpj.exe'), from: `${b64('boss \u202e\x9b31m')} <boss@example.com>`, decoded: 'invoice \u202egpj.exe' },
  { subject: b64('refuse \x1b[31mred\x07'), decoded: 'refuse \x1b[31mred\x07' },
];

async function hostileMaildir(): Promise<string> {
  const root = await makeTempDir('esc');
  const path = join(root, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  for (const [index, mail] of HOSTILE.entries()) {
    const raw = `From: ${mail.from ?? 'a@example.com'}\r\nTo: b@example.com\r\nSubject: ${mail.subject}\r\nMessage-ID: <esc${index}@test>\r\nDate: Thu, 01 Jan 2026 10:0${index}:00 +0000\r\n\r\nbody ${index}\r\n`;
    await writeFile(join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`), raw);
  }
  return path;
}

/** No control or bidi character from the mail, and the forged report line never starts a line. */
function assertClean(what: string, result: CliResult): void {
  for (const [stream, text] of [['stdout', result.stdout], ['stderr', result.stderr]] as const) {
    const bad = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/u.exec(text);
    assert.equal(bad, null, `${what}: ${stream} holds U+${bad?.[0].codePointAt(0)?.toString(16).padStart(4, '0')}:\n${text}`);
    for (const line of text.split('\n')) assert.ok(!line.startsWith('FORGED'), `${what}: ${stream} has the forged line as its own line:\n${text}`);
  }
}

describe('control characters from mail are escaped on the terminal', () => {
  test('run, history and show print hostile subjects, senders and errors escaped', async () => {
    const path = await hostileMaildir();
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path }] });

    const run = await runCli([], { cwd: dir });
    assert.equal(run.code, 1, run.stderr);
    assertClean('run', run);
    assert.match(run.stdout, /retitle \\u001b\]0;owned\\u0007 here/);
    assert.match(run.stdout, /line\\r\\nFORGED/);
    assert.match(run.stdout, /invoice \\u202egpj\.exe/);
    assert.match(run.stdout, /boss \\u202e\\u009b31m/);
    assert.match(run.stdout, /refused: refuse \\u001b\[31mred\\u0007/);
    assert.match(run.stderr, /\[local\] handling erase \\u001b\[1A\\u001b\[2K above/);

    const history = await runCli(['history'], { cwd: dir });
    assert.equal(history.code, 0, history.stderr);
    assertClean('history', history);
    assert.match(history.stdout, /erase \\u001b\[1A\\u001b\[2K above/);

    for (let ref = 1; ref <= HOSTILE.length; ref += 1) {
      const show = await runCli(['show', String(ref)], { cwd: dir });
      assert.equal(show.code, 0, show.stderr);
      assertClean(`show ${ref}`, show);
    }
    const refused = await runCli(['show', '5'], { cwd: dir });
    assert.match(refused.stdout, /last error: +handler failed: refused: refuse \\u001b\[31mred\\u0007/);
  });

  test('--json keeps the exact text, with C1 and bidi characters escaped as JSON escapes', async () => {
    const path = await hostileMaildir();
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path }] });
    const run = await runCli(['--json'], { cwd: dir });
    assertClean('run --json', run);
    assert.deepEqual(
      messageEvents(run).map((event) => event.subject),
      HOSTILE.map((mail) => mail.decoded),
    );
    assert.equal(messageEvents(run)[3]?.from, 'boss \u202e\x9b31m <boss@example.com>');
    const history = await runCli(['history', '--json'], { cwd: dir });
    assertClean('history --json', history);
    assert.deepEqual(
      history.events.filter((e) => e.type === 'record').map((e) => e.subject).sort(),
      HOSTILE.map((mail) => mail.decoded).sort(),
    );
  });

  test('show --raw refuses a terminal; piped, it writes the exact bytes', async () => {
    const path = await hostileMaildir();
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path }] });
    await runCli(['--json'], { cwd: dir });
    const piped = await runCli(['show', '1', '--raw'], { cwd: dir });
    assert.equal(piped.code, 0, piped.stderr);
    assert.ok(piped.stdout.includes(HOSTILE[0]!.subject), 'the raw bytes, unchanged');
    // `script` gives the CLI a pseudo-terminal as stdout.
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} show 1 --raw`;
    const tty = await promisify(execFile)('script', ['-qec', command, '/dev/null'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } }).then(
      (ok) => ({ code: 0, stdout: ok.stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    assert.equal(tty.code, 2, tty.stdout);
    assert.match(tty.stdout, /stdout is a terminal/);
    assert.ok(!tty.stdout.includes('From: a@example.com'), 'no raw mail on the terminal');
  });
});
