/**
 * Fencing through the real CLI: a run paused (SIGSTOP) inside its handler past its lease,
 * while a second run takes the mailbox over and handles the message; once resumed, the first
 * applies no server action, records nothing for that mailbox, and says so (exit 3). The
 * lease expires on the store's clock: MAILPOLL_NOW puts the second run past the first's TTL.
 * Real Dovecot, real SQLite file, real child processes.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { messageEvents, runCli, startCli, writeConfig } from './helpers/cli.js';
import { scenario } from './helpers/scenario.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

/** Logs each call (pid, subject); with $HOLD set, waits inside the handler until `$HOLD.go` exists. */
const HANDLER = `import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
export default async (message) => {
  appendFileSync(process.env.CALLS, process.pid + ' ' + message.subject + '\\n');
  if (process.env.HOLD) {
    writeFileSync(process.env.HOLD + '.started', '');
    while (!existsSync(process.env.HOLD + '.go')) await sleep(20);
  }
  return 'delete';
};
`;

const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);

async function until(what: string, done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited += 50) {
    if (waited > 60_000) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('a run paused past its lease, the mailbox taken over meanwhile: no server action, nothing recorded, said so', async () => {
  const creds = await world.mailbox(['paused']);
  const dir = await writeConfig({ accounts: [world.imapAccount(creds, { onlyUnseen: false, script: './hold.mjs' })] });
  await writeFile(join(dir, 'hold.mjs'), HANDLER);
  const calls = join(dir, 'calls.log');
  const hold = join(dir, 'hold');

  // The first run's clock stands at T0: its lease (60 s) expires at T0 + 60 s.
  const first = startCli(['--json'], { cwd: dir, env: { CALLS: calls, HOLD: hold, MAILPOLL_NOW: new Date(T0).toISOString() } });
  await until('the first handler to start', () => existsSync(`${hold}.started`));
  first.signal('SIGSTOP');
  try {
    // Two minutes later on the store's clock: the first lease has expired, this run takes it over.
    const second = await runCli(['--json'], { cwd: dir, env: { CALLS: calls, MAILPOLL_NOW: new Date(T0 + 120_000).toISOString() } });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(messageEvents(second).map((event) => [event.subject, event.action, event.status]), [['paused', 'delete', 'ok']]);
    assert.deepEqual(await world.state(creds.user), [], 'the second run deleted it');
  } finally {
    await writeFile(`${hold}.go`, '');
    first.signal('SIGCONT');
  }

  const resumed = await first.exited;
  assert.equal(resumed.code, 3, resumed.stderr);
  assert.deepEqual(messageEvents(resumed), [], 'no message reported as handled by the paused run');
  const account = resumed.events.find((event) => event.type === 'account');
  assert.equal(account?.status, 'error');
  assert.equal(account?.code, 'E_LEASE_LOST');
  assert.match(String(account?.error), /^support: another mailpoll process took this mailbox over after this one's lease expired/);
  assert.match(String(account?.error), /nothing was changed on the server for the messages in hand/);
  assert.match(String(account?.error), /the process that now holds the mailbox handles them/);

  // Each handler ran once; the ledger holds the second run's outcome only (its clock, T0 + 2 min).
  const lines = (await readFile(calls, 'utf8')).trim().split('\n');
  assert.equal(lines.length, 2, lines.join('\n'));
  const history = await runCli(['history', '--json'], { cwd: dir });
  const records = history.events.filter((event) => event.type === 'record');
  assert.deepEqual(
    records.map((record) => [record.subject, record.state, record.action, record.handledAt, record.updatedAt]),
    [['paused', 'done', 'delete', new Date(T0 + 120_000).toISOString(), new Date(T0 + 120_000).toISOString()]],
  );
});
