/**
 * The wrong protocol or TLS mode on a port is recognised at once and said in one line with
 * the fix: IMAP against POP3 ports, POP3 against IMAP ports, STARTTLS/plaintext against an
 * implicit-TLS port (silent: found by a TLS probe), implicit TLS against a plaintext port.
 * connectTimeout is 10 minutes: a client that waited for it would hit the test's timeout
 * instead (no timed assertion).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, writeConfig } from './helpers/cli.js';
import type { Dovecot } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot({}, (started) => started.addUser('ann', 'ann-secret'));

type Port = keyof Dovecot['ports'];

async function failure(protocol: 'imap' | 'pop3', port: Port, tls: 'implicit' | 'starttls' | 'none') {
  const dir = await writeConfig({
    script: './handler.mjs',
    accounts: [
      {
        name: 'support',
        protocol,
        host: '127.0.0.1',
        port: dovecot.ports[port],
        tls,
        ca: dovecot.caFile,
        user: 'ann',
        password: 'ann-secret',
        connectTimeout: '10m',
      },
    ],
  });
  await writeFile(join(dir, 'handler.mjs'), 'export default () => 4;\n');
  const result = await runCli(['--json'], { cwd: dir, timeoutMs: 120_000 });
  const account = result.events.find((event) => event.type === 'account');
  assert.equal(result.code, 3, result.stdout + result.stderr);
  return { error: String(account?.error), code: account?.code };
}

const CASES: Array<[string, 'imap' | 'pop3', Port, 'implicit' | 'starttls' | 'none', RegExp, string]> = [
  ['IMAP (STARTTLS) against the POP3 port', 'imap', 'pop3', 'starttls', /this port speaks POP3, not IMAP \(it greeted "\+OK .*"\)\. Set port: to the IMAP port .*, or protocol: pop3\.$/, 'E_CONNECTION'],
  ['IMAP (plaintext) against the POP3 port', 'imap', 'pop3', 'none', /this port speaks POP3, not IMAP/, 'E_CONNECTION'],
  ['IMAP (implicit TLS) against the POP3S port', 'imap', 'pop3s', 'implicit', /this port speaks POP3, not IMAP/, 'E_CONNECTION'],
  ['POP3 (STARTTLS) against the IMAP port', 'pop3', 'imap', 'starttls', /this port speaks IMAP, not POP3 \(it greeted "\* OK .*"\)\. Set port: to the POP3 port .*, or protocol: imap\.$/, 'E_CONNECTION'],
  ['POP3 (implicit TLS) against the IMAPS port', 'pop3', 'imaps', 'implicit', /this port speaks IMAP, not POP3/, 'E_CONNECTION'],
  ['IMAP (STARTTLS) against the IMAPS port', 'imap', 'imaps', 'starttls', /this port expects TLS from the first byte .*Set tls: implicit/, 'E_TLS'],
  ['IMAP (STARTTLS) against the POP3S port', 'imap', 'pop3s', 'starttls', /this port expects TLS from the first byte .*Set tls: implicit/, 'E_TLS'],
  ['POP3 (plaintext) against the POP3S port', 'pop3', 'pop3s', 'none', /this port expects TLS from the first byte .*Set tls: implicit/, 'E_TLS'],
  ['IMAP (implicit TLS) against the plaintext IMAP port', 'imap', 'imap', 'implicit', /the server answered in plain text .*Set tls: starttls \(or tls: none\)/, 'E_TLS'],
  ['POP3 (implicit TLS) against the plaintext POP3 port', 'pop3', 'pop3', 'implicit', /the server answered in plain text .*Set tls: starttls \(or tls: none\)/, 'E_TLS'],
];

for (const [label, protocol, port, tls, message, code] of CASES) {
  test(`${label}: fails at once, saying which it is`, { timeout: 100_000 }, async () => {
    const found = await failure(protocol, port, tls);
    assert.match(found.error, new RegExp(`^support \\(127\\.0\\.0\\.1:${dovecot.ports[port]}\\): `));
    assert.match(found.error, message);
    assert.equal(found.code, code);
  });
}
