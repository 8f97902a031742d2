/**
 * `--watch` with `idle: true` on a server that does not announce IDLE (Courier by default,
 * here a private Dovecot with IDLE left out of its capability list): mailpoll polls instead,
 * and its cycle events must say so, not `"idle": true`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { startCli, writeConfig } from './helpers/cli.js';
import { scenario, SPEC_HANDLER } from './helpers/scenario.js';

const dovecot = useDovecot({ imapCapability: ['IMAP4rev1', 'SASL-IR', 'LOGIN-REFERRALS', 'ID', 'ENABLE', 'NAMESPACE', 'CHILDREN', 'LITERAL+', 'UIDPLUS', 'MOVE'] });

const isCycle = (fetched: number) => (event: Record<string, unknown>) => event.type === 'cycle' && event.fetched === fetched;

test('--watch --json with idle: true on a server without IDLE: the cycle events say it polls, and why', async () => {
  const world = scenario(dovecot);
  const creds = await world.mailbox(['[1] "markSeen"']);
  const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [world.imapAccount(creds, { idle: true, interval: '300ms' })] });
  const cli = startCli(['--watch', '--json'], { cwd: dir, env: { HANDLER_LOG: join(dir, 'calls.ndjson') } });

  const first = await cli.waitFor(isCycle(1), 'the first cycle');
  // A second message arrives between polls: the next cycles are polls too.
  await dovecot.deliver(creds.user, message({ subject: '[2] "markSeen"', messageId: '<noidle2@test>' }));
  const second = await cli.waitFor((event) => event.type === 'cycle' && event !== first && event.fetched === 1, 'the cycle that polls the second message');
  cli.signal('SIGTERM');
  const result = await cli.exited;
  assert.equal(result.code, 0, result.stderr);

  for (const event of [first, second]) {
    assert.equal(event.status, 'ok');
    assert.equal(event.idle, false, JSON.stringify(event));
    assert.equal(event.fallback, 'the server has no IDLE');
    assert.equal(typeof event.nextAt, 'string', 'a polling account says when it polls next');
  }
  const cycles = result.events.filter((event) => event.type === 'cycle');
  assert.ok(cycles.every((event) => event.idle === false), 'no cycle claims IDLE');
});
