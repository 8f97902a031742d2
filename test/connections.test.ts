/**
 * Named connections, on `validateConfig` (no I/O): the order account > connection > defaults,
 * the password keys as one setting, `connectionsFile` entries and name clashes, problems
 * that name where an inherited key came from.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig, type ValidateConfigContext } from '../src/config/load.js';

const context: ValidateConfigContext = { file: '/etc/mailpoll/mailpoll.yaml', dir: '/etc/mailpoll', env: { PW: 'from-env' }, displayName: 'mailpoll.yaml' };
const OFFICE = { host: 'imap.example.com', port: 1993, tls: 'implicit', user: 'robot', passwordEnv: 'PW', tlsMinVersion: 'TLSv1.3' };

function accounts(raw: unknown, extra: Partial<ValidateConfigContext> = {}) {
  const result = validateConfig(raw, { ...context, ...extra });
  assert.deepEqual(result.problems, []);
  return result.config!.accounts;
}

function problems(raw: unknown, extra: Partial<ValidateConfigContext> = {}): string[] {
  return validateConfig(raw, { ...context, ...extra }).problems;
}

describe('named connections', () => {
  it('the account wins over its connection, the connection over defaults', () => {
    const [account] = accounts({
      defaults: { port: 2993, user: 'default-user', connectTimeout: '5s' },
      connections: { office: OFFICE },
      accounts: [{ name: 'a', protocol: 'imap', connection: 'office', user: 'own-user' }],
    });
    assert.equal(account!.host, 'imap.example.com');
    assert.equal(account!.port, 1993, 'the connection over defaults');
    assert.equal(account!.user, 'own-user', 'the account over the connection');
    assert.equal(account!.connectTimeout, 5000, 'defaults fill what neither sets');
    assert.equal(account!.tlsMinVersion, 'TLSv1.3');
    assert.equal(account!.passwordSpec?.where, 'mailpoll.yaml: connections.office.passwordEnv');
  });

  it('an account with a password source of its own takes none from the connection', () => {
    const [account] = accounts({ connections: { office: OFFICE }, accounts: [{ name: 'a', protocol: 'imap', connection: 'office', passwordCommand: 'echo x' }] });
    assert.equal(account!.passwordSpec?.source, 'passwordCommand');
  });

  it('defaults.connection gives every account a connection; a POP3 account ignores requireAuth: true but refuses false', () => {
    const list = accounts({
      defaults: { connection: 'office' },
      connections: { office: { ...OFFICE, requireAuth: true } },
      accounts: [{ name: 'a', protocol: 'imap' }, { name: 'b', protocol: 'pop3', port: 995 }],
    });
    assert.deepEqual(list.map((a) => [a.name, a.host, a.port]), [['a', 'imap.example.com', 1993], ['b', 'imap.example.com', 995]]);
    assert.deepEqual(problems({ connections: { office: { ...OFFICE, requireAuth: false } }, accounts: [{ name: 'b', protocol: 'pop3', connection: 'office' }] }), [
      'mailpoll.yaml: accounts[0].requireAuth (from connection office): POP3 has no pre-authenticated sessions (every session starts by logging in); remove requireAuth',
    ]);
  });

  it('connectionsFile: its entries are used, checked with its own name, and a name in both is refused', () => {
    const file = { raw: { office: OFFICE, bad: { host: 'h', port: 'x' } }, shown: 'connections.yaml' };
    assert.deepEqual(problems({ accounts: [{ name: 'a', protocol: 'imap', connection: 'office' }] }, { connectionsFile: file }), [
      'connections.yaml: bad.port: expected an integer 1-65535, got "x"',
    ]);
    const good = { raw: { office: OFFICE }, shown: 'connections.yaml' };
    const [account] = accounts({ accounts: [{ name: 'a', protocol: 'imap', connection: 'office' }] }, { connectionsFile: good });
    assert.equal(account!.host, 'imap.example.com');
    assert.deepEqual(problems({ connections: { office: OFFICE }, accounts: [{ name: 'a', protocol: 'imap', connection: 'office' }] }, { connectionsFile: good }), [
      'mailpoll.yaml: connections.office: is also defined in connections.yaml; keep one of the two',
    ]);
  });

  it('unknown keys in a connection get a did-you-mean among the connection keys; unknown names list the known ones', () => {
    assert.deepEqual(problems({ connections: { office: { hots: 'h' } }, accounts: [{ name: 'a', protocol: 'maildir', path: 'x' }] }), [
      'mailpoll.yaml: connections.office.hots: unknown key (did you mean "host"?)',
    ]);
    assert.deepEqual(problems({ connections: { office: OFFICE }, accounts: [{ name: 'a', protocol: 'imap', connection: 'zzz' }] }), [
      'mailpoll.yaml: accounts[0].connection: unknown connection "zzz" (connections: office)',
    ]);
  });

  it('a proxy URL: its password masked in the resolved account display, the port defaulted for SOCKS', () => {
    const [account] = accounts({ accounts: [{ name: 'a', protocol: 'imap', host: 'h', user: 'u', passwordEnv: 'PW', proxy: 'socks5://me:${PW}@proxy.example' }] });
    assert.deepEqual(account!.proxy, { protocol: 'socks5', host: 'proxy.example', port: 1080, username: 'me', password: 'from-env', display: 'socks5://me@proxy.example:1080' });
    assert.deepEqual(problems({ accounts: [{ name: 'a', protocol: 'imap', host: 'h', user: 'u', passwordEnv: 'PW', proxy: 'ftp://x:1' }] }), [
      'mailpoll.yaml: accounts[0].proxy: expected socks5://host:port or http://host:port, got ***',
    ]);
  });
});
