/**
 * OAuth2 logins through the real CLI against a real Dovecot whose oauth2 passdb asks a local
 * introspection endpoint about every token, with a local token endpoint (test/helpers/
 * oauth2-server.ts): both SASL mechanisms over IMAP and POP3, the token cache and its
 * refresh after a refusal, rotated refresh tokens surviving kill -9, a revoked refresh token,
 * client_credentials, accessTokenCommand, and the device-code and browser sign-ins.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { messageEvents, runCli, startCli, writeConfig, type CliResult } from './helpers/cli.js';
import type { Dovecot } from './helpers/dovecot.js';
import { startOAuth2Server } from './helpers/oauth2-server.js';
import { scenario, type Credentials } from './helpers/scenario.js';
import { useDovecot } from './helpers/use-dovecot.js';

const provider = await startOAuth2Server();
after(() => provider.close());

// One server announcing both mechanisms (clients pick OAUTHBEARER), one announcing only XOAUTH2.
const both = useDovecot({ oauth2: { introspectionUrl: provider.introspectionUrl, mechanisms: ['oauthbearer', 'xoauth2'] } });
const xoauth2Only = useDovecot({ oauth2: { introspectionUrl: provider.introspectionUrl, mechanisms: ['xoauth2'] } });

type Protocol = 'imap' | 'pop3';

function account(dovecot: Dovecot, protocol: Protocol, creds: Credentials, oauth2: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'support',
    protocol,
    host: '127.0.0.1',
    port: protocol === 'imap' ? dovecot.ports.imaps : dovecot.ports.pop3s,
    tls: 'implicit',
    ca: dovecot.caFile,
    user: creds.user,
    auth: 'oauth2',
    oauth2,
    after: protocol === 'imap' ? 'markSeen' : 'keep',
    ...extra,
  };
}

const generic = () => ({ provider: 'generic', clientId: provider.client.id, tokenUrl: provider.tokenUrl, scope: 'mail offline_access' });

/** A config folder with a handler that accepts every message. */
async function configure(accounts: Array<Record<string, unknown>>): Promise<string> {
  const dir = await writeConfig({ script: './handler.mjs', accounts });
  await writeFile(join(dir, 'handler.mjs'), 'export default async () => {};\n');
  return dir;
}

const run = (dir: string, args: string[] = [], env: Record<string, string> = {}): Promise<CliResult> => runCli(['--json', ...args], { cwd: dir, env });

/** `mailpoll secret set NAME` with `value` on stdin. */
async function storeSecret(dir: string, name: string, value: string): Promise<void> {
  const result = await runCli(['secret', 'set', name], { cwd: dir, input: `${value}\n` });
  assert.equal(result.code, 0, result.stderr);
}

function processed(result: CliResult): number {
  return messageEvents(result).filter((event) => event.status === 'done' || event.transition === true).length;
}

async function loginMethods(dovecot: Dovecot, user: string): Promise<string[]> {
  const lines = await dovecot.logLines();
  return lines.filter((line) => line.includes(`Login: user=<${user}>`)).map((line) => /method=(\w+)/.exec(line)?.[1] ?? '?');
}

describe('SASL mechanisms', () => {
  for (const protocol of ['imap', 'pop3'] as const) {
    for (const [mechanism, server] of [
      ['OAUTHBEARER', both],
      ['XOAUTH2', xoauth2Only],
    ] as const) {
      test(`${protocol} logs in with ${mechanism} (refresh_token grant, the refresh token stored with secret set)`, async () => {
        const creds = await scenario(server).mailbox(['one']);
        const dir = await configure([account(server, protocol, creds, generic())]);
        await storeSecret(dir, 'oauth2:support', provider.issueRefreshToken(creds.user));
        const result = await run(dir);
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.equal(messageEvents(result).length, 1, result.stdout);
        assert.deepEqual(await loginMethods(server, creds.user), [mechanism]);
      });
    }
  }
});

describe('the token cache', () => {
  test('a stored access token is reused across runs, and one the server refuses is refreshed once', async () => {
    const creds = await scenario(both).mailbox(['one']);
    const dir = await configure([account(both, 'imap', creds, generic())]);
    await storeSecret(dir, 'oauth2:support', provider.issueRefreshToken(creds.user));
    const before = provider.tokenRequests.length;
    assert.equal((await run(dir)).code, 0);
    assert.equal(provider.tokenRequests.length, before + 1);
    const first = provider.introspected.at(-1)!;

    // Reused: no token request.
    assert.equal((await run(dir)).code, 0);
    assert.equal(provider.tokenRequests.length, before + 1);
    assert.equal(provider.introspected.at(-1), first);

    // Revoked by the provider before its expiry: refused, refreshed once, logged in.
    provider.revoke(first);
    await both.deliver(creds.user, 'Subject: two\r\n\r\nbody\r\n');
    const seen = provider.introspected.length;
    const result = await run(dir);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(messageEvents(result).length, 1);
    assert.equal(provider.tokenRequests.length, before + 2);
    const presented = provider.introspected.slice(seen);
    assert.equal(presented[0], first);
    assert.equal(presented.length, 2);
  });

  test('an access token about to expire is refreshed before it is presented', async () => {
    const creds = await scenario(both).mailbox(['one']);
    const dir = await configure([account(both, 'pop3', creds, generic())]);
    await storeSecret(dir, 'oauth2:support', provider.issueRefreshToken(creds.user));
    provider.expiresIn = 30;
    try {
      assert.equal((await run(dir)).code, 0);
      const old = provider.introspected.at(-1)!;
      const seen = provider.introspected.length;
      const requests = provider.tokenRequests.length;
      assert.equal((await run(dir)).code, 0);
      assert.equal(provider.tokenRequests.length, requests + 1);
      assert.ok(!provider.introspected.slice(seen).includes(old));
    } finally {
      provider.expiresIn = 3600;
    }
  });
});

describe('refresh tokens', () => {
  test('a rotated refresh token is on disk before the login: kill -9 at the login, and the next run still logs in', async () => {
    const creds = await scenario(both).mailbox(['one']);
    const dir = await configure([account(both, 'imap', creds, generic())]);
    const original = provider.issueRefreshToken(creds.user);
    await storeSecret(dir, 'oauth2:support', original);
    const live = startCli(['--json'], { cwd: dir });
    const killed: string[] = [];
    provider.onIntrospect = (token) => {
      killed.push(token);
      live.signal('SIGKILL');
    };
    const dead = await live.exited.finally(() => (provider.onIntrospect = undefined));
    assert.equal(dead.signal, 'SIGKILL');
    assert.equal(killed.length, 1, 'killed at the login');
    // The refresh rotated the token: the original no longer works, and the access token of
    // the killed run is revoked too, so the next run must refresh with the stored new one.
    provider.revoke(killed[0]!);
    const requests = provider.tokenRequests.length;
    const result = await run(dir);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(messageEvents(result).length, 1);
    const used = provider.tokenRequests.slice(requests).map((request) => request.refresh_token);
    assert.equal(used.length, 1);
    assert.notEqual(used[0], original);
  });

  test('a revoked refresh token: exit 3, and the message says to run mailpoll auth login', async () => {
    const creds = await scenario(both).mailbox(['one']);
    const dir = await configure([account(both, 'imap', creds, generic())]);
    const refresh = provider.issueRefreshToken(creds.user);
    await storeSecret(dir, 'oauth2:support', refresh);
    provider.revoke(refresh);
    const result = await run(dir);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    const event = result.events.find((entry) => entry.type === 'account');
    assert.equal(event?.code, 'E_AUTH');
    assert.match(String(event?.error), /refused the refresh token \(invalid_grant: The refresh token has been revoked\.\)\. Run `mailpoll auth login support`/);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(refresh));
  });

  test('no refresh token stored: exit 3 with the auth login hint', async () => {
    const creds = await scenario(both).mailbox(['one']);
    const dir = await configure([account(both, 'pop3', creds, generic())]);
    const result = await run(dir);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.match(result.stdout, /no refresh token is stored for this account \(oauth2:support\)\. Run `mailpoll auth login support`/);
  });
});

describe('other grants', () => {
  test('client_credentials with the client secret from the environment, over IMAP and POP3', async () => {
    for (const protocol of ['imap', 'pop3'] as const) {
      const creds = await scenario(both).mailbox(['one']);
      provider.client.user = creds.user;
      const dir = await configure([account(both, protocol, creds, { ...generic(), grant: 'client_credentials', clientSecretEnv: 'CLIENT_SECRET' })]);
      const requests = provider.tokenRequests.length;
      const result = await run(dir, ['-v'], { CLIENT_SECRET: provider.client.secret });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(messageEvents(result).length, 1);
      assert.deepEqual(provider.tokenRequests.slice(requests).map((request) => [request.grant_type, request.client_secret]), [['client_credentials', provider.client.secret]]);
      assert.ok(!result.stderr.includes(provider.client.secret), 'the client secret is masked in the trace');
      assert.match(result.stderr, protocol === 'imap' ? /C: \S+ AUTHENTICATE OAUTHBEARER \(\* credentials hidden \*\)/ : /C: AUTH OAUTHBEARER \(\* credentials hidden \*\)/);
      assert.doesNotMatch(result.stderr, /AUTH(?:ENTICATE)? \S+ [A-Za-z0-9+/]{40,}/, 'no SASL payload in the trace');
      assert.ok(!result.stderr.includes(provider.introspected.at(-1)!), 'the access token is masked in the trace');
    }
  });

  test('a wrong client secret: exit 3, names the client', async () => {
    const creds = await scenario(both).mailbox(['one']);
    const dir = await configure([account(both, 'imap', creds, { ...generic(), grant: 'client_credentials', clientSecret: 'wrong-secret' })]);
    const result = await run(dir);
    assert.equal(result.code, 3);
    assert.match(result.stdout, /refused the client \(invalid_client\)\. Check clientId, the client secret/);
  });

  test('accessTokenCommand: the printed token logs in, over IMAP and POP3, short or of a real token\'s size', async () => {
    const cases = [
      ['imap', 0, xoauth2Only],
      ['pop3', 0, xoauth2Only],
      ['imap', 2500, xoauth2Only],
      ['pop3', 2500, xoauth2Only],
      ['imap', 2500, both],
      ['pop3', 2500, both],
    ] as const;
    for (const [protocol, length, server] of cases) {
      const creds = await scenario(server).mailbox(['one']);
      // POP3: a long initial response does not fit on the AUTH line (255 octets): it follows the server's challenge.
      const token = provider.issueAccessToken(creds.user, length);
      const dir = await configure([account(server, protocol, creds, { accessTokenCommand: `printf '%s\\n' ${token}` })]);
      const result = await run(dir, ['-v']);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(messageEvents(result).length, 1);
      assert.equal(provider.introspected.at(-1), token);
      assert.ok(!(result.stdout + result.stderr).includes(token));
    }
  });
});

describe('auth login and auth status', () => {
  test('the device-code flow: the code is printed, the user approves, the refresh token is stored and used', async () => {
    const creds = await scenario(both).mailbox(['one']);
    const dir = await configure([account(both, 'imap', creds, { ...generic(), deviceAuthorizationUrl: provider.deviceUrl })]);
    const before = await runCli(['auth', 'status'], { cwd: dir });
    assert.equal(before.code, 3);
    assert.match(before.stdout, /support: grant refresh_token, not signed in \(run mailpoll auth login support\)/);

    const login = startCli(['auth', 'login', 'support'], { cwd: dir });
    let code: string | undefined;
    while (code === undefined) {
      code = /open http:\/\/127\.0\.0\.1:\d+\/verify and enter the code (\w+)/.exec(login.stderr())?.[1];
      if (code === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    provider.approveDevice(code, creds.user);
    const done = await login.exited;
    assert.equal(done.code, 0, done.stderr);

    const status = await runCli(['auth', 'status', '--json'], { cwd: dir });
    assert.equal(status.code, 0, status.stderr);
    const [shown] = status.events;
    assert.equal(shown?.hasRefreshToken, true);
    assert.equal(shown?.source, 'stored');
    assert.match(String(shown?.lastRefresh), /^\d{4}-/);

    const result = await run(dir);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(messageEvents(result).length, 1);
  });

  test('the browser flow: loopback redirect with PKCE and state', async () => {
    const creds = await scenario(both).mailbox(['one']);
    const dir = await configure([account(both, 'pop3', creds, { ...generic(), authorizationUrl: `${provider.url}/authorize` })]);
    const login = startCli(['auth', 'login', 'support'], { cwd: dir });
    let url: URL | undefined;
    while (url === undefined) {
      const printed = /^(http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+)$/m.exec(login.stderr())?.[1];
      if (printed !== undefined) url = new URL(printed);
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const redirect = url.searchParams.get('redirect_uri')!;
    assert.match(redirect, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    // A redirect with the wrong state is turned away; the right one completes the sign-in.
    const wrong = await fetch(`${redirect}?code=x&state=wrong`);
    assert.equal(wrong.status, 400);
    const code = provider.issueAuthorizationCode(creds.user, url.searchParams.get('code_challenge')!, redirect);
    const back = await fetch(`${redirect}?code=${code}&state=${url.searchParams.get('state')}`);
    assert.equal(back.status, 200);
    const done = await login.exited;
    assert.equal(done.code, 0, done.stderr);
    const result = await run(dir);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(messageEvents(result).length, 1);
  });
});
