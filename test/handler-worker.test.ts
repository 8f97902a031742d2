/**
 * JS handlers in worker threads, through the real CLI against a private Dovecot: console
 * output kept off stdout, faults that fail one message only (`handlerMemoryLimit` among them),
 * `handlerTimeout` stopping synchronous code while the lease holds, and `handlerConcurrency`.
 *
 * Each handler appends the subject of every message it is called for to $CALLS before doing
 * anything else: how often a message was handed over is read from that file.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { messageEvents, runCli, startCli, writeConfig, type CliResult } from './helpers/cli.js';
import { scenario } from './helpers/scenario.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot();
const mail = scenario(dovecot);

/** Past the default retryDelay (10m) of a failure recorded now: the next attempt is due. */
function later(minutes = 20): string {
  return new Date(Date.now() + minutes * 60_000).toISOString();
}

/** A handler that records its call, does `body` (the message is `m`), and deletes the message. */
function handlerSource(body: string): string {
  return `import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
export default async (m, context) => {
  appendFileSync(process.env.CALLS, m.subject + '\\n');
  ${body}
  return 3;
};
`;
}

async function setup(subjects: string[], body: string, extra: Record<string, unknown> = {}) {
  const creds = await mail.mailbox(subjects);
  const dir = await writeConfig({ script: './handler.mjs', accounts: [mail.imapAccount(creds, { maxAttempts: 2, ...extra })] });
  await writeFile(join(dir, 'handler.mjs'), handlerSource(body));
  const calls = join(dir, 'calls.txt');
  const run = (env: Record<string, string> = {}) => runCli(['--json'], { cwd: dir, env: { CALLS: calls, ...env } });
  return { creds, dir, calls, run };
}

async function callsOf(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

function outcomes(result: CliResult): Array<[unknown, unknown]> {
  return messageEvents(result).map((event) => [event.subject, event.status]);
}

/** stdout is the report only: every line is an NDJSON event. */
function assertStdoutIsReport(result: CliResult): void {
  for (const line of result.stdout.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), `not NDJSON: ${line}`);
}

describe('console output of a JS handler', () => {
  test('goes to stderr prefixed with the account; --json stdout stays NDJSON', async () => {
    const { run, creds } = await setup(
      ['one', 'two'],
      `console.log('log:', m.subject); console.error('error:', m.subject); process.stdout.write('partial ' + m.subject); process.stdout.write(' end\\n'); console.info({ uid: m.uid !== undefined });`,
    );
    const result = await run();
    assert.equal(result.code, 0, result.stderr);
    assertStdoutIsReport(result);
    assert.deepEqual(outcomes(result), [['one', 'ok'], ['two', 'ok']]);
    for (const subject of ['one', 'two']) {
      for (const line of [`[support] log: ${subject}`, `[support] error: ${subject}`, `[support] partial ${subject} end`]) {
        assert.ok(result.stderr.split('\n').includes(line), `stderr has ${JSON.stringify(line)}:\n${result.stderr}`);
      }
    }
    assert.ok(result.stderr.includes('[support] { uid: true }'), result.stderr);
    assert.deepEqual(await mail.state(creds.user), []);
  });
});

/** Each fault, triggered by the second of three messages only. */
const FAULTS: Array<{ name: string; body: string; reason: RegExp; extra?: Record<string, unknown> }> = [
  {
    name: 'a throw from a setTimeout',
    body: `if (m.subject === 'two') { setTimeout(() => { throw new Error('thrown from a timer'); }, 1); await new Promise(() => {}); }`,
    reason: /^handler failed: an exception thrown outside its promise \(from a timer or callback\): thrown from a timer; its worker thread was replaced/,
  },
  {
    name: 'an unhandled rejection',
    body: `if (m.subject === 'two') { Promise.reject(new Error('nobody waits for me')); await new Promise(() => {}); }`,
    reason: /^handler failed: an unhandled promise rejection: nobody waits for me; its worker thread was replaced/,
  },
  {
    name: 'process.exit(0)',
    body: `if (m.subject === 'two') process.exit(0);`,
    reason: /^handler failed: it called process\.exit\(0\); its worker thread was replaced/,
  },
  {
    name: 'while (true) {}',
    body: `if (m.subject === 'two') while (true) {}`,
    reason: /^handler timed out after 4s; its worker thread was stopped/,
    extra: { handlerTimeout: '4s' },
  },
  {
    name: 'a heap grown past handlerMemoryLimit',
    body: `if (m.subject === 'two') { const hoard = []; for (;;) hoard.push({ n: Math.random(), text: 'x'.repeat(64) + Math.random() }); }`,
    reason: /^handler failed: its worker thread ran out of memory \(handlerMemoryLimit: 64MB\) and was replaced; raise handlerMemoryLimit/,
    extra: { handlerMemoryLimit: '64MB' },
  },
];

describe('a faulty JS handler fails that message only', () => {
  for (const fault of FAULTS) {
    test(fault.name, async () => {
      const { run, calls, creds } = await setup(['one', 'two', 'three'], fault.body, fault.extra);

      const first = await run();
      assert.equal(first.code, 1, first.stderr);
      assertStdoutIsReport(first);
      assert.deepEqual(outcomes(first), [['one', 'ok'], ['two', 'failed'], ['three', 'ok']], first.stdout);
      assert.match(String(messageEvents(first)[1]?.error), fault.reason);
      assert.deepEqual(await callsOf(calls), ['one', 'two', 'three']);

      const second = await run({ MAILPOLL_NOW: later() });
      assert.equal(second.code, 1, second.stderr);
      assert.deepEqual(outcomes(second), [['two', 'quarantined']], second.stdout);
      assert.match(String(messageEvents(second)[0]?.error), fault.reason);

      const third = await run({ MAILPOLL_NOW: later(60) });
      assert.equal(third.code, 0, third.stderr);
      assert.deepEqual(outcomes(third), []);
      // Handled once each; the faulty one tried maxAttempts times.
      assert.deepEqual(await callsOf(calls), ['one', 'two', 'three', 'two']);
      assert.deepEqual((await mail.state(creds.user)).map((m) => m.subject), ['two']);
    });
  }

  test('Atomics.wait past handlerTimeout: a second run meanwhile finds the account busy', async () => {
    const { run, dir, calls, creds } = await setup(
      ['one', 'two', 'three'],
      `if (m.subject === 'two') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 70_000);`,
      { handlerTimeout: '8s' },
    );
    const first = startCli(['--json'], { cwd: dir, env: { CALLS: calls } });
    await waitUntil(async () => (await callsOf(calls)).includes('two'), 'the second message handed over', first);

    const meanwhile = await run();
    assert.equal(meanwhile.code, 0, meanwhile.stderr);
    assert.deepEqual(outcomes(meanwhile), []);
    assert.equal(meanwhile.events.find((event) => event.type === 'account')?.status, 'busy', meanwhile.stdout);

    const result = await first.exited;
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(outcomes(result), [['one', 'ok'], ['two', 'failed'], ['three', 'ok']], result.stdout);
    assert.match(String(messageEvents(result)[1]?.error), /^handler timed out after 8s; its worker thread was stopped/);

    const second = await run({ MAILPOLL_NOW: later() });
    assert.equal(second.code, 1, second.stderr);
    assert.deepEqual(outcomes(second), [['two', 'quarantined']], second.stdout);
    assert.deepEqual(await callsOf(calls), ['one', 'two', 'three', 'two']);
    assert.deepEqual((await mail.state(creds.user)).map((m) => m.subject), ['two']);
  });
});

describe('handlerConcurrency', () => {
  // The first message's handler returns only once the second's has run: it needs two at once.
  const WAITS_FOR_TWO = `
    if (m.subject === 'two') writeFileSync(process.env.CALLS + '.two', '');
    if (m.subject === 'one') {
      const seen = await waitFor(process.env.CALLS + '.two', Number(process.env.WAIT_MS));
      appendFileSync(process.env.CALLS, 'one saw two: ' + seen + '\\n');
    }
  `;
  const WAIT_FOR = `
async function waitFor(file, ms) {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (existsSync(file)) return true;
  return existsSync(file);
}
`;

  test('2: the first message is in its handler while the second is handled; the report stays in mailbox order', async () => {
    const { run, dir, calls, creds } = await setup(['one', 'two', 'three'], WAITS_FOR_TWO, { handlerConcurrency: 2 });
    await writeFile(join(dir, 'handler.mjs'), handlerSource(WAITS_FOR_TWO) + WAIT_FOR);
    const result = await run({ WAIT_MS: '120000' });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(outcomes(result), [['one', 'ok'], ['two', 'ok'], ['three', 'ok']], result.stdout);
    const log = await callsOf(calls);
    assert.ok(log.includes('one saw two: true'), log.join('\n'));
    assert.deepEqual(log.filter((line) => !line.includes(' saw ')).sort(), ['one', 'three', 'two']);
    assert.deepEqual(await mail.state(creds.user), []);
  });

  test('1 (the default): one handler at a time, in mailbox order', async () => {
    const { run, dir, calls } = await setup(['one', 'two', 'three'], WAITS_FOR_TWO);
    await writeFile(join(dir, 'handler.mjs'), handlerSource(WAITS_FOR_TWO) + WAIT_FOR);
    // The second cannot start before the first returned, however long the first waits.
    const result = await run({ WAIT_MS: '300' });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(outcomes(result), [['one', 'ok'], ['two', 'ok'], ['three', 'ok']]);
    assert.deepEqual(await callsOf(calls), ['one', 'one saw two: false', 'two', 'three']);
  });

  test('2 with a command handler: the first program is still running while the second runs', async () => {
    const creds = await mail.mailbox(['one', 'two', 'three']);
    // `one` waits (up to 2 minutes) for the file `two` writes.
    const script = 'echo "$MAILPOLL_SUBJECT" >> "$CALLS"; cat > /dev/null; '
      + 'if [ "$MAILPOLL_SUBJECT" = two ]; then : > "$CALLS.two"; fi; '
      + 'if [ "$MAILPOLL_SUBJECT" = one ]; then i=0; while [ ! -e "$CALLS.two" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; [ -e "$CALLS.two" ] && echo "one saw two" >> "$CALLS"; fi; echo 3';
    const dir = await writeConfig({ accounts: [mail.imapAccount(creds, { command: ['sh', '-c', script], handlerConcurrency: 2 })] });
    const calls = join(dir, 'calls.txt');
    const result = await runCli(['--json'], { cwd: dir, env: { CALLS: calls } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(outcomes(result), [['one', 'ok'], ['two', 'ok'], ['three', 'ok']], result.stdout);
    assert.ok((await callsOf(calls)).includes('one saw two'), (await callsOf(calls)).join('\n'));
    assert.deepEqual(await mail.state(creds.user), []);
  });

  test('each handled row is committed before any server action: a crash repeats only the handler still running', async () => {
    // `one` waits until released; `two` and `three` are handled meanwhile (two at a time).
    const body = `if (m.subject === 'one') while (!existsSync(process.env.CALLS + '.release')) await new Promise((r) => setTimeout(r, 20));`;
    const { run, dir, calls, creds } = await setup(['one', 'two', 'three'], body, { handlerConcurrency: 2 });
    const first = startCli(['--json'], { cwd: dir, env: { CALLS: calls } });
    await waitUntil(async () => (await callsOf(calls)).length === 3, 'all three handed over', first);
    // `three` starts once `two` has answered; both return at once: wait for their rows.
    await waitUntil(async () => (await handledRows(dir)) >= 2, 'two and three recorded as handled', first);
    first.signal('SIGKILL');
    await first.exited;
    // No server action while `one` was still in its handler.
    assert.deepEqual((await mail.state(creds.user)).map((m) => m.subject).sort(), ['one', 'three', 'two']);

    await writeFile(`${calls}.release`, '');
    const second = await run();
    assert.equal(second.code, 0, second.stderr);
    const events = messageEvents(second).map((event) => [event.subject, event.status, event.recovered]);
    assert.deepEqual(events, [['two', 'ok', true], ['three', 'ok', true], ['one', 'ok', false]], second.stdout);
    // Only the handler that was still running is called again. (Two workers start side by
    // side: the order in which the first two log their calls is theirs.)
    const log = await callsOf(calls);
    assert.deepEqual(log.slice(0, 3).sort(), ['one', 'three', 'two']);
    assert.deepEqual(log.slice(3), ['one']);
    assert.deepEqual(await mail.state(creds.user), []);
  });
});

/** Messages the ledger holds as `handled` (read through `mailpoll history`'s sibling: the store itself). */
async function handledRows(dir: string): Promise<number> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dir, 'mailpoll.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare(`SELECT count(*) AS n FROM messages WHERE state = 'handled'`).get() as { n: number };
    return row.n;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

async function waitUntil(check: () => Promise<boolean>, what: string, cli: { stderr: () => string }): Promise<void> {
  for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (await check()) return;
  }
  throw new Error(`timed out waiting for ${what}; stderr:\n${cli.stderr()}`);
}
