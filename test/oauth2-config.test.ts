/** The `auth`, `oauth2` and `passwordSecret` keys: what the schema and the rules accept, and what the named providers fill in. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig, type ValidateConfigContext } from '../src/config/load.js';
import type { AccountConfig } from '../src/config/types.js';

const CONTEXT: ValidateConfigContext = { file: '/etc/mailpoll/mailpoll.yaml', dir: '/etc/mailpoll', env: {}, displayName: 'mailpoll.yaml', home: '/home/ann' };
const BASE = { name: 'work', protocol: 'imap', host: 'outlook.office365.com', user: 'ann@example.com' };

function problems(account: Record<string, unknown>, rest: Record<string, unknown> = {}): string[] {
  return validateConfig({ accounts: [{ ...BASE, ...account }], ...rest }, CONTEXT).problems;
}

function one(account: Record<string, unknown>, rest: Record<string, unknown> = {}): AccountConfig {
  const { config, problems: found } = validateConfig({ accounts: [{ ...BASE, ...account }], ...rest }, CONTEXT);
  assert.deepEqual(found, []);
  return config!.accounts[0]!;
}

describe('oauth2 config', () => {
  it('fills in the Microsoft endpoints and the scope per protocol and grant', () => {
    const imap = one({ auth: 'oauth2', oauth2: { provider: 'microsoft', clientId: 'app', tenant: 'contoso.onmicrosoft.com' } });
    assert.equal(imap.password, undefined);
    assert.equal(imap.passwordSpec, undefined);
    assert.equal(imap.oauth2?.tokenUrl, 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token');
    assert.equal(imap.oauth2?.deviceAuthorizationUrl, 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode');
    assert.equal(imap.oauth2?.scope, 'https://outlook.office.com/IMAP.AccessAsUser.All offline_access');
    assert.equal(imap.oauth2?.tokenSecret, 'oauth2:work');
    const pop3 = one({ protocol: 'pop3', auth: 'oauth2', oauth2: { provider: 'microsoft', clientId: 'app' } });
    assert.equal(pop3.oauth2?.scope, 'https://outlook.office.com/POP.AccessAsUser.All offline_access');
    assert.equal(pop3.oauth2?.tenant, 'common');
    const app = one({ auth: 'oauth2', oauth2: { provider: 'microsoft', clientId: 'app', tenant: 'contoso.onmicrosoft.com', grant: 'client_credentials', clientSecretEnv: 'SECRET' } });
    assert.equal(app.oauth2?.scope, 'https://outlook.office365.com/.default');
    assert.deepEqual(app.oauth2?.clientSecretSpec, { source: 'passwordEnv', value: 'SECRET', where: 'mailpoll.yaml: accounts[0].oauth2.clientSecretEnv', cwd: '/etc/mailpoll' });
  });

  it('fills in Google without a device endpoint (the mail scope is refused there)', () => {
    const account = one({ host: 'imap.gmail.com', auth: 'oauth2', oauth2: { provider: 'google', clientId: 'app', clientSecretSecret: 'google-client' } });
    assert.equal(account.oauth2?.tokenUrl, 'https://oauth2.googleapis.com/token');
    assert.equal(account.oauth2?.deviceAuthorizationUrl, undefined);
    assert.equal(account.oauth2?.authorizationUrl, 'https://accounts.google.com/o/oauth2/v2/auth');
    assert.equal(account.oauth2?.scope, 'https://mail.google.com/');
    assert.equal(account.oauth2?.clientSecretSpec?.source, 'passwordSecret');
  });

  it('inherits auth and oauth2 from defaults, ignoring an inherited password', () => {
    const account = one({}, { defaults: { password: 'inherited', auth: 'oauth2', oauth2: { accessTokenCommand: 'oauth2.py --token' } } });
    assert.equal(account.auth, 'oauth2');
    assert.equal(account.password, undefined);
    assert.equal(account.oauth2?.accessTokenCommand?.where, 'mailpoll.yaml: defaults.oauth2.accessTokenCommand');
  });

  it('passwordSecret is a password source like the others', () => {
    const account = one({ passwordSecret: 'work-password' });
    assert.deepEqual(account.passwordSpec, { source: 'passwordSecret', value: 'work-password', where: 'mailpoll.yaml: accounts[0].passwordSecret', cwd: '/etc/mailpoll' });
    assert.deepEqual(problems({ passwordSecret: 'a', passwordEnv: 'B' }), ['mailpoll.yaml: accounts[0].passwordSecret: conflicts with passwordEnv; set only one password source']);
  });

  it('refuses what cannot work, naming the key', () => {
    const table: Array<[Record<string, unknown>, string[]]> = [
      [{ auth: 'oauth2' }, ['accounts[0].oauth2: is required with auth: oauth2 ({provider, clientId, …} or {accessTokenCommand})']],
      [{ password: 'x', oauth2: { accessTokenCommand: 'x' } }, ['accounts[0].oauth2: is used only with auth: oauth2; set auth: oauth2, or remove oauth2']],
      [{ auth: 'oauth2', password: 'x', oauth2: { accessTokenCommand: 'x' } }, ['accounts[0].password: auth: oauth2 logs in with a token, not a password; remove password']],
      [{ auth: 'oauth2', oauth2: { clientId: 'x' } }, ['accounts[0].oauth2.provider: is required (microsoft, google or generic), or set accessTokenCommand']],
      [
        { auth: 'oauth2', oauth2: { provider: 'generic', clientId: 'x' } },
        ['accounts[0].oauth2.tokenUrl: is required with provider: generic', 'accounts[0].oauth2.scope: is required with provider: generic'],
      ],
      [
        { auth: 'oauth2', oauth2: { provider: 'microsoft', clientId: 'x', grant: 'client_credentials' } },
        [
          'accounts[0].oauth2.clientSecret: grant: client_credentials needs a client secret (clientSecret, clientSecretEnv, clientSecretFile, clientSecretCommand or clientSecretSecret)',
          "accounts[0].oauth2.tenant: app-only access (client_credentials) needs your directory's tenant id or domain, not the default common",
        ],
      ],
      [{ auth: 'oauth2', oauth2: { accessTokenCommand: 'x', clientId: 'y' } }, ['accounts[0].oauth2.clientId: not used with accessTokenCommand (the command gets the token); remove it']],
      [{ auth: 'oauth2', oauth2: { provider: 'google', clientId: 'x', clientSecret: 'a', clientSecretEnv: 'B' } }, ['accounts[0].oauth2.clientSecretEnv: conflicts with clientSecret; set only one client secret source']],
      [{ auth: 'oauth2', oauth2: { provider: 'google', clientId: 'x', tenant: 'y' } }, ['accounts[0].oauth2.tenant: applies to provider: microsoft only; remove it']],
      [{ auth: 'oauth2', oauth2: { provider: 'google', clientId: 'x', tokenUrl: 'ftp://x' } }, ['accounts[0].oauth2.tokenUrl: expected an http:// or https:// URL, got "ftp://x"']],
      [{ auth: 'oauth2', oauth2: { provider: 'google', clientID: 'x' } }, ['accounts[0].oauth2.clientID: unknown key (did you mean "clientId"?)']],
      [{ auth: 'token' }, ['accounts[0].auth: expected one of password, oauth2, got "token"']],
    ];
    for (const [account, expected] of table) {
      assert.deepEqual(problems(account), expected.map((line) => `mailpoll.yaml: ${line}`), JSON.stringify(account));
    }
  });

  it('never shows a client secret or a token command in a problem', () => {
    const found = problems({ auth: 'oauth2', oauth2: { provider: 'google', clientId: 'x', clientSecret: 42, accessTokenCommand: 7 } });
    assert.ok(found.length > 0);
    assert.ok(found.every((line) => !line.includes('42') && !line.includes(' 7')), found.join('\n'));
  });
});
