/**
 * Module handlers' worker threads shared by the accounts of one process (src/handler/worker/
 * threads.ts): many Maildir accounts through the real CLI, a handler that writes down the
 * thread it ran in. However many accounts poll at once, the handler threads stay within the
 * process-wide budget, and every message of every account is handled once.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { maildirWith } from './helpers/maildir-source.js';
import { makeTempDir } from './helpers/temp.js';

const HANDLER_CONCURRENCY = 2;
/** The default budget (threads.ts): the CPU cores, at least 2, or the largest handlerConcurrency. */
const CAP = Math.max(2, availableParallelism(), HANDLER_CONCURRENCY);
/** More accounts than threads: one pool per account would start more than the budget. */
const ACCOUNTS = CAP * 2 + 2;
const MESSAGES = 3;

/** A handler module that appends `account subject threadId` per message to `log`. */
function handlerSource(log: string, tag: string): string {
  return `import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
export default async function handle(m, context) {
  // Long enough that the accounts polling at once have their messages in handlers together.
  await new Promise((resolve) => setTimeout(resolve, 50));
  appendFileSync(${JSON.stringify(log)}, [context.account, m.subject, ${JSON.stringify(tag)}, threadId].join(' ') + '\\n');
  console.log('handled ' + m.subject);
  return 'markSeen';
}
`;
}

function source(account: number, index: number): string {
  return `From: a@example.com\r\nTo: b@example.com\r\nSubject: box${account}-m${index}\r\nMessage-ID: <box${account}-m${index}@test>\r\nDate: Thu, 01 Jan 2026 10:00:0${index} +0000\r\n\r\nbody\r\n`;
}

interface Handled {
  account: string;
  subject: string;
  module: string;
  thread: string;
}

async function readHandled(log: string): Promise<Handled[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [account = '', subject = '', module = '', thread = ''] = line.split(' ');
      return { account, subject, module, thread };
    });
}

/** `modules` handler files; account i uses module i % modules. Returns the config folder and the log. */
async function setUp(modules: number): Promise<{ dir: string; log: string; expected: string[] }> {
  const root = await makeTempDir('handler-threads');
  const log = join(root, 'handled.log');
  const files: string[] = [];
  for (let index = 0; index < modules; index += 1) {
    const file = join(root, `handler-${index}.mjs`);
    await writeFile(file, handlerSource(log, `module${index}`));
    files.push(file);
  }
  const accounts = [];
  const expected: string[] = [];
  for (let account = 0; account < ACCOUNTS; account += 1) {
    const sources = Array.from({ length: MESSAGES }, (_, index) => source(account, index));
    for (let index = 0; index < MESSAGES; index += 1) expected.push(`box${account} box${account}-m${index}`);
    accounts.push({ name: `box${account}`, protocol: 'maildir', path: await maildirWith(sources), interval: '1h', handlerConcurrency: HANDLER_CONCURRENCY, script: files[account % modules] });
  }
  const dir = await writeConfig({ concurrency: ACCOUNTS, accounts });
  return { dir, log, expected: expected.sort() };
}

describe('handler worker threads shared by the accounts of a process', () => {
  test(`a --watch over ${ACCOUNTS} accounts polling at once runs every message once in at most ${CAP} handler threads`, async () => {
    const { dir, log, expected } = await setUp(1);
    const result = await runCli(['--watch', '--json', '--until', '15s'], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(result.code, 0, result.stderr);
    const handled = await readHandled(log);
    assert.deepEqual(handled.map((entry) => `${entry.account} ${entry.subject}`).sort(), expected, 'every message of every account handled once');
    const threads = new Set(handled.map((entry) => entry.thread));
    assert.ok(threads.size <= CAP, `handler threads: ${threads.size} (${[...threads].join(', ')}), budget ${CAP}`);
    assert.deepEqual(
      messageEvents(result).filter((event) => event.status !== 'ok'),
      [],
      'no message failed',
    );
    // A worker serves many accounts: what the handler writes is still prefixed with the account of its message.
    const logged = result.stderr.split('\n').filter((line) => line.includes(' handled box'));
    assert.equal(logged.length, expected.length, result.stderr);
    for (const line of logged) assert.match(line, /\[(box\d+)\] handled \1-m\d$/);
  });

  test('a --watch whose accounts use two modules at once handles every message once: a module without a worker gets one as the budget frees', async () => {
    const { dir, log, expected } = await setUp(2);
    const result = await runCli(['--watch', '--json', '--until', '15s'], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(result.code, 0, result.stderr);
    const handled = await readHandled(log);
    assert.deepEqual(handled.map((entry) => `${entry.account} ${entry.subject}`).sort(), expected, 'every message of every account handled once');
    for (const entry of handled) assert.equal(entry.module, `module${Number(entry.account.slice('box'.length)) % 2}`, `${entry.account} ran ${entry.module}`);
  });

  test('accounts of two modules take turns in the budget (an idle worker of one makes room for the other): a one-shot run handles every message and exits', async () => {
    const { dir, log, expected } = await setUp(2);
    const result = await runCli(['--json'], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(result.code, 0, result.stderr);
    const handled = await readHandled(log);
    assert.deepEqual(handled.map((entry) => `${entry.account} ${entry.subject}`).sort(), expected, 'every message of every account handled once');
    // Each account's messages went to its own module.
    for (const entry of handled) assert.equal(entry.module, `module${Number(entry.account.slice('box'.length)) % 2}`, `${entry.account} ran ${entry.module}`);
  });
});
