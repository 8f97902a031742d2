/**
 * The live progress line of a run: drawn on a terminal's stderr (script(1), a real
 * pseudo-terminal) while a slow handler works through an account's messages, and wiped before
 * the account's lines; never in a pipe, with --json or with -q. The real CLI over a local Maildir.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli, writeConfig } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';
import { hasScript, runOnTerminal } from './helpers/terminal.js';

const MESSAGES = 6;
const LIVE_LINE = /local \d\/6 messages(, [\d.]+\/s, ETA \d+s)?/;
const CLEAR = '\r\x1b[2K';

/** A Maildir of six messages and a handler that takes most of a second over each: several seconds of work. */
async function slowRun(): Promise<string> {
  const dir = await makeTempDir('progress');
  const maildir = join(dir, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(maildir, sub), { recursive: true });
  for (let index = 1; index <= MESSAGES; index++) {
    const raw = `From: a@example.com\r\nSubject: slow ${index}\r\nMessage-ID: <slow${index}@test>\r\n\r\nbody\r\n`;
    await writeFile(join(maildir, 'new', `${1_767_000_000 + index}.M${index}P1.test`), raw);
  }
  const handler = join(dir, 'slow.mjs');
  await writeFile(handler, 'export default async () => { await new Promise((done) => setTimeout(done, 800)); return "keep"; };\n');
  return writeConfig({ script: handler, accounts: [{ name: 'local', protocol: 'maildir', path: maildir }] }, dir);
}

describe('progress on a terminal', { skip: hasScript ? false : 'script(1) (util-linux) is not installed' }, () => {
  test('a live line per account while its messages take seconds, wiped before the account line', async () => {
    const dir = await slowRun();
    const { code, output } = await runOnTerminal([], dir, { NO_COLOR: '1' });
    assert.equal(code, 0, output);
    assert.match(output, LIVE_LINE, output);
    assert.match(output, /local [1-6]\/6 messages, [\d.]+\/s, ETA \d+s/, 'rate and ETA once a message is done');
    const accountLine = output.indexOf('local: 6 fetched, 6 processed');
    assert.ok(accountLine > 0, output);
    assert.ok(output.lastIndexOf(CLEAR, accountLine) > output.search(LIVE_LINE), 'the line is wiped before the account line');
    assert.doesNotMatch(output.slice(accountLine), LIVE_LINE, 'not drawn again once the account is over');
    for (const line of output.split('\n').filter((text) => /ref:\d/.test(text))) {
      assert.doesNotMatch(line.split(CLEAR).at(-1)!, LIVE_LINE, 'a message line never lands on the live line');
    }
  });

  test('nothing drawn with --json or -q', async () => {
    const [json, quiet] = await Promise.all([runOnTerminal(['--json'], await slowRun(), { NO_COLOR: '1' }), runOnTerminal(['-q'], await slowRun(), { NO_COLOR: '1' })]);
    for (const [what, run] of [['--json', json], ['-q', quiet]] as const) {
      assert.equal(run.code, 0, run.output);
      assert.doesNotMatch(run.output, LIVE_LINE, what);
      assert.ok(!run.output.includes(CLEAR), `${what}: no line wiped`);
    }
  });
});

describe('progress in a pipe', () => {
  test('nothing drawn when stderr is not a terminal', async () => {
    const dir = await slowRun();
    const run = await runCli([], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /local: 6 fetched, 6 processed/);
    assert.doesNotMatch(run.rawStderr, LIVE_LINE);
    assert.ok(!run.rawStderr.includes('\x1b[2K') && !run.rawStderr.includes('\r'), 'no terminal controls on stderr');
  });
});
