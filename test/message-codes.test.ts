/**
 * Each way a message can fail has its own stable `code` in the `message` event, so that a
 * program reading `--json` can tell them apart without parsing the error text. Through the
 * real CLI on Maildir accounts (no server needed); the one code a run cannot reach on purpose
 * (`E_PARSE`: mailparser refusing even the fallback header block) is checked on its error.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ConnectionError,
  HandlerError,
  HandlerThrewError,
  HandlerTimeoutError,
  InvalidResultError,
  MessageCode,
  messageErrorCode,
  ParseError,
  TimeoutError,
} from '../src/errors.js';
import { FIXTURES, messageEvents, runCli, writeConfig } from './helpers/cli.js';

const HANDLER = join(FIXTURES, 'handlers', 'spec-from-subject.mjs');
const folders: string[] = [];

after(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

/** A Maildir with one message per subject (`body` pads a message to a size), and a file where the folder `Blocked` would go. */
async function maildir(messages: Array<{ subject: string; body?: string }>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'mailpoll-codes-'));
  folders.push(root);
  const path = join(root, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  // A move to Blocked must fail: its folder cannot be created where a file stands.
  await writeFile(join(path, '.Blocked'), 'not a folder');
  for (const [index, { subject, body }] of messages.entries()) {
    const raw = `From: a@example.com\r\nSubject: ${subject}\r\nMessage-ID: <code${index}@test>\r\nDate: Thu, 01 Jan 2026 10:0${index}:00 +0000\r\n\r\n${body ?? `body ${index}`}\r\n`;
    await writeFile(join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`), raw);
  }
  return path;
}

function codes(events: Array<Record<string, unknown>>): Array<[unknown, unknown, unknown]> {
  return events.map((event) => [event.subject, event.status, event.code]);
}

describe('message event codes', () => {
  test('each failure kind has its code; an ok message has null', async () => {
    const path = await maildir([
      { subject: '[1] 4' },
      { subject: '[2] throw' },
      { subject: '[3] hang' },
      { subject: '[4] 5' },
      { subject: '[5] {"action":"move"}' },
      { subject: '[6] "move:Blocked"' },
      { subject: '[7] 4', body: 'x'.repeat(4096) },
    ]);
    const dir = await writeConfig({
      script: HANDLER,
      accounts: [{ name: 'local', protocol: 'maildir', path, handlerTimeout: '1s', maxMessageSize: '2KB' }],
    });
    folders.push(dir);
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(
      codes(messageEvents(result)).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        ['[1] 4', 'ok', null],
        ['[2] throw', 'failed', 'E_HANDLER_THREW'],
        ['[3] hang', 'failed', 'E_HANDLER_TIMEOUT'],
        ['[4] 5', 'failed', 'E_INVALID_RESULT'],
        // Refused by the planner: no folder given and no moveTo.
        ['[5] {"action":"move"}', 'failed', 'E_INVALID_RESULT'],
        ['[6] "move:Blocked"', 'failed', 'E_ACTION_REFUSED'],
        // Never downloaded: no subject known.
        [null, 'quarantined', 'E_TOO_LARGE'],
      ],
    );
  });

  test('a quarantined message keeps the code of its last failure; a dry run is null', async () => {
    const path = await maildir([{ subject: '[1] throw' }, { subject: '[2] "move:Blocked"' }, { subject: '[3] 4' }]);
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path, maxAttempts: 1 }] });
    folders.push(dir);
    const dry = await runCli(['--json', '--dry-run'], { cwd: dir });
    assert.deepEqual(codes(messageEvents(dry)), [
      ['[1] throw', 'failed', 'E_HANDLER_THREW'],
      ['[2] "move:Blocked"', 'dry-run', null],
      ['[3] 4', 'dry-run', null],
    ]);
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(codes(messageEvents(result)), [
      ['[1] throw', 'quarantined', 'E_HANDLER_THREW'],
      ['[2] "move:Blocked"', 'quarantined', 'E_ACTION_REFUSED'],
      ['[3] 4', 'ok', null],
    ]);
  });

  test('the code of each error class a message can fail with', () => {
    const cases: Array<[unknown, string]> = [
      [new HandlerThrewError('handler failed: boom'), 'E_HANDLER_THREW'],
      [new HandlerTimeoutError('handler timed out after 1s'), 'E_HANDLER_TIMEOUT'],
      [new InvalidResultError('handler returned 5'), 'E_INVALID_RESULT'],
      [new ParseError('cannot parse message: Max header size for a MIME node exceeded', { parserCode: 'EMAXLEN' }), 'E_PARSE'],
      [new ConnectionError('connection closed'), 'E_CONNECTION'],
      [new TimeoutError('timed out'), 'E_TIMEOUT'],
      [new TypeError('a bug'), 'E_INTERNAL'],
    ];
    for (const [error, code] of cases) assert.equal(messageErrorCode(error), code, String(error));
    assert.deepEqual(Object.values(MessageCode).sort(), ['E_ACTION_REFUSED', 'E_TOO_LARGE']);
    // Every handler failure is still a HandlerError (exit 1), whatever its code.
    for (const [error] of cases.slice(0, 3)) assert.ok(error instanceof HandlerError && error.exitCode === 1);
    const parse = new ParseError('cannot parse message: x', { parserCode: 'EMAXLEN' });
    assert.deepEqual([parse.parserCode, parse.exitCode], ['EMAXLEN', 1]);
  });
});
