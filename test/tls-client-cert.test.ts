/**
 * A server that requires a client certificate: a private Dovecot with
 * `ssl_verify_client_cert` and `auth_ssl_require_client_cert`, trusting a CA made here
 * (not the default Dovecot the other tests use). With `tlsCert`/`tlsKey` signed by that CA
 * mailpoll logs in over IMAP and POP3; without them, or with a certificate from another CA,
 * the login is refused.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { messageEvents } from './helpers/cli.js';
import { openssl } from './helpers/dovecot.js';
import { configureSpec, runSpec, scenario, type Credentials } from './helpers/scenario.js';
import { makeTempDir, removeAtExit } from './helpers/temp.js';
import { useDovecot } from './helpers/use-dovecot.js';

/** A CA and a client certificate it signed, under `dir`; `name` prefixes the files. */
async function clientCertificate(dir: string, name: string): Promise<{ ca: string; cert: string; key: string }> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '30', '-subj', `/CN=${name} client CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { cwd: dir });
  await openssl(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name} mailpoll client`], { cwd: dir });
  await writeFile(join(dir, `${name}.ext`), 'basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n');
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-set_serial', '7', '-days', '30',
    '-extfile', `${name}.ext`, '-out', `${name}.pem`], { cwd: dir });
  return { ca: join(dir, `${name}-ca.pem`), cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

// The CA must exist before Dovecot starts (its config names the file): made at load time, in a
// folder readable by Dovecot's processes.
const folder = removeAtExit(await makeTempDir('client-cert'));
const trusted = await clientCertificate(folder, 'trusted');
const stranger = await clientCertificate(folder, 'stranger');

let creds: Credentials;
const dovecot = useDovecot(
  {
    extraConfig: [`ssl_ca = <${trusted.ca}`, 'ssl_verify_client_cert = yes', 'ssl_require_crl = no', 'auth_ssl_require_client_cert = yes'].join('\n'),
  },
  async (started) => {
    creds = await scenario(started).mailbox(['"keep"']);
  },
);
const world = scenario(dovecot);

function accounts(extra: Record<string, unknown>): Array<Record<string, unknown>> {
  return [
    { ...world.imapAccount(creds), ...extra },
    { name: 'legacy', protocol: 'pop3', host: '127.0.0.1', port: dovecot.ports.pop3, tls: 'starttls', ca: dovecot.caFile, user: creds.user, password: creds.password, ...extra },
  ];
}

describe('client certificates (tlsCert, tlsKey)', () => {
  test('with a certificate the server trusts: IMAP and POP3 log in', async () => {
    for (const account of accounts({ tlsCert: trusted.cert, tlsKey: trusted.key })) {
      const { dir, log } = await configureSpec(account);
      const result = await runSpec(dir, log);
      assert.equal(result.code, 0, `${String(account.protocol)}: ${result.stdout}${result.stderr}`);
      assert.equal(messageEvents(result).length, 1);
    }
  });

  test('without one, or with one from another CA: refused', async () => {
    for (const extra of [{}, { tlsCert: stranger.cert, tlsKey: stranger.key }]) {
      for (const account of accounts(extra)) {
        const { dir, log } = await configureSpec(account);
        const result = await runSpec(dir, log);
        assert.equal(result.code, 3, `${String(account.protocol)} ${JSON.stringify(extra)}: ${result.stdout}`);
        assert.equal(messageEvents(result).length, 0);
        // Dovecot's own words: the login is refused for the certificate, not the password.
        assert.match(String(result.events.find((e) => e.type === 'account')?.error), /login failed: .*didn't present valid SSL certificate/);
      }
    }
  });

  test('tlsCert without tlsKey is a config error', async () => {
    const { dir, log } = await configureSpec(accounts({ tlsCert: trusted.cert })[0]!);
    const result = await runSpec(dir, log);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /accounts\[0\]\.tlsKey: is required with tlsCert/);
  });
});
