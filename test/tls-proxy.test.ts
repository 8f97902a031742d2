/**
 * How a connection reaches its server, through the real CLI against a real Dovecot: a pinned
 * certificate that matches and one that does not (nothing sent), named connections, TLS 1.0
 * refused (a TLS 1.0-only front started here, relaying to Dovecot), `check`'s certificate
 * lines and its expiry warning, `tlsRejectUnauthorized: false` said on every run, SOCKS5 and
 * HTTP CONNECT proxies (started here) for IMAP and POP3, and `requireAuth: false` against a
 * pre-authenticating IMAP server (Dovecot's imap run by `doveadm exec`, bridged to a port).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { openssl } from './helpers/dovecot.js';
import { startHttpConnectProxy, startSocks5Proxy, type TestProxy } from './helpers/proxies.js';
import { configureSpec, runSpec, scenario, SPEC_HANDLER, type Credentials } from './helpers/scenario.js';
import { makeTempDir } from './helpers/temp.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

const closers: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const close of closers) await close();
});

/** `sha256/<base64>` of Dovecot's certificate, computed here from its file. */
async function serverFingerprint(): Promise<string> {
  const certificate = new X509Certificate(await readFile(join(dovecot.dir, 'server.crt')));
  return `sha256/${Buffer.from(certificate.fingerprint256.replace(/:/g, ''), 'hex').toString('base64')}`;
}

function imapAccount(creds: Credentials, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...world.imapAccount(creds), ...extra };
}

function pop3Account(creds: Credentials, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'legacy', protocol: 'pop3', host: '127.0.0.1', port: dovecot.ports.pop3s, tls: 'implicit', ca: dovecot.caFile, user: creds.user, password: creds.password, ...extra };
}

/** A TLS front on 127.0.0.1 with `options` (versions, certificate), relaying each connection to Dovecot's plaintext `port`. */
async function tlsFront(port: number, options: tls.TlsOptions): Promise<number> {
  const server = tls.createServer(options, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

async function dovecotKeyPair(): Promise<{ key: string; cert: string }> {
  return { key: await readFile(join(dovecot.dir, 'server.key'), 'utf8'), cert: await readFile(join(dovecot.dir, 'server.crt'), 'utf8') };
}

/** Login lines of `user` in Dovecot's log. */
async function logins(user: string): Promise<string[]> {
  return (await dovecot.logLines()).filter((line) => line.includes(`Login: user=<${user}>`));
}

describe('a pinned certificate (tlsFingerprint)', () => {
  test('that matches: IMAP (implicit TLS) and POP3 (STLS) log in and work, in base64 or hex', async () => {
    const creds = await world.mailbox(['"keep"']);
    const pin = await serverFingerprint();
    const hex = `sha256/${Buffer.from(pin.slice(7), 'base64').toString('hex').replace(/(..)(?!$)/g, '$1:')}`;
    for (const account of [imapAccount(creds, { tlsFingerprint: pin }), pop3Account(creds, { tlsFingerprint: hex, tls: 'starttls', port: dovecot.ports.pop3 })]) {
      const { dir, log } = await configureSpec(account);
      const result = await runSpec(dir, log);
      assert.equal(result.code, 0, `${String(account.protocol)}: ${result.stdout}${result.stderr}`);
      assert.equal(messageEvents(result).length, 1);
    }
  });

  test('that does not match: refused before logging in, naming both fingerprints (IMAP, IMAP STARTTLS, POP3)', async () => {
    const creds = await world.mailbox(['"keep"']);
    const wrong = `sha256/${Buffer.alloc(32, 7).toString('base64')}`;
    const actual = await serverFingerprint();
    for (const account of [
      imapAccount(creds, { tlsFingerprint: wrong }),
      imapAccount(creds, { tlsFingerprint: wrong, tls: 'starttls', port: dovecot.ports.imap }),
      pop3Account(creds, { tlsFingerprint: wrong }),
    ]) {
      const { dir, log } = await configureSpec(account);
      const result = await runSpec(dir, log);
      assert.equal(result.code, 3, result.stdout);
      const event = result.events.find((e) => e.type === 'account');
      assert.equal(event?.code, 'E_TLS');
      assert.match(String(event?.error), /not the pinned one/);
      assert.ok(String(event?.error).includes(actual), String(event?.error));
      assert.ok(String(event?.error).includes(wrong), String(event?.error));
    }
    assert.deepEqual(await logins(creds.user), [], 'no login reached the server');
  });
});

describe('named connections', () => {
  test('an account inherits host, TLS and credentials from its connection and overrides what it sets', async () => {
    const creds = await world.mailbox(['"keep"']);
    const connections = {
      office: { host: '127.0.0.1', port: dovecot.ports.imaps, tls: 'implicit', ca: dovecot.caFile, user: creds.user, password: creds.password },
    };
    const dir = await writeConfig({
      script: SPEC_HANDLER,
      connections,
      accounts: [
        { name: 'inherits', protocol: 'imap', connection: 'office' },
        // Its own port and TLS mode win: STARTTLS on the plaintext port.
        { name: 'overrides', protocol: 'imap', connection: 'office', port: dovecot.ports.imap, tls: 'starttls' },
        // Its own port, wrong on purpose: the failure shows the override is what was used.
        { name: 'wrong-port', protocol: 'imap', connection: 'office', port: dovecot.ports.pop3s },
      ],
    });
    const result = await runSpec(dir, join(dir, 'calls.ndjson'));
    const accounts = Object.fromEntries(result.events.filter((e) => e.type === 'account').map((e) => [e.account, e]));
    assert.equal(accounts.inherits?.status, 'ok', result.stdout);
    assert.equal(accounts.overrides?.status, 'ok', result.stdout);
    assert.equal(accounts['wrong-port']?.status, 'error');
    assert.match(String(accounts['wrong-port']?.error), new RegExp(`127\\.0\\.0\\.1:${dovecot.ports.pop3s}`));
  });

  test('an unknown connection name is a config error with a did-you-mean', async () => {
    const dir = await writeConfig({ script: SPEC_HANDLER, connections: { office: { host: 'h' } }, accounts: [{ name: 'a', protocol: 'imap', connection: 'ofice' }] });
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /accounts\[0\]\.connection: unknown connection "ofice" \(did you mean "office"\?\)/);
  });

  test('connectionsFile holds the credentials; at 0644 with a literal password it is refused with its chmod', async () => {
    const creds = await world.mailbox(['"keep"']);
    const dir = await writeConfig({ script: SPEC_HANDLER, connectionsFile: 'connections.yaml', accounts: [{ name: 'a', protocol: 'imap', connection: 'office' }] });
    const file = join(dir, 'connections.yaml');
    const yaml = `office:\n  host: 127.0.0.1\n  port: ${dovecot.ports.imaps}\n  ca: ${dovecot.caFile}\n  user: ${creds.user}\n  password: ${creds.password}\n`;
    await writeFile(file, yaml, { mode: 0o644 });
    const refused = await runSpec(dir, join(dir, 'calls.ndjson'));
    assert.equal(refused.code, 2, refused.stderr);
    assert.ok(refused.stderr.includes(`chmod 600 ${file}`), refused.stderr);
    assert.ok(!refused.stderr.includes(creds.password));
    await writeFile(file, yaml, { mode: 0o600 });
    const { chmod } = await import('node:fs/promises');
    await chmod(file, 0o600);
    const result = await runSpec(dir, join(dir, 'calls.ndjson'));
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(messageEvents(result).length, 1);
  });
});

describe('TLS versions', () => {
  test('a server that speaks only TLS 1.0 is refused, saying so; tlsMinVersion: TLSv1 lets it through', async () => {
    const creds = await world.mailbox(['"keep"']);
    const port = await tlsFront(dovecot.ports.imap, { ...(await dovecotKeyPair()), minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' });
    const refused = await configureSpec(imapAccount(creds, { port }));
    const result = await runSpec(refused.dir, refused.log);
    assert.equal(result.code, 3, result.stdout);
    const event = result.events.find((e) => e.type === 'account');
    assert.equal(event?.code, 'E_TLS');
    assert.match(String(event?.error), /only TLS versions older than tlsMinVersion allows/);
    assert.deepEqual(await logins(creds.user), []);

    const allowed = await configureSpec(imapAccount(creds, { port, tlsMinVersion: 'TLSv1' }));
    const ok = await runSpec(allowed.dir, allowed.log);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(messageEvents(ok).length, 1);
  });
});

describe('check shows the certificate', () => {
  test("subject, issuer, expiry and the fingerprint tlsFingerprint takes, for IMAP and POP3; no warning when far from expiry", async () => {
    const creds = await world.mailbox(['"keep"']);
    const dir = await writeConfig({ accounts: [imapAccount(creds), pop3Account(creds, { tls: 'starttls', port: dovecot.ports.pop3 })] });
    const result = await runCli(['check'], { cwd: dir });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const pin = await serverFingerprint();
    const lines = result.stdout.split('\n');
    assert.equal(lines.filter((line) => /^ {2}certificate: CN=localhost, issued by CN=mailpoll test CA, expires \d{4}-\d\d-\d\d, TLSv1\.[23]$/.test(line)).length, 2, result.stdout);
    assert.equal(lines.filter((line) => line === `  tlsFingerprint: ${pin}`).length, 2, result.stdout);
    assert.doesNotMatch(result.stdout, /warning/);
    const json = await runCli(['check', '--json'], { cwd: dir });
    const certificate = json.events.find((e) => e.type === 'check')?.certificate as Record<string, unknown> | undefined;
    assert.equal(certificate?.fingerprint, pin);
  });

  test('a certificate that expires within 14 days is warned about; tlsRejectUnauthorized: false is warned about on every run', async () => {
    const creds = await world.mailbox(['"keep"']);
    const folder = await makeTempDir('short-cert');
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '5', '-subj', '/CN=short.example'], { cwd: folder });
    const port = await tlsFront(dovecot.ports.imap, { key: await readFile(join(folder, 'key.pem')), cert: await readFile(join(folder, 'cert.pem')) });
    const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [imapAccount(creds, { port, ca: undefined, tlsRejectUnauthorized: false })] });
    const check = await runCli(['check'], { cwd: dir });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /certificate: CN=short\.example, issued by CN=short\.example/);
    assert.match(check.stdout, /warning: the certificate expires in [45] days; renew it before then/);
    const warning = /warning: support: tlsRejectUnauthorized is false: the server certificate is not verified/;
    assert.match(check.stderr, warning);
    for (let run = 0; run < 2; run += 1) {
      const result = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: join(dir, 'calls.ndjson') } });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, warning, `run ${run + 1}`);
    }
  });
});

describe('proxies', () => {
  const cases: Array<[string, () => Promise<TestProxy>, string]> = [
    ['SOCKS5 with user and password', () => startSocks5Proxy({ credentials: 'relay:proxy-s3cret' }), 'socks5://relay:${PROXY_PASSWORD}@127.0.0.1:PORT'],
    ['HTTP CONNECT with user and password', () => startHttpConnectProxy({ credentials: 'relay:proxy-s3cret' }), 'http://relay:${PROXY_PASSWORD}@127.0.0.1:PORT'],
    ['HTTP CONNECT sending the greeting with its 200', () => startHttpConnectProxy({ coalesce: true }), 'http://127.0.0.1:PORT'],
  ];
  for (const [title, start, url] of cases) {
    test(`${title}: IMAP and POP3 (implicit TLS and STLS) go through it; its password never shows`, async () => {
      const proxy = await start();
      closers.push(() => proxy.close());
      // One mailbox per account: the ledger knows a mailbox by server and user, not by port.
      const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => world.mailbox(['"keep"'])));
      const via = url.replace('PORT', String(proxy.port));
      const accounts = [
        imapAccount(a!, { proxy: via }),
        imapAccount(b!, { name: 'starttls', proxy: via, tls: 'starttls', port: dovecot.ports.imap }),
        pop3Account(c!, { proxy: via }),
        pop3Account(d!, { name: 'stls', proxy: via, tls: 'starttls', port: dovecot.ports.pop3 }),
      ];
      const dir = await writeConfig({ script: SPEC_HANDLER, accounts });
      const result = await runCli(['--json', '-v'], { cwd: dir, env: { HANDLER_LOG: join(dir, 'calls.ndjson'), PROXY_PASSWORD: 'proxy-s3cret' } });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(messageEvents(result).length, 4);
      assert.deepEqual(
        [...proxy.tunnels].sort(),
        [dovecot.ports.imaps, dovecot.ports.imap, dovecot.ports.pop3s, dovecot.ports.pop3].map((port) => `127.0.0.1:${port}`).sort(),
      );
      assert.match(result.stderr, /through (socks5|http):\/\//);
      assert.ok(!`${result.stdout}${result.stderr}`.includes('proxy-s3cret'), 'the proxy password is masked');
      const validate = await runCli(['validate'], { cwd: dir, env: { PROXY_PASSWORD: 'proxy-s3cret' } });
      assert.equal(validate.code, 0, validate.stderr);
      assert.ok(!validate.stdout.includes('proxy-s3cret'));
    });
  }

  test('the proxy password from a stored secret or a file (the URL names only the user): it goes through, and never shows', async () => {
    const proxy = await startSocks5Proxy({ credentials: 'relay:proxy-st0red' });
    closers.push(() => proxy.close());
    const [a, b] = await Promise.all([1, 2].map(() => world.mailbox(['"keep"'])));
    const dir = await makeTempDir('proxy-password');
    await writeFile(join(dir, 'proxy-password'), 'proxy-st0red\n', { mode: 0o600 });
    const url = `socks5://relay@127.0.0.1:${proxy.port}`;
    await writeFile(
      join(dir, 'mailpoll.config.json'),
      JSON.stringify({
        script: SPEC_HANDLER,
        store: join(dir, 'mailpoll.db'),
        accounts: [imapAccount(a!, { proxy: url, proxyPasswordSecret: 'socks' }), pop3Account(b!, { proxy: url, proxyPasswordFile: 'proxy-password' })],
      }),
      { mode: 0o600 },
    );
    const set = await runCli(['secret', 'set', 'socks'], { cwd: dir, input: 'proxy-st0red\n' });
    assert.equal(set.code, 0, set.stderr);
    const result = await runCli(['--json', '-v'], { cwd: dir, env: { HANDLER_LOG: join(dir, 'calls.ndjson') } });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(messageEvents(result).length, 2);
    assert.deepEqual([...proxy.tunnels].sort(), [dovecot.ports.imaps, dovecot.ports.pop3s].map((port) => `127.0.0.1:${port}`).sort());
    const validate = await runCli(['validate'], { cwd: dir });
    assert.equal(validate.code, 0, validate.stderr);
    assert.match(validate.stdout, /"proxyPasswordSource": "passwordSecret"/);
    for (const output of [result.stdout, result.stderr, validate.stdout, validate.stderr]) assert.ok(!output.includes('proxy-st0red'), 'the proxy password is masked');

    const both = await runCli(['validate'], {
      cwd: await writeConfig({ script: SPEC_HANDLER, accounts: [imapAccount(a!, { proxy: `socks5://relay:\${X}@127.0.0.1:${proxy.port}`, proxyPasswordEnv: 'X' })] }),
      env: { X: 'x-value' },
    });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /accounts\[0\]\.proxyPasswordEnv: the proxy URL has a password already; keep one of them/);
  });

  test('a proxy that refuses the credentials: the account fails naming the proxy, without the password', async () => {
    const proxy = await startSocks5Proxy({ credentials: 'relay:right' });
    closers.push(() => proxy.close());
    const creds = await world.mailbox(['"keep"']);
    const { dir, log } = await configureSpec(imapAccount(creds, { proxy: `socks5://relay:\${PROXY_PASSWORD}@127.0.0.1:${proxy.port}` }));
    const result = await runSpec(dir, log, [], { PROXY_PASSWORD: 'wrong-pass' });
    assert.equal(result.code, 3);
    const event = result.events.find((e) => e.type === 'account');
    assert.equal(event?.code, 'E_CONNECTION');
    assert.match(String(event?.error), /proxy: socks5:\/\/relay@127\.0\.0\.1:\d+ refused the proxy user and password/);
    assert.ok(!result.stdout.includes('wrong-pass'));
  });

  test('ALL_PROXY and HTTPS_PROXY are not read', async () => {
    const proxy = await startHttpConnectProxy();
    closers.push(() => proxy.close());
    const creds = await world.mailbox(['"keep"']);
    const { dir, log } = await configureSpec(imapAccount(creds));
    const env = { ALL_PROXY: `http://127.0.0.1:${proxy.port}`, HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`, all_proxy: `http://127.0.0.1:${proxy.port}` };
    const result = await runSpec(dir, log, [], env);
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(proxy.tunnels, []);
  });
});

describe('requireAuth: false', () => {
  /** A port where each connection talks to Dovecot's imap for `user`, pre-authenticated (`doveadm exec imap`). */
  async function preauthPort(user: string): Promise<number> {
    const server = net.createServer((socket) => {
      // imap refuses a socket as its stdin/stdout (it takes it for inetd): real pipes, through cat.
      const child = spawn('/bin/sh', ['-c', 'cat | doveadm -c "$0" exec imap -u "$1" | cat', join(dovecot.dir, 'dovecot.conf'), user], { stdio: ['pipe', 'pipe', 'ignore'] });
      socket.pipe(child.stdin);
      child.stdout.pipe(socket);
      socket.on('error', () => child.stdin.end());
      socket.on('close', () => child.stdin.end());
      child.on('exit', () => socket.end());
      child.stdin.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return (server.address() as net.AddressInfo).port;
  }

  test('a pre-authenticating IMAP server is used without a password', async () => {
    const creds = await world.mailbox(['"keep"']);
    const port = await preauthPort(creds.user);
    const { dir, log } = await configureSpec({ name: 'preauth', protocol: 'imap', host: '127.0.0.1', port, tls: 'none', requireAuth: false });
    const result = await runSpec(dir, log);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(messageEvents(result).length, 1);
  });

  test('a server that does not pre-authenticate: a clear account error; POP3 refuses it at validate', async () => {
    const creds = await world.mailbox(['"keep"']);
    const { dir, log } = await configureSpec(imapAccount(creds, { password: undefined, user: undefined, requireAuth: false }));
    const result = await runSpec(dir, log);
    assert.equal(result.code, 3);
    assert.match(String(result.events.find((e) => e.type === 'account')?.error), /did not pre-authenticate the session \(no PREAUTH greeting\)/);

    const pop3 = await writeConfig({ accounts: [pop3Account(creds, { requireAuth: false })] });
    const validate = await runCli(['validate'], { cwd: pop3 });
    assert.equal(validate.code, 2);
    assert.match(validate.stderr, /accounts\[0\]\.requireAuth: POP3 has no pre-authenticated sessions/);
  });
});
