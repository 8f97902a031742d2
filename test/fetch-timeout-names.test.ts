/**
 * A fetch that stalls names the messages it was waiting for (IMAP: the UIDs not received;
 * POP3: the UIDL and number of the message whose RETR went unanswered), so an operator can
 * find the message that stalls. Real CLI, real Dovecot, a relay that stops forwarding once
 * the client asks for bodies.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, writeConfig } from './helpers/cli.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { scenario, SPEC_HANDLER, type Credentials } from './helpers/scenario.js';
import { startRelay } from './helpers/tcp-relay.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

/** A relay that forwards normally until armed, then stalls a connection once it asks for bodies. */
async function stallingRelay(port: number, bodyCommand: string) {
  const state = { armed: false };
  const relay = await startRelay(port, { stallWhen: (chunk) => state.armed && chunk.toString('latin1').includes(bodyCommand) });
  return { relay, arm: () => (state.armed = true) };
}

async function deliver(creds: Credentials, subjects: string[]): Promise<void> {
  for (const subject of subjects) await dovecot.deliver(creds.user, message({ subject }));
}

async function run(creds: Credentials, account: Record<string, unknown>) {
  const dir = await writeConfig({
    script: SPEC_HANDLER,
    accounts: [{ name: 'support', host: '127.0.0.1', tls: 'none', user: creds.user, password: creds.password, fetchTimeout: '1s', ...account }],
  });
  return { dir, run: () => runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: join(dir, 'calls.ndjson') } }) };
}

function accountError(result: Awaited<ReturnType<typeof runCli>>): string {
  const event = result.events.find((e) => e.type === 'account' && e.error);
  return String(event?.error ?? `${result.stdout}${result.stderr}`);
}

test('IMAP: the timeout names the UIDs of the batch that stalled', async () => {
  const creds = await world.mailbox(['[1] "keep"', '[2] "keep"']);
  // Plaintext, so the relay sees the commands.
  const { relay, arm } = await stallingRelay(dovecot.ports.imap, 'BODY.PEEK[]');
  const { dir, run: poll } = await run(creds, { protocol: 'imap', port: relay.port });
  const first = await poll();
  assert.equal(first.code, 0, first.stdout + first.stderr);

  await deliver(creds, ['[3] "keep"', '[4] "keep"', '[5] "keep"']);
  arm();
  const stalled = await poll();
  assert.equal(stalled.code, 3, stalled.stdout + stalled.stderr);
  assert.match(accountError(stalled), /^support: fetch of uids 3:5 from INBOX timed out after 1s/);

  const one = await runCli(['--json', '--limit', '1'], { cwd: dir });
  assert.match(accountError(one), /^support: fetch of uid 3 from INBOX timed out after 1s/);
});

test('POP3: the timeout names the UIDL and number of the message whose RETR stalled', async () => {
  const creds = await world.mailbox(['[1] "keep"']);
  const { relay, arm } = await stallingRelay(dovecot.ports.pop3, 'RETR');
  const { run: poll } = await run(creds, { protocol: 'pop3', port: relay.port });
  const first = await poll();
  assert.equal(first.code, 0, first.stdout + first.stderr);

  await deliver(creds, ['[2] "keep"', '[3] "keep"']);
  arm();
  const stalled = await poll();
  assert.equal(stalled.code, 3, stalled.stdout + stalled.stderr);
  // Dovecot's UIDLs here are %08Xu%08Xv: the UID, then UIDVALIDITY, in hex.
  assert.match(accountError(stalled), /^support: fetch of uid 00000002[0-9a-fA-F]{8} \(message 2\) timed out after 1s on 127\.0\.0\.1:\d+/);
});
