/**
 * `accountsTable: true` in the config: the rows of the accounts table held to the same
 * schema, defaults, named connections and rules as the file's accounts (`Config.accountsTable`),
 * problems named `accountsTable.NAME.key`. Pure: rows in, accounts and refused rows out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../src/config/load.js';
import type { Config, TableAccountRow } from '../src/config/types.js';

const CONTEXT = { file: '/etc/mailpoll/mailpoll.yaml', dir: '/etc/mailpoll', env: { PORT: '993' }, displayName: 'mailpoll.yaml' };
const FILE_ACCOUNT = { name: 'support', protocol: 'imap', host: 'imap.example.com', user: 'support@example.com', passwordEnv: 'SUPPORT_PW' };

function configOf(raw: Record<string, unknown>): Config {
  const { config, problems } = validateConfig({ accountsTable: true, script: './handle.mjs', ...raw }, CONTEXT);
  assert.deepEqual(problems, []);
  return config!;
}

function build(raw: Record<string, unknown>, rows: TableAccountRow[]) {
  const builder = configOf(raw).accountsTable;
  assert.ok(builder, 'accountsTable: true gives the config a builder');
  return builder(rows);
}

describe('accountsTable in the config', () => {
  it('lets the file have no accounts, and only then', () => {
    assert.deepEqual(configOf({}).accounts, []);
    assert.deepEqual(configOf({ accounts: [] }).accounts, []);
    assert.deepEqual(validateConfig({ script: './h.mjs' }, CONTEXT).problems, ['mailpoll.yaml: accounts: is required (or accountsTable: true, to read the accounts from the store)']);
    assert.deepEqual(validateConfig({ accountsTable: 'yes', accounts: [FILE_ACCOUNT] }, CONTEXT).problems, ['mailpoll.yaml: accountsTable: expected true or false, got "yes"']);
    assert.equal(validateConfig({ accounts: [FILE_ACCOUNT] }, CONTEXT).config?.accountsTable, undefined);
  });

  it('resolves a row as a file account: defaults, a named connection, paths, and where each secret is named', () => {
    const { accounts, refused } = build(
      {
        defaults: { after: 'markSeen', interval: '2m' },
        connections: { corp: { protocol: 'imap', host: 'mail.corp.example', passwordEnv: 'CORP_PW' } },
      },
      [
        { name: 'anna', account: { connection: 'corp', user: 'anna@corp.example' } },
        { name: 'bob', account: { protocol: 'imap', host: 'imap.example.com', user: 'bob', passwordFile: 'secrets/bob', after: 'delete', ca: 'ca.pem' } },
      ],
    );
    assert.deepEqual(refused, []);
    const [anna, bob] = accounts;
    assert.equal(anna?.host, 'mail.corp.example');
    assert.equal(anna?.after, 'markSeen');
    assert.equal(anna?.interval, 120_000);
    assert.equal(anna?.script, '/etc/mailpoll/handle.mjs');
    assert.deepEqual(anna?.passwordSpec, { source: 'passwordEnv', value: 'CORP_PW', where: 'mailpoll.yaml: connections.corp.passwordEnv', cwd: '/etc/mailpoll' });
    assert.equal(bob?.after, 'delete');
    assert.equal(bob?.ca, '/etc/mailpoll/ca.pem');
    // The row's own key is not in the file: named by its place in the table.
    assert.deepEqual(bob?.passwordSpec, { source: 'passwordFile', value: '/etc/mailpoll/secrets/bob', where: 'accountsTable.bob.passwordFile', cwd: '/etc/mailpoll' });
  });

  it('refuses a row on its own: the schema, the rules, an unknown connection, a literal secret, a name the file uses', () => {
    const { accounts, refused } = build({ accounts: [FILE_ACCOUNT] }, [
      { name: 'good', account: { protocol: 'maildir', path: '/srv/mail/good' } },
      { name: 'mover', account: { protocol: 'imap', host: 'h', user: 'u', passwordEnv: 'P', after: 'move' } },
      { name: 'lost', account: { connection: 'nowhere', user: 'u' } },
      { name: 'leaky', account: { protocol: 'imap', host: 'h', user: 'u', password: 'hunter22' } },
      { name: 'typo', account: { protocol: 'imap', host: 'h', user: 'u', passwordEnv: 'P', intervall: '1m' } },
      { name: 'support', account: { protocol: 'maildir', path: '/srv/mail/support' } },
    ]);
    assert.deepEqual(accounts.map((account) => account.name), ['good']);
    const problems = new Map(refused.map((row) => [row.account, row.problems]));
    assert.deepEqual(problems.get('mover'), ['accountsTable.mover.moveTo: is required when after is move']);
    assert.match(problems.get('lost')?.[0] ?? '', /^accountsTable\.lost\.connection: /);
    assert.deepEqual(problems.get('leaky'), [
      'accountsTable.leaky.password: the accounts table holds no secret itself; name where it is (passwordEnv, passwordFile, passwordCommand or passwordSecret)',
    ]);
    assert.match(problems.get('typo')?.[0] ?? '', /^accountsTable\.typo\.intervall: unknown key/);
    assert.deepEqual(problems.get('support'), [
      'accountsTable.support: "support" is also the name of accounts[0] in mailpoll.yaml; names must be unique across the file and the table (rename or delete one)',
    ]);
    assert.ok(!JSON.stringify(refused).includes('hunter22'), 'a literal secret is never quoted');
  });
});
