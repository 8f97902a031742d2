/**
 * Headers-only download: a `parse = 'headers'` handler on an account that keeps no raw copies
 * gets the header block over IMAP (`BODY.PEEK[HEADER]` + `RFC822.SIZE`), not the body; with
 * raw copies kept (or a full handler) the whole source is fetched as before. The protocol
 * trace of -v shows what was asked for; the handler records what it received.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { message } from './helpers/dovecot.js';
import { runCli, writeConfig } from './helpers/cli.js';
import { handlerCalls, scenario } from './helpers/scenario.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { headerBlock, sameSource, sourceHash } from '../src/poll/source-hash.js';

const dovecot = useDovecot();
const { imapAccount, mailbox } = scenario(dovecot);

const HANDLER = `import { appendFileSync } from 'node:fs';
export const parse = 'headers';
export default (mail) => {
  appendFileSync(process.env.HANDLER_LOG, JSON.stringify({ subject: mail.subject, raw: mail.raw.toString('latin1'), size: mail.size }) + '\\n');
  return 'keep';
};
`;

async function setup(retentionDays: number) {
  const creds = await mailbox([]);
  const body = 'x'.repeat(50_000);
  await dovecot.deliver(creds.user, message({ subject: 'big body', body }));
  const dir = await writeConfig({ retentionDays, accounts: [imapAccount(creds, { after: 'keep', script: './headers.mjs' })] });
  await writeFile(join(dir, 'headers.mjs'), HANDLER);
  const log = join(dir, 'calls.ndjson');
  const result = await runCli(['-v'], { cwd: dir, env: { HANDLER_LOG: log } });
  assert.equal(result.code, 0, result.stderr);
  const [call] = await handlerCalls(log);
  return { result, call: call as { subject: string; raw: string; size: number } };
}

describe('headers-only download', () => {
  test('retentionDays: 0 and parse = headers: BODY.PEEK[HEADER], raw is the header block, size the whole message', async () => {
    const { result, call } = await setup(0);
    assert.match(result.stderr, /BODY\.PEEK\[HEADER\]/);
    assert.doesNotMatch(result.stderr, /BODY\.PEEK\[\]/);
    assert.equal(call.subject, 'big body');
    assert.ok(call.raw.endsWith('\r\n\r\n'), 'the header block, with its empty line');
    assert.doesNotMatch(call.raw, /xxxx/);
    assert.ok(call.size > 50_000, `size is the whole message's: ${call.size}`);
  });

  test('raw copies kept: the whole source is fetched', async () => {
    const { result, call } = await setup(7);
    assert.match(result.stderr, /BODY\.PEEK\[\]/);
    assert.match(call.raw, /x{50000}/);
  });
});

describe('the ledger hash of a header block', () => {
  const raw = Buffer.from('Subject: a\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n');
  const header = { raw: headerBlock(raw), headersOnly: true };
  test('is marked, and recognises the same message downloaded whole', () => {
    const recorded = sourceHash(header);
    assert.match(recorded, /^header:[0-9a-f]{64}$/);
    assert.equal(sameSource(recorded, { raw }, sourceHash({ raw })), true);
    assert.equal(sameSource(recorded, header, sourceHash(header)), true);
    const other = Buffer.from('Subject: b\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n');
    assert.equal(sameSource(recorded, { raw: other }, sourceHash({ raw: other })), false);
  });
  test('a whole-source hash proves nothing about a header block', () => {
    assert.equal(sameSource(sourceHash({ raw }), header, sourceHash(header)), false);
  });
});
