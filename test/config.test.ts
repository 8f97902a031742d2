import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, resolvePasswords, validateConfig, type ValidateConfigContext } from '../src/config/load.js';
import { checkRules } from '../src/config/rules.js';
import { ACCOUNT_KEY_DOCS, TOP_LEVEL_KEY_DOCS, accountSchema, closest, configSchema } from '../src/config/schema.js';
import { resolvePassword } from '../src/config/secrets.js';
import { selectAccounts } from '../src/config/select.js';
import type { AccountConfig, Config } from '../src/config/types.js';
import { ConfigError } from '../src/errors.js';
import { redact, registerSecret } from '../src/redact.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/config/', import.meta.url));
const fixture = (...parts: string[]) => path.join(FIXTURES, ...parts);
const TEST_DIR = fileURLToPath(new URL('.', import.meta.url));

const CONTEXT: ValidateConfigContext = {
  file: '/etc/mailpoll/mailpoll.yaml',
  dir: '/etc/mailpoll',
  env: {},
  displayName: 'mailpoll.yaml',
  home: '/home/ann',
};

const IMAP = { name: 'work', protocol: 'imap', host: 'imap.example.com', user: 'ann@example.com', password: 'hunter22' };
const POP3 = { name: 'pop', protocol: 'pop3', host: 'pop.example.com', user: 'ann', password: 'hunter22' };
const MAILDIR = { name: 'local', protocol: 'maildir', path: 'Maildir' };

function validate(raw: unknown, context: Partial<ValidateConfigContext> = {}) {
  return validateConfig(raw, { ...CONTEXT, ...context });
}

/** The single account of a valid config. */
function one(account: Record<string, unknown>, rest: Record<string, unknown> = {}): AccountConfig {
  const { config, problems } = validate({ accounts: [account], ...rest });
  assert.deepEqual(problems, []);
  return config!.accounts[0]!;
}

/** The problems of an invalid config. */
function problemsOf(raw: unknown, context: Partial<ValidateConfigContext> = {}): string[] {
  const { config, problems } = validate(raw, context);
  assert.equal(config, undefined);
  assert.ok(problems.length > 0);
  return problems;
}

/** Run `fn`, expect a ConfigError, return its problems. */
async function configError(fn: () => Promise<unknown>): Promise<string[]> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.exitCode, 2);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

let tmp: string;
const savedXdg = process.env.XDG_CONFIG_HOME;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mailpoll-config-'));
  // The search ends in the user config folder: keep a real ~/.config/mailpoll out of the tests.
  process.env.XDG_CONFIG_HOME = path.join(tmp, 'xdg');
  // A config file with a literal password must not be readable by others (README, "File
  // permissions"): the files written here are created private, and the fixtures (checked out
  // 0644; git keeps no other mode) are made so.
  process.umask(0o077);
  for (const file of ['json/mailpoll.config.json', 'yml/mailpoll.config.yml', 'yaml/mailpoll.config.yaml', 'invalid/mailpoll.config.yaml', 'secrets/mailpoll.config.yaml', 'mjs/mailpoll.config.mjs']) {
    await chmod(path.join(FIXTURES, file), 0o600);
  }
});
after(async () => {
  if (savedXdg === undefined) delete process.env.XDG_CONFIG_HOME;
  else process.env.XDG_CONFIG_HOME = savedXdg;
  await rm(tmp, { recursive: true, force: true });
});

describe('defaults', () => {
  it('fills every key of a minimal imap account', () => {
    assert.deepEqual(one(IMAP), {
      name: 'work',
      enabled: true,
      protocol: 'imap',
      host: 'imap.example.com',
      port: 993,
      tls: 'implicit',
      tlsRejectUnauthorized: true,
      ca: undefined,
      user: 'ann@example.com',
      login: undefined,
      password: 'hunter22',
      passwordSpec: { source: 'password', value: 'hunter22', where: 'mailpoll.yaml: accounts[0].password', cwd: '/etc/mailpoll' },
      auth: 'password',
      oauth2: undefined,
      folder: 'INBOX',
      folders: undefined,
      path: undefined,
      onlyUnseen: true,
      search: undefined,
      startFrom: undefined,
      after: 'markSeen',
      afterExtras: undefined,
      skipKeyword: undefined,
      deleteAfter: undefined,
      moveTo: undefined,
      maxMessages: undefined,
      connectTimeout: 30_000,
      fetchTimeout: 120_000,
      handlerTimeout: 300_000,
      handlerConcurrency: 1,
      handlerMemoryLimit: 1024 ** 3,
      script: undefined,
      command: undefined,
      webhook: undefined,
      deliver: undefined,
      saveAttachments: undefined,
      reprocess: false,
      maxAttempts: 5,
      retryDelay: 600_000,
      quarantineFolder: undefined,
      maxMessageSize: undefined,
      interval: 60_000,
      tlsMinVersion: 'TLSv1.2',
      tlsFingerprint: undefined,
      tlsCert: undefined,
      tlsKey: undefined,
      proxy: undefined,
      requireAuth: true,
      schedule: undefined,
      idle: false,
      idleHealthCheck: 300_000,
      backoff: { initialMs: 1000, maxMs: 3_600_000 },
    });
  });

  const ports: [Record<string, unknown>, number | undefined][] = [
    [{ ...IMAP }, 993],
    [{ ...IMAP, tls: 'implicit' }, 993],
    [{ ...IMAP, tls: 'starttls' }, 143],
    [{ ...IMAP, tls: 'none' }, 143],
    [{ ...POP3 }, 995],
    [{ ...POP3, tls: 'starttls' }, 110],
    [{ ...POP3, tls: 'none' }, 110],
    [{ ...IMAP, port: 1143 }, 1143],
    [{ ...MAILDIR }, undefined],
  ];
  for (const [account, port] of ports) {
    it(`port of ${String(account.protocol)} with tls ${String(account.tls ?? '(default)')}${account.port ? ` and port ${String(account.port)}` : ''} is ${String(port)}`, () => {
      assert.equal(one(account).port, port);
    });
  }

  it('after defaults to keep for pop3, markSeen for imap and maildir; pop3 lists every message', () => {
    assert.equal(one(POP3).after, 'keep');
    assert.equal(one(POP3).onlyUnseen, false);
    assert.equal(one(IMAP).after, 'markSeen');
    assert.equal(one(MAILDIR).after, 'markSeen');
  });

  it('handlerConcurrency: 1 unless set, per account or in defaults', () => {
    assert.equal(one(IMAP).handlerConcurrency, 1);
    assert.equal(one({ ...IMAP, handlerConcurrency: 4 }).handlerConcurrency, 4);
    assert.equal(one(IMAP, { defaults: { handlerConcurrency: 3 } }).handlerConcurrency, 3);
  });

  it('handlerMemoryLimit: 1GB unless set; a size of at least 64MB', () => {
    assert.equal(one(IMAP).handlerMemoryLimit, 1024 ** 3);
    assert.equal(one({ ...IMAP, handlerMemoryLimit: '2GB' }).handlerMemoryLimit, 2 * 1024 ** 3);
    assert.equal(one(IMAP, { defaults: { handlerMemoryLimit: '512MB' } }).handlerMemoryLimit, 512 * 1024 ** 2);
  });

  it('parses durations: 500ms, 1h, a number of seconds, a string of seconds', () => {
    const account = one({ ...IMAP, connectTimeout: '500ms', fetchTimeout: '1h', handlerTimeout: 90 });
    assert.equal(account.connectTimeout, 500);
    assert.equal(account.fetchTimeout, 3_600_000);
    assert.equal(account.handlerTimeout, 90_000);
    assert.equal(one({ ...IMAP, connectTimeout: '45' }).connectTimeout, 45_000);
  });

  it('accepts numbers and booleans written as strings (what ${VARS} give)', () => {
    const account = one({ ...IMAP, port: '1993', maxMessages: '20', enabled: 'false', tlsRejectUnauthorized: 'false' });
    assert.equal(account.port, 1993);
    assert.equal(account.maxMessages, 20);
    assert.equal(account.enabled, false);
    assert.equal(account.tlsRejectUnauthorized, false);
  });

  it('accounts inherit defaults; their own values win', () => {
    const { config, problems } = validate({
      defaults: { protocol: 'imap', host: 'imap.example.com', user: 'ann', passwordEnv: 'PW', connectTimeout: '10s', folder: 'Work', tls: 'starttls' },
      accounts: [{ name: 'a' }, { name: 'b', host: 'other.example.com', folder: 'INBOX', password: 'own-password' }],
    });
    assert.deepEqual(problems, []);
    const [a, b] = config!.accounts;
    assert.equal(a!.host, 'imap.example.com');
    assert.equal(a!.folder, 'Work');
    assert.equal(a!.connectTimeout, 10_000);
    assert.equal(a!.port, 143);
    assert.deepEqual(a!.passwordSpec, { source: 'passwordEnv', value: 'PW', where: 'mailpoll.yaml: defaults.passwordEnv', cwd: '/etc/mailpoll' });
    assert.equal(b!.host, 'other.example.com');
    assert.equal(b!.folder, 'INBOX');
    // An account's own password source replaces the inherited one: no conflict.
    assert.equal(b!.passwordSpec?.source, 'password');
    assert.equal(b!.password, 'own-password');
  });

  it('inherited keys that do not apply to the protocol are ignored', () => {
    const { config, problems } = validate({
      defaults: { host: 'imap.example.com', user: 'ann', password: 'hunter22', folder: 'Work', onlyUnseen: false, moveTo: 'Done' },
      accounts: [{ ...MAILDIR }, { name: 'pop', protocol: 'pop3', host: 'pop.example.com' }],
    });
    assert.deepEqual(problems, []);
    const [local, pop] = config!.accounts;
    assert.equal(local!.host, undefined);
    assert.equal(local!.password, undefined);
    assert.equal(local!.onlyUnseen, false);
    assert.equal(local!.moveTo, 'Done');
    assert.equal(pop!.folder, 'INBOX');
    assert.equal(pop!.moveTo, undefined);
    assert.equal(pop!.user, 'ann');
  });

  it('script: the account\'s own, else defaults.script, else the top-level script', () => {
    const { config } = validate({
      script: 'top.mjs',
      defaults: { script: 'defaults.mjs' },
      accounts: [{ ...MAILDIR, name: 'a', script: 'own.mjs' }, { ...MAILDIR, name: 'b' }],
    });
    assert.deepEqual(
      config!.accounts.map((account) => account.script),
      ['/etc/mailpoll/own.mjs', '/etc/mailpoll/defaults.mjs'],
    );
    assert.equal(one({ ...MAILDIR }, { script: 'top.mjs' }).script, '/etc/mailpoll/top.mjs');
  });

  it('command: one setting with script; a program path resolves against the config folder, a bare name and the string form do not', () => {
    const { config } = validate({
      script: 'top.mjs',
      defaults: { command: ['./handle.py', '--queue', 'q'] },
      accounts: [
        { ...MAILDIR, name: 'a' },
        { ...MAILDIR, name: 'b', script: 'own.mjs' },
        { ...MAILDIR, name: 'c', command: 'cat > /dev/null' },
        { ...MAILDIR, name: 'd', command: ['python3', 'x.py'] },
      ],
    });
    assert.deepEqual(
      config!.accounts.map((account) => [account.script, account.command]),
      [
        [undefined, { argv: ['/etc/mailpoll/handle.py', '--queue', 'q'], shell: false, cwd: '/etc/mailpoll' }],
        ['/etc/mailpoll/own.mjs', undefined],
        [undefined, { argv: ['/bin/sh', '-c', 'cat > /dev/null'], shell: true, cwd: '/etc/mailpoll' }],
        [undefined, { argv: ['python3', 'x.py'], shell: false, cwd: '/etc/mailpoll' }],
      ],
    );
    assert.deepEqual(validate({ defaults: { command: [] }, accounts: [{ ...MAILDIR, name: 'a' }] }).problems, [
      'mailpoll.yaml: defaults.command: expected a non-empty list: the program and its arguments, got []',
    ]);
    assert.deepEqual(validate({ defaults: { script: 'a.mjs', command: 'cat' }, accounts: [{ ...MAILDIR, name: 'a', script: 'b.mjs', command: ['cat'] }] }).problems, [
      'mailpoll.yaml: defaults.command: conflicts with script; set one handler kind (script, command, webhook, deliver)',
      'mailpoll.yaml: accounts[0].command: conflicts with script; set one handler kind (script, command, webhook, deliver)',
    ]);
  });
});

describe('schema messages', () => {
  const cases: [string, unknown, string[]][] = [
    ['bad port, exactly as documented', { accounts: [IMAP, { ...IMAP, name: 'home', port: '99x' }] }, ['mailpoll.yaml: accounts[1].port: expected an integer 1-65535, got "99x"']],
    ['port out of range', { accounts: [{ ...IMAP, port: 70000 }] }, ['mailpoll.yaml: accounts[0].port: expected an integer 1-65535, got 70000']],
    ['bad enum lists the values', { accounts: [{ ...IMAP, tls: 'ssl' }] }, ['mailpoll.yaml: accounts[0].tls: expected one of implicit, starttls, none, got "ssl"']],
    ['enum with a near miss', { accounts: [{ ...IMAP, protocol: 'IMAP' }] }, ['mailpoll.yaml: accounts[0].protocol: expected one of imap, pop3, maildir, got "IMAP" (did you mean "imap"?)']],
    ['missing required name', { accounts: [{ protocol: 'maildir', path: 'x' }] }, ['mailpoll.yaml: accounts[0].name: is required']],
    ['name that is not a token', { accounts: [{ ...MAILDIR, name: 'my work' }] }, ['mailpoll.yaml: accounts[0].name: expected a name made of letters, digits, ".", "_" and "-", got "my work"']],
    ['wrong type shows the value', { accounts: [{ ...IMAP, host: 42 }] }, ['mailpoll.yaml: accounts[0].host: expected a string, got 42 (put it in quotes)']],
    ['a password value is never shown', { accounts: [{ ...IMAP, password: 12345678 }] }, ['mailpoll.yaml: accounts[0].password: expected a string, got *** (put it in quotes)']],
    ['empty string', { accounts: [{ ...IMAP, user: '' }] }, ['mailpoll.yaml: accounts[0].user: expected a non-empty string, got ""']],
    ['null from an empty YAML value', { accounts: [{ ...IMAP, folder: null }] }, ['mailpoll.yaml: accounts[0].folder: expected a string, got null']],
    ['boolean', { accounts: [{ ...IMAP, enabled: 'yes' }] }, ['mailpoll.yaml: accounts[0].enabled: expected true or false, got "yes"']],
    ['bad duration', { accounts: [{ ...IMAP, connectTimeout: 'soon' }] }, ['mailpoll.yaml: accounts[0].connectTimeout: expected a duration like 30s, 2m or 1h, got "soon"']],
    ['zero duration', { accounts: [{ ...IMAP, fetchTimeout: 0 }] }, ['mailpoll.yaml: accounts[0].fetchTimeout: expected a duration longer than 0, like 30s, 2m or 1h, got 0']],
    ['maxMessages', { accounts: [{ ...IMAP, maxMessages: 0 }] }, ['mailpoll.yaml: accounts[0].maxMessages: expected a positive integer, got 0']],
    ['unknown key with did-you-mean', { accounts: [{ ...MAILDIR, pasword: 'x' }] }, ['mailpoll.yaml: accounts[0].pasword: unknown key (did you mean "password"?)']],
    ['unknown key in another case', { accounts: [{ ...MAILDIR, MoveTo: 'x' }] }, ['mailpoll.yaml: accounts[0].MoveTo: unknown key (did you mean "moveTo"?)']],
    ['unknown key in snake case', { accounts: [{ ...MAILDIR, max_messages: 3 }] }, ['mailpoll.yaml: accounts[0].max_messages: unknown key (did you mean "maxMessages"?)']],
    ['unknown top-level key', { accounts: [MAILDIR], colour: 'x' }, ['mailpoll.yaml: colour: unknown key (allowed: accounts, defaults, script, store, storePasswordEnv, storePasswordFile, storePasswordCommand, storePasswordSecret, retentionDays, ledgerDays, concurrency, maxConnections, expiresAfter, leaseTtl, accountsTable, workers, listen, connections, connectionsFile)']],
    ['account key at the top level', { accounts: [MAILDIR], folder: 'x' }, ['mailpoll.yaml: folder: unknown key (account keys go in an entry of accounts, or in defaults)']],
    ['name in defaults', { accounts: [MAILDIR], defaults: { name: 'x' } }, ['mailpoll.yaml: defaults.name: not allowed in defaults: every account needs its own name']],
    ['after: an unknown word', { accounts: [{ ...IMAP, after: 'archive' }] }, ['mailpoll.yaml: accounts[0].after: expected markSeen, delete, move, keep, copy:<Folder>, flag:<keyword>, unflag:<keyword> or { action, flags?, unflags?, copyTo? }, got "archive"']],
    ['after: a bad keyword', { accounts: [{ ...IMAP, after: 'flag:two words' }] }, ['mailpoll.yaml: accounts[0].after: expected flag: a keyword cannot contain spaces, control characters or any of ( ) { % * " \\ ], got "flag:two words"']],
    ['after: an object with an unknown key', { accounts: [{ ...IMAP, after: { action: 'keep', flag: ['$A'] } }] }, ['mailpoll.yaml: accounts[0].after: expected only the keys action, flags, unflags, copyTo (not flag), got {"action":"keep","flag":["$A"]}']],
    ['after: an object without action', { accounts: [{ ...IMAP, after: { flags: ['$A'] } }] }, ['mailpoll.yaml: accounts[0].after: expected action to be one of markSeen, delete, move, keep, got {"flags":["$A"]}']],
    ['skipKeyword: \\Deleted', { accounts: [{ ...IMAP, skipKeyword: '\\Deleted' }] }, ["mailpoll.yaml: accounts[0].skipKeyword: expected a keyword such as $Processed: \\Deleted is set by the action delete; return 'delete' instead, got \"\\\\Deleted\""]],
    ['handlerMemoryLimit below 64MB', { accounts: [{ ...MAILDIR, handlerMemoryLimit: '10MB' }] }, ['mailpoll.yaml: accounts[0].handlerMemoryLimit: expected a size of at least 64MB, like 512MB or 2GB, got "10MB"']],
    ['handlerConcurrency below 1', { accounts: [{ ...MAILDIR, handlerConcurrency: 0 }] }, ['mailpoll.yaml: accounts[0].handlerConcurrency: expected an integer 1-256, got 0']],
    ['missing accounts', {}, ['mailpoll.yaml: accounts: is required (or accountsTable: true, to read the accounts from the store)']],
    ['empty accounts', { accounts: [] }, ['mailpoll.yaml: accounts: expected at least one account, got []']],
    ['accounts not a list', { accounts: { work: IMAP } }, ['mailpoll.yaml: accounts: expected a list, got {"work":{"name":"work","protocol":"imap…']],
    ['nested secrets are hidden too', { accounts: { work: { password: 'hunter22' } } }, ['mailpoll.yaml: accounts: expected a list, got {"work":{"password":"***"}}']],
    ['an account that is not an object', { accounts: ['work'] }, ['mailpoll.yaml: accounts[0]: expected an object (key: value), got "work"']],
    ['not an object at all', null, ['mailpoll.yaml: expected an object with an accounts list, got null']],
  ];
  for (const [title, raw, expected] of cases) {
    it(title, () => assert.deepEqual(problemsOf(raw), expected));
  }

  it('did-you-mean stays quiet for unrelated words', () => {
    assert.equal(closest('colour', ['host', 'port']), undefined);
    assert.equal(closest('hots', ['host', 'port']), 'host');
  });
});

describe('after and skipKeyword', () => {
  it('resolves the word and object forms into after and afterExtras', () => {
    const { config, problems } = validate({
      accounts: [
        { ...MAILDIR, after: { action: 'keep', flags: ['\\flagged'], copyTo: 'Done' }, skipKeyword: '\\Flagged' },
        { ...IMAP, after: 'flag:$Processed', skipKeyword: '$Processed' },
        { ...IMAP, name: 'plain', after: 'delete' },
      ],
    });
    assert.deepEqual(problems, []);
    const [local, work, plain] = config!.accounts;
    assert.deepEqual([local!.after, local!.afterExtras, local!.skipKeyword], ['keep', { flags: ['\\Flagged'], unflags: [], copyTo: 'Done' }, '\\Flagged']);
    assert.deepEqual([work!.after, work!.afterExtras, work!.skipKeyword], ['keep', { flags: ['$Processed'], unflags: [], copyTo: undefined }, '$Processed']);
    assert.deepEqual([plain!.after, plain!.afterExtras], ['delete', undefined]);
  });
});

describe('rules', () => {
  const cases: [string, unknown, string[]][] = [
    [
      'imap needs host, user and a password source',
      { accounts: [{ name: 'work', protocol: 'imap' }] },
      [
        'mailpoll.yaml: accounts[0].host: is required for imap',
        'mailpoll.yaml: accounts[0].user: is required for imap',
        'mailpoll.yaml: accounts[0].password: a password source is required for imap: set password, passwordEnv, passwordFile, passwordCommand or passwordSecret (or auth: oauth2)',
      ],
    ],
    ['pop3 needs a host', { accounts: [{ ...POP3, host: undefined }] }, ['mailpoll.yaml: accounts[0].host: is required for pop3']],
    ['maildir needs a path', { accounts: [{ name: 'local', protocol: 'maildir' }] }, ['mailpoll.yaml: accounts[0].path: is required for maildir']],
    ['protocol is required', { accounts: [{ name: 'x' }] }, ['mailpoll.yaml: accounts[0].protocol: is required (imap, pop3 or maildir)']],
    ['after: move needs moveTo', { accounts: [{ ...IMAP, after: 'move' }] }, ['mailpoll.yaml: accounts[0].moveTo: is required when after is move']],
    ['after: move from defaults needs moveTo', { defaults: { after: 'move' }, accounts: [MAILDIR] }, ['mailpoll.yaml: accounts[0].moveTo: is required when after is move (from defaults)']],
    ['moveTo is the polled folder', { accounts: [{ ...IMAP, after: 'move', moveTo: 'INBOX' }] }, ['mailpoll.yaml: accounts[0].moveTo: is the folder being polled ("INBOX"); name another folder']],
    [
      'pop3 refuses copies, flags and skipKeyword, all at once',
      { accounts: [{ ...POP3, after: { action: 'keep', flags: ['$Processed'], copyTo: 'Archive' }, skipKeyword: '$Processed' }] },
      [
        'mailpoll.yaml: accounts[0].skipKeyword: POP3 has no flags or keywords to look for; remove skipKeyword',
        'mailpoll.yaml: accounts[0].after: POP3 has no folders to copy to; use after: keep or delete',
        'mailpoll.yaml: accounts[0].after: POP3 has no flags: $Processed cannot be set or cleared; use after: keep or delete',
      ],
    ],
    [
      'maildir stores only \\Seen and \\Flagged',
      { accounts: [{ ...MAILDIR, after: 'flag:$Processed', skipKeyword: '$Processed' }] },
      [
        'mailpoll.yaml: accounts[0].after: a Maildir stores only the flags \\Seen and \\Flagged: $Processed cannot be set or cleared',
        'mailpoll.yaml: accounts[0].skipKeyword: a Maildir stores only the flags \\Seen and \\Flagged; $Processed cannot be looked for',
      ],
    ],
    ['a copy into the polled folder', { accounts: [{ ...IMAP, after: 'copy:inbox' }] }, ['mailpoll.yaml: accounts[0].after: copies to the folder being polled ("inbox"): the copy would be handed over as new mail on every run; name another folder']],
    ['pop3 cannot markSeen', { accounts: [{ ...POP3, after: 'markSeen' }] }, ['mailpoll.yaml: accounts[0].after: POP3 has no folders/flags; use after: keep or delete']],
    ['pop3 cannot move', { accounts: [{ ...POP3, after: 'move' }] }, ['mailpoll.yaml: accounts[0].after: POP3 has no folders/flags; use after: keep or delete']],
    [
      'pop3 cannot markSeen, even from defaults',
      { defaults: { after: 'markSeen' }, accounts: [POP3] },
      ['mailpoll.yaml: accounts[0].after: POP3 has no folders/flags; after: markSeen comes from defaults; set after: keep or delete on this account'],
    ],
    [
      'pop3 has no folders or flags',
      { accounts: [{ ...POP3, folder: 'Work', onlyUnseen: true, moveTo: 'Done' }] },
      [
        'mailpoll.yaml: accounts[0].folder: POP3 has no folders; remove folder',
        'mailpoll.yaml: accounts[0].onlyUnseen: POP3 has no seen flag, so every message on the server is listed; remove onlyUnseen',
        'mailpoll.yaml: accounts[0].moveTo: POP3 has no folders to move to; remove moveTo and use after: keep or delete',
      ],
    ],
    ['path on an imap account', { accounts: [{ ...IMAP, path: 'Maildir' }] }, ['mailpoll.yaml: accounts[0].path: does not apply to imap accounts (only to maildir); remove it']],
    [
      'server keys on a maildir account',
      { accounts: [{ ...MAILDIR, host: 'x', password: 'hunter22' }] },
      [
        'mailpoll.yaml: accounts[0].host: does not apply to maildir accounts (only to imap and pop3); remove it',
        'mailpoll.yaml: accounts[0].password: does not apply to maildir accounts (only to imap and pop3); remove it',
      ],
    ],
    ['tls: none on port 993', { accounts: [{ ...IMAP, tls: 'none', port: 993 }] }, ['mailpoll.yaml: accounts[0].tls: port 993 is the implicit TLS port; set tls: implicit or port: 143']],
    ['starttls on port 995', { accounts: [{ ...POP3, tls: 'starttls', port: 995 }] }, ['mailpoll.yaml: accounts[0].tls: port 995 is the implicit TLS port; set tls: implicit or port: 110']],
    [
      'implicit TLS on port 143',
      { accounts: [{ ...IMAP, port: 143 }] },
      ['mailpoll.yaml: accounts[0].tls: port 143 is the plain IMAP port, but tls is implicit (the default); set tls: starttls (or none), or port: 993'],
    ],
    ['two password sources', { accounts: [{ ...IMAP, passwordFile: 'pw.txt' }] }, ['mailpoll.yaml: accounts[0].passwordFile: conflicts with password; set only one password source']],
    ['two password sources in defaults', { defaults: { passwordEnv: 'A', passwordCommand: 'b' }, accounts: [MAILDIR] }, ['mailpoll.yaml: defaults.passwordCommand: conflicts with passwordEnv; set only one password source']],
    [
      'duplicate names name both indexes',
      { accounts: [IMAP, MAILDIR, { ...MAILDIR, name: 'work' }] },
      ['mailpoll.yaml: accounts[2].name: "work" is already used by accounts[0]; names must be unique'],
    ],
  ];
  for (const [title, raw, expected] of cases) {
    it(title, () => assert.deepEqual(problemsOf(raw), expected));
  }

  it('protocol can come from defaults', () => {
    assert.equal(one({ name: 'x', path: 'm' }, { defaults: { protocol: 'maildir' } }).protocol, 'maildir');
  });

  it('is a pure function of the parsed object', () => {
    const parsed = configSchema.parse({ accounts: [{ ...IMAP, after: 'move' }] });
    assert.deepEqual(checkRules(parsed), ['accounts[0].moveTo: is required when after is move']);
  });
});

describe('all problems at once', () => {
  it('reports schema, env and rule problems of every account together, grouped by account', () => {
    const problems = problemsOf({
      accounts: [
        { ...IMAP, port: '99x', pasword: 'x' },
        { ...POP3, after: 'move', host: '${POP_HOST}' },
        { name: 'local', protocol: 'maildir' },
        { ...MAILDIR, name: 'work' },
      ],
      stor: 'x',
    });
    assert.deepEqual(problems, [
      'mailpoll.yaml: stor: unknown key (did you mean "store"?)',
      'mailpoll.yaml: accounts[0].port: expected an integer 1-65535, got "99x"',
      'mailpoll.yaml: accounts[0].pasword: unknown key (did you mean "password"?)',
      'mailpoll.yaml: accounts[1].host: environment variable POP_HOST is not set',
      'mailpoll.yaml: accounts[2].path: is required for maildir',
      'mailpoll.yaml: accounts[3].name: "work" is already used by accounts[0]; names must be unique',
    ]);
  });

  it('loads a real file with many problems and reports them all', async () => {
    const problems = await configError(() => loadConfig({ cwd: fixture('invalid'), env: {} }));
    assert.deepEqual(problems, [
      'mailpoll.config.yaml: colour: unknown key (allowed: accounts, defaults, script, store, storePasswordEnv, storePasswordFile, storePasswordCommand, storePasswordSecret, retentionDays, ledgerDays, concurrency, maxConnections, expiresAfter, leaseTtl, accountsTable, workers, listen, connections, connectionsFile)',
      'mailpoll.config.yaml: accounts[0].pasword: unknown key (did you mean "password"?)',
      'mailpoll.config.yaml: accounts[1].port: expected an integer 1-65535, got "99x"',
      'mailpoll.config.yaml: accounts[1].tls: expected one of implicit, starttls, none, got "ssl"',
      'mailpoll.config.yaml: accounts[2].after: POP3 has no folders/flags; use after: keep or delete',
      'mailpoll.config.yaml: accounts[2].name: "work" is already used by accounts[0]; names must be unique',
    ]);
  });
});

describe('${VARS}', () => {
  it('substitutes variables in any string', () => {
    const { config } = validate(
      { accounts: [{ ...IMAP, host: '${MAIL_HOST}', user: '${MAIL_USER}@example.com', port: '${MAIL_PORT}' }] },
      { env: { MAIL_HOST: 'imap.example.org', MAIL_USER: 'bob', MAIL_PORT: '1993' } },
    );
    assert.equal(config!.accounts[0]!.host, 'imap.example.org');
    assert.equal(config!.accounts[0]!.user, 'bob@example.com');
    assert.equal(config!.accounts[0]!.port, 1993);
  });

  it('reports a missing variable with its key path, and nothing else about that key', () => {
    assert.deepEqual(problemsOf({ accounts: [{ ...IMAP, host: '${MAIL_HOST}' }] }), [
      'mailpoll.yaml: accounts[0].host: environment variable MAIL_HOST is not set',
    ]);
    assert.deepEqual(problemsOf({ defaults: { port: '${PORT}' }, accounts: [IMAP] }), [
      'mailpoll.yaml: defaults.port: environment variable PORT is not set',
    ]);
  });

  it('$${ is a literal ${', () => {
    const { config } = validate({ accounts: [{ ...IMAP, folder: 'Cost $${HOME} and ${X}', password: '$${not-a-var}' }] }, { env: { X: 'x', HOME: '/nope' } });
    assert.equal(config!.accounts[0]!.folder, 'Cost ${HOME} and x');
    assert.equal(config!.accounts[0]!.password, '${not-a-var}');
  });

  it('rejects a malformed reference', () => {
    assert.deepEqual(problemsOf({ accounts: [{ ...IMAP, host: 'imap.${DOMAIN' }] }), [
      'mailpoll.yaml: accounts[0].host: contains "${DOMAIN", an invalid variable reference; write ${NAME}, or $${ for a literal ${',
    ]);
    assert.deepEqual(problemsOf({ accounts: [{ ...IMAP, password: 'pa${ss word}' }] }), [
      'mailpoll.yaml: accounts[0].password: contains an invalid variable reference; write ${NAME}, or $${ for a literal ${',
    ]);
  });
});

describe('paths', () => {
  it('resolves relative paths against the config folder and ~/ against home', () => {
    const { config } = validate({
      script: 'handlers/default.mjs',
      accounts: [
        { ...IMAP, password: undefined, passwordFile: 'secret.txt', ca: './ca.pem', script: '~/bin/handler.mjs' },
        { ...MAILDIR, path: '~/Maildir' },
        { ...MAILDIR, name: 'abs', path: '/var/mail/ann' },
      ],
    });
    const [imap, home, abs] = config!.accounts;
    assert.equal(imap!.ca, '/etc/mailpoll/ca.pem');
    assert.equal(imap!.script, '/home/ann/bin/handler.mjs');
    assert.equal(home!.path, '/home/ann/Maildir');
    assert.equal(home!.script, '/etc/mailpoll/handlers/default.mjs');
    assert.equal(abs!.path, '/var/mail/ann');
  });

  it('loads a file with relative paths; ca must exist', async () => {
    const config = await loadConfig({ cwd: fixture('paths'), env: { HOME: '/home/ann' } });
    const [relative, maildir, home] = config.accounts;
    assert.equal(config.file, fixture('paths', 'mailpoll.config.yaml'));
    assert.equal(config.dir, fixture('paths'));
    assert.equal(relative!.ca, fixture('paths', 'certs', 'ca.pem'));
    assert.equal(relative!.script, fixture('paths', 'handlers', 'imap.mjs'));
    assert.equal(relative!.password, 'paths-secret');
    assert.equal(maildir!.path, fixture('paths', 'mail'));
    assert.equal(maildir!.script, fixture('paths', 'handlers', 'default.mjs'));
    assert.equal(home!.path, '/home/ann/Maildir');
  });

  it('a ca that cannot be read is a problem', async () => {
    const dir = path.join(tmp, 'ca');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'mailpoll.config.json'),
      JSON.stringify({ defaults: { ca: 'missing-default.pem' }, accounts: [{ ...IMAP, ca: 'missing.pem' }, { ...IMAP, name: 'b' }] }),
    );
    const problems = await configError(() => loadConfig({ cwd: dir, env: {} }));
    assert.deepEqual(problems, [
      `mailpoll.config.json: defaults.ca: cannot read ${path.join(dir, 'missing-default.pem')}: no such file`,
      `mailpoll.config.json: accounts[0].ca: cannot read ${path.join(dir, 'missing.pem')}: no such file`,
    ]);
  });

  it('-s overrides every script, resolved against cwd', async () => {
    const config = await loadConfig({ cwd: fixture('paths'), configFile: 'mailpoll.config.yaml', script: 'other/h.mjs', env: {} });
    assert.deepEqual(new Set(config.accounts.map((account) => account.script)), new Set([fixture('paths', 'other', 'h.mjs')]));
  });
});

describe('finding and reading the file', () => {
  const formats: [dir: string, file: string, name: string][] = [
    ['yaml', 'mailpoll.config.yaml', 'support'],
    ['yml', 'mailpoll.config.yml', 'from-yml'],
    ['json', 'mailpoll.config.json', 'from-json'],
    ['rc', '.mailpollrc', 'from-rc'],
    ['rc-json', '.mailpollrc.json', 'from-rc-json'],
    ['rc-yaml', '.mailpollrc.yaml', 'from-rc-yaml'],
    ['pkg', 'package.json', 'from-package-json'],
    ['mjs', 'mailpoll.config.mjs', 'from-mjs'],
    ['cjs', 'mailpoll.config.cjs', 'from-cjs'],
    ['js', 'mailpoll.config.js', 'from-js'],
  ];
  for (const [dir, file, name] of formats) {
    it(`finds ${file} by searching`, async () => {
      const config = await loadConfig({ cwd: fixture(dir), env: { HOME: '/home/ann' } });
      assert.equal(config.file, fixture(dir, file));
      assert.equal(config.accounts[0]!.name, name);
    });
    it(`loads ${file} given with -c`, async () => {
      const config = await loadConfig({ configFile: path.join('fixtures', 'config', dir, file), cwd: TEST_DIR, env: {} });
      assert.equal(config.file, fixture(dir, file));
      assert.equal(config.accounts[0]!.name, name);
    });
  }

  it('reads the YAML example fully', async () => {
    const config = await loadConfig({ cwd: fixture('yaml'), env: {} });
    const [support, archive] = config.accounts;
    assert.equal(support!.folder, 'Inbox/Support');
    assert.equal(support!.moveTo, 'Inbox/Done');
    assert.equal(support!.connectTimeout, 10_000);
    assert.equal(support!.script, fixture('yaml', 'handler.mjs'));
    assert.equal(archive!.enabled, false);
    assert.equal(archive!.host, undefined);
    assert.equal(archive!.path, fixture('yaml', 'Maildir'));
  });

  it('values from .mjs, .cjs and .js files are validated like any other', async () => {
    assert.equal((await loadConfig({ cwd: fixture('mjs'), env: {} })).accounts[0]!.port, 1993);
    assert.equal((await loadConfig({ cwd: fixture('cjs'), env: {} })).accounts[0]!.maxMessages, 10);
    assert.equal((await loadConfig({ cwd: fixture('js'), env: {} })).accounts[0]!.handlerTimeout, 90_000);
  });

  it('searches parent folders', async () => {
    const top = path.join(tmp, 'search');
    const deep = path.join(top, 'a', 'b');
    await mkdir(deep, { recursive: true });
    await writeFile(path.join(top, '.mailpollrc.json'), JSON.stringify({ accounts: [MAILDIR] }));
    const config = await loadConfig({ cwd: deep, env: {} });
    assert.equal(config.file, path.join(top, '.mailpollrc.json'));
    assert.equal(config.dir, top);
    assert.equal(config.accounts[0]!.path, path.join(top, 'Maildir'));
  });

  it('names the file relative to cwd in problems', async () => {
    const top = path.join(tmp, 'display');
    await mkdir(path.join(top, 'sub'), { recursive: true });
    await writeFile(path.join(top, 'sub', 'mailpoll.config.json'), JSON.stringify({ accounts: [{ ...MAILDIR, port: 1 }] }));
    const problems = await configError(() => loadConfig({ cwd: top, configFile: 'sub/mailpoll.config.json', env: {} }));
    assert.deepEqual(problems, [`${path.join('sub', 'mailpoll.config.json')}: accounts[0].port: does not apply to maildir accounts (only to imap and pop3); remove it`]);
  });

  it('no config found: says where it looked and suggests mailpoll init', async () => {
    const empty = path.join(tmp, 'empty');
    await mkdir(empty, { recursive: true });
    const [problem, ...rest] = await configError(() => loadConfig({ cwd: empty, env: {} }));
    assert.deepEqual(rest, []);
    assert.match(problem!, /^no config file found in /);
    assert.ok(problem!.includes(empty), problem);
    assert.ok(problem!.includes('mailpoll.config.{yaml,yml,json,js,mjs,cjs}'), problem);
    assert.ok(problem!.includes('mailpoll init'), problem);
  });

  it('a missing explicit file is a ConfigError naming it', async () => {
    assert.deepEqual(await configError(() => loadConfig({ cwd: tmp, configFile: 'nope.yaml', env: {} })), ['nope.yaml: config file not found']);
  });

  it('an unsupported explicit file type is a ConfigError', async () => {
    assert.deepEqual(await configError(() => loadConfig({ cwd: tmp, configFile: 'mailpoll.toml', env: {} })), [
      'mailpoll.toml: unsupported config file type ".toml"; use .yaml, .yml, .json, .js, .mjs or .cjs',
    ]);
  });

  it('a YAML syntax error is one problem naming the file', async () => {
    const [problem, ...rest] = await configError(() => loadConfig({ cwd: fixture('broken'), env: {} }));
    assert.deepEqual(rest, []);
    assert.match(problem!, /^mailpoll\.config\.yaml: cannot parse: .*\(\d+:\d+\)$/);
  });

  it('an empty file is a problem, not a silent skip', async () => {
    const dir = path.join(tmp, 'empty-file');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'mailpoll.config.yaml'), '\n# nothing yet\n');
    const problems = await configError(() => loadConfig({ cwd: dir, env: {} }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^mailpoll\.config\.yaml: is empty/);
  });

  it('a .mjs config that throws is one problem naming the file', async () => {
    const dir = path.join(tmp, 'throws');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'mailpoll.config.mjs'), 'throw new Error("boom");\n');
    assert.deepEqual(await configError(() => loadConfig({ cwd: dir, env: {} })), ['mailpoll.config.mjs: cannot load: boom']);
  });
});

describe('secrets', () => {
  const SECRETS = fixture('secrets');
  const env = { MAILPOLL_TEST_PASSWORD: 'env-secret', PATH: process.env.PATH };

  it('resolves every password source', async () => {
    const config = await loadConfig({ cwd: SECRETS, env });
    assert.deepEqual(
      config.accounts.map((account) => [account.name, account.passwordSpec?.source, account.password]),
      [
        ['literal', 'password', 'literal-secret'],
        ['env', 'passwordEnv', 'env-secret'],
        ['file', 'passwordFile', 'file-secret'],
        ['command', 'passwordCommand', 'secret'],
        ['cwd-command', 'passwordCommand', 'file-secret'],
      ],
    );
    // Every resolved value is now hidden from output.
    assert.equal(redact('literal-secret env-secret file-secret secret'), '*** *** *** ***');
  });

  it('a copy of an account resolves its password too: the source is a value on the account', async () => {
    const config = await loadConfig({ cwd: SECRETS, env, resolveSecrets: false });
    const spread = config.accounts.map((account) => ({ ...account }));
    const cloned = structuredClone(config.accounts);
    await resolvePasswords(spread, { env });
    await resolvePasswords(cloned, { env });
    const expected = [
      ['literal', 'literal-secret'],
      ['env', 'env-secret'],
      ['file', 'file-secret'],
      ['command', 'secret'],
      ['cwd-command', 'file-secret'],
    ];
    assert.deepEqual(spread.map((account) => [account.name, account.password]), expected);
    assert.deepEqual(cloned.map((account) => [account.name, account.password]), expected);
    // The originals were not touched: only the copies were resolved.
    assert.deepEqual(config.accounts.map((account) => account.password), ['literal-secret', undefined, undefined, undefined, undefined]);
  });

  it('resolveSecrets: false runs no command and reads no file; literal passwords stay', async () => {
    const dir = path.join(tmp, 'no-resolve');
    await mkdir(dir, { recursive: true });
    const marker = path.join(dir, 'ran');
    await writeFile(
      path.join(dir, 'mailpoll.config.json'),
      JSON.stringify({ accounts: [{ ...IMAP, password: undefined, passwordCommand: `touch ${marker}; echo x` }, { ...IMAP, name: 'b' }] }),
    );
    const config = await loadConfig({ cwd: dir, env, resolveSecrets: false });
    assert.equal(existsSync(marker), false);
    assert.equal(config.accounts[0]!.password, undefined);
    assert.equal(config.accounts[0]!.passwordSpec?.source, 'passwordCommand');
    assert.equal(config.accounts[1]!.password, 'hunter22');
    // ... and they can be resolved later, for the accounts that need them.
    await resolvePasswords(config.accounts);
    assert.equal(existsSync(marker), true);
    assert.equal(config.accounts[0]!.password, 'x');
  });

  it('resolves only the selected accounts: enabled ones by default, named ones with accounts', async () => {
    const dir = path.join(tmp, 'selected');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'mailpoll.config.json'),
      JSON.stringify({
        accounts: [
          { ...IMAP, name: 'on', password: undefined, passwordCommand: 'echo on-secret' },
          { ...IMAP, name: 'off', enabled: false, password: undefined, passwordCommand: 'echo off-secret' },
          { ...IMAP, name: 'broken', password: undefined, passwordCommand: 'exit 1' },
        ],
      }),
    );
    const byDefault = await configError(() => loadConfig({ cwd: dir, env }));
    assert.deepEqual(byDefault, ['mailpoll.config.json: accounts[2].passwordCommand: the command failed with exit code 1']);
    const config = await loadConfig({ cwd: dir, env, accounts: ['off'] });
    assert.deepEqual(
      config.accounts.map((account) => account.password),
      [undefined, 'off-secret', undefined],
    );
    assert.deepEqual(await configError(() => loadConfig({ cwd: dir, env, accounts: ['nope'] })), ['no account named "nope" (accounts: on, off, broken)']);
  });

  it('a failing command reports its stderr, never its stdout', async () => {
    const dir = path.join(tmp, 'failing');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'mailpoll.config.json'),
      JSON.stringify({
        defaults: { protocol: 'imap', host: 'h', user: 'u' },
        accounts: [
          { name: 'fails', passwordCommand: 'echo stdout-secret; echo "gpg: decryption failed" >&2; echo more >&2; exit 2' },
          { name: 'silent', passwordCommand: 'echo "no entry for silent" >&2' },
          { name: 'env', passwordEnv: 'UNSET_VARIABLE' },
          { name: 'empty-env', passwordEnv: 'EMPTY' },
          { name: 'file', passwordFile: 'missing.txt' },
        ],
      }),
    );
    const problems = await configError(() => loadConfig({ cwd: dir, env: { ...env, EMPTY: '' } }));
    assert.deepEqual(problems.sort(), [
      'mailpoll.config.json: accounts[0].passwordCommand: the command failed with exit code 2: gpg: decryption failed',
      'mailpoll.config.json: accounts[1].passwordCommand: the command printed no password: no entry for silent',
      'mailpoll.config.json: accounts[2].passwordEnv: environment variable UNSET_VARIABLE is not set',
      'mailpoll.config.json: accounts[3].passwordEnv: environment variable EMPTY is empty',
      `mailpoll.config.json: accounts[4].passwordFile: cannot read ${path.join(dir, 'missing.txt')}: no such file`,
    ]);
    assert.ok(!problems.join('\n').includes('stdout-secret'));
  });

  it('a source inherited from defaults is reported once, at defaults', async () => {
    const dir = path.join(tmp, 'inherited');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'mailpoll.config.json'),
      JSON.stringify({ defaults: { passwordEnv: 'SHARED' }, accounts: [IMAP, { ...IMAP, name: 'b' }].map(({ password: _, ...rest }) => rest) }),
    );
    assert.deepEqual(await configError(() => loadConfig({ cwd: dir, env: {} })), [
      'mailpoll.config.json: defaults.passwordEnv: environment variable SHARED is not set',
    ]);
  });

  it('passwordCommand: first line of stdout, run in the given folder, with a time limit', async () => {
    assert.deepEqual(await resolvePassword({ source: 'passwordCommand', value: "printf 'secret\\nignored'" }, { cwd: tmp, env }), { password: 'secret' });
    assert.deepEqual(await resolvePassword({ source: 'passwordCommand', value: 'pwd' }, { cwd: tmp, env }), { password: tmp });
    const started = Date.now();
    const slow = await resolvePassword({ source: 'passwordCommand', value: 'sleep 5; echo late' }, { cwd: tmp, env, timeout: 200 });
    assert.deepEqual(slow, { problem: 'the command did not finish within 200ms' });
    assert.ok(Date.now() - started < 4000);
  });

  it('passwordFile: first line without its line ending', async () => {
    const file = path.join(tmp, 'crlf.txt');
    await writeFile(file, 'crlf-secret\r\nnext\r\n');
    assert.deepEqual(await resolvePassword({ source: 'passwordFile', value: file }, { cwd: tmp, env }), { password: 'crlf-secret' });
    const empty = path.join(tmp, 'empty.txt');
    await writeFile(empty, '\nsecond');
    assert.deepEqual(await resolvePassword({ source: 'passwordFile', value: empty }, { cwd: tmp, env }), {
      problem: `${empty} is empty (its first line is the password)`,
    });
  });
});

describe('redact', () => {
  it('replaces every registered secret of 3 characters or more', () => {
    registerSecret('correct horse');
    registerSecret('ab');
    registerSecret(undefined);
    assert.equal(redact('login ann/correct horse failed; correct horse again; ab stays'), 'login ann/*** failed; *** again; ab stays');
  });

  it('also hides the JSON-escaped form of a secret', () => {
    registerSecret('quo"te\\pw');
    assert.equal(redact(JSON.stringify({ password: 'quo"te\\pw' })), '{"password":"***"}');
  });

  it('treats secrets as text, not patterns, and prefers the longest', () => {
    registerSecret('a.c');
    registerSecret('xa.cx');
    assert.equal(redact('abc a.c xa.cx'), 'abc *** ***');
  });
});

describe('selectAccounts', () => {
  const config: Config = {
    file: undefined,
    dir: '/',
    accounts: ['a', 'b', 'c'].map((name) => ({ ...one({ ...MAILDIR, name }), enabled: name !== 'b' })),
    store: undefined,
    retentionDays: 7,
    ledgerDays: 90,
    concurrency: 4,
    maxConnections: 2,
    expiresAfter: undefined,
  };
  const names = (accounts: AccountConfig[]) => accounts.map((account) => account.name);

  it('without names: the enabled accounts in file order', () => {
    assert.deepEqual(names(selectAccounts(config, undefined)), ['a', 'c']);
    assert.deepEqual(names(selectAccounts(config, [])), ['a', 'c']);
  });

  it('with names: those accounts, even disabled, in file order', () => {
    assert.deepEqual(names(selectAccounts(config, ['c', 'b'])), ['b', 'c']);
  });

  it('an unknown name is a ConfigError listing the accounts', () => {
    assert.throws(
      () => selectAccounts(config, ['a', 'foo']),
      (error: unknown) => error instanceof ConfigError && error.message === 'no account named "foo" (accounts: a, b, c)',
    );
  });
});

describe('documentation', () => {
  it('every key has a description', () => {
    for (const key of Object.keys(accountSchema.shape)) {
      assert.ok(key in ACCOUNT_KEY_DOCS, key);
      assert.ok(accountSchema.shape[key as keyof typeof accountSchema.shape].description, key);
    }
    assert.deepEqual(Object.keys(configSchema.shape), Object.keys(TOP_LEVEL_KEY_DOCS));
  });
});

describe('store keys', () => {
  it('resolves store against the config folder and applies retention defaults', () => {
    const { config, problems } = validateConfig(
      { store: './state/m.db', accounts: [{ ...MAILDIR, name: 'a' }] },
      { file: '/etc/mailpoll/mailpoll.yaml', dir: '/etc/mailpoll', env: {}, displayName: 'mailpoll.yaml' },
    );
    assert.deepEqual(problems, []);
    assert.equal(config?.store, '/etc/mailpoll/state/m.db');
    assert.equal(config?.retentionDays, 7);
    assert.equal(config?.ledgerDays, 90);
    assert.equal(config?.accounts[0]?.maxAttempts, 5);
    assert.equal(config?.accounts[0]?.reprocess, false);
  });

  it('parses maxMessageSize with units and rejects nonsense', () => {
    const sizes: Array<[unknown, number | string]> = [
      [1000, 1000],
      ['500KB', 512_000],
      ['25MB', 25 * 1024 * 1024],
      ['1gb', 1024 ** 3],
      ['big', 'accounts[0].maxMessageSize: expected a size like 500KB, 25MB or a number of bytes, got "big"'],
    ];
    for (const [input, expected] of sizes) {
      const { config, problems } = validateConfig(
        { accounts: [{ ...MAILDIR, name: 'a', maxMessageSize: input }] },
        { file: undefined, dir: '/', env: {}, displayName: 'm.yaml' },
      );
      if (typeof expected === 'number') assert.equal(config?.accounts[0]?.maxMessageSize, expected);
      else assert.deepEqual(problems, [`m.yaml: ${expected}`]);
    }
  });

  it('rejects a negative retention and quarantineFolder outside IMAP', () => {
    const { problems } = validateConfig(
      { retentionDays: -1, accounts: [{ ...MAILDIR, name: 'a', quarantineFolder: 'Q' }] },
      { file: undefined, dir: '/', env: {}, displayName: 'm.yaml' },
    );
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems.join('\n'), /retentionDays: expected a whole number of days/);
    assert.match(problems.join('\n'), /accounts\[0\]\.quarantineFolder: /);
  });
});

describe('watch keys', () => {
  it('top-level defaults: concurrency 4, maxConnections 2, no expiresAfter', () => {
    const { config } = validate({ accounts: [MAILDIR] });
    assert.equal(config!.concurrency, 4);
    assert.equal(config!.maxConnections, 2);
    assert.equal(config!.expiresAfter, undefined);
  });

  it('parses every watch key, strings from ${VARS} too', () => {
    const { config, problems } = validate({
      concurrency: 8,
      maxConnections: '3',
      expiresAfter: '8h',
      accounts: [{ ...IMAP, interval: '5m', idle: 'true', idleHealthCheck: '2m', backoff: { initial: '5s', max: '10m' } }, { ...MAILDIR, schedule: '*/5 * * * *' }],
    });
    assert.deepEqual(problems, []);
    assert.equal(config!.concurrency, 8);
    assert.equal(config!.maxConnections, 3);
    assert.equal(config!.expiresAfter, 8 * 3_600_000);
    const [imap, local] = config!.accounts;
    assert.deepEqual(
      { interval: imap!.interval, schedule: imap!.schedule, idle: imap!.idle, idleHealthCheck: imap!.idleHealthCheck, backoff: imap!.backoff },
      { interval: 300_000, schedule: undefined, idle: true, idleHealthCheck: 120_000, backoff: { initialMs: 5000, maxMs: 600_000 } },
    );
    assert.equal(local!.schedule, '*/5 * * * *');
    assert.equal(local!.interval, 60_000);
    assert.equal(local!.idle, false);
  });

  it('defaults is the global form: inherited by every account; idle only by imap accounts', () => {
    const { config, problems } = validate({
      defaults: { interval: '2m', idle: true, idleHealthCheck: '1m', backoff: { max: '10m' } },
      accounts: [IMAP, MAILDIR, POP3],
    });
    assert.deepEqual(problems, []);
    const [imap, local, pop] = config!.accounts;
    assert.deepEqual(
      config!.accounts.map((account) => [account.name, account.interval, account.idle, account.backoff.maxMs]),
      [
        ['work', 120_000, true, 600_000],
        ['local', 120_000, false, 600_000],
        ['pop', 120_000, false, 600_000],
      ],
    );
    assert.equal(imap!.idleHealthCheck, 60_000);
    assert.equal(local!.idleHealthCheck, 300_000);
    assert.equal(pop!.backoff.initialMs, 1000);
  });

  it('backoff is merged key by key with defaults.backoff', () => {
    const { config, problems } = validate({
      defaults: { backoff: { initial: '2s', max: '10m' } },
      accounts: [{ ...MAILDIR, backoff: { max: '30m' } }, { ...MAILDIR, name: 'b', backoff: {} }, { ...MAILDIR, name: 'c' }],
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(
      config!.accounts.map((account) => account.backoff),
      [
        { initialMs: 2000, maxMs: 1_800_000 },
        { initialMs: 2000, maxMs: 600_000 },
        { initialMs: 2000, maxMs: 600_000 },
      ],
    );
  });

  it('interval and schedule are one setting: an account that sets either inherits neither', () => {
    const fromSchedule = validate({ defaults: { schedule: '0 * * * *' }, accounts: [{ ...MAILDIR, interval: '30s' }, { ...MAILDIR, name: 'b' }] });
    assert.deepEqual(fromSchedule.problems, []);
    assert.deepEqual(
      fromSchedule.config!.accounts.map((account) => [account.interval, account.schedule]),
      [
        [30_000, undefined],
        [60_000, '0 * * * *'],
      ],
    );
    const fromInterval = validate({ defaults: { interval: '2m' }, accounts: [{ ...MAILDIR, schedule: '@hourly' }] });
    assert.deepEqual(fromInterval.problems, []);
    assert.deepEqual([fromInterval.config!.accounts[0]!.interval, fromInterval.config!.accounts[0]!.schedule], [60_000, '@hourly']);
  });

  const schemaCases: [string, unknown, string[]][] = [
    [
      'a cron value out of range',
      { accounts: [{ ...MAILDIR, schedule: '61 * * * *' }] },
      ['mailpoll.yaml: accounts[0].schedule: expected a cron expression like "*/5 * * * *" (minute: 61 is out of range 0-59), got "61 * * * *"'],
    ],
    [
      'a cron expression with too few fields',
      { defaults: { schedule: '*/5 * *' }, accounts: [MAILDIR] },
      [
        'mailpoll.yaml: defaults.schedule: expected a cron expression like "*/5 * * * *" (expected 5 fields (minute hour day-of-month month weekday) or 6 with seconds first, got 3), got "*/5 * *"',
      ],
    ],
    [
      'a cron expression that never runs',
      { accounts: [{ ...MAILDIR, schedule: '0 0 30 2 *' }] },
      ['mailpoll.yaml: accounts[0].schedule: expected a cron expression like "*/5 * * * *" (never runs: February has no day 30), got "0 0 30 2 *"'],
    ],
    ['an empty schedule, one problem', { accounts: [{ ...MAILDIR, schedule: '' }] }, ['mailpoll.yaml: accounts[0].schedule: expected a cron expression like "*/5 * * * *" (it is empty), got ""']],
    ['schedule is a string', { accounts: [{ ...MAILDIR, schedule: 5 }] }, ['mailpoll.yaml: accounts[0].schedule: expected a string, got 5 (put it in quotes)']],
    ['interval', { accounts: [{ ...MAILDIR, interval: 'often' }] }, ['mailpoll.yaml: accounts[0].interval: expected a duration like 30s, 2m or 1h, got "often"']],
    ['idle', { accounts: [{ ...IMAP, idle: 'yes' }] }, ['mailpoll.yaml: accounts[0].idle: expected true or false, got "yes"']],
    ['idleHealthCheck', { accounts: [{ ...IMAP, idleHealthCheck: 0 }] }, ['mailpoll.yaml: accounts[0].idleHealthCheck: expected a duration longer than 0, like 30s, 2m or 1h, got 0']],
    ['backoff is an object', { accounts: [{ ...MAILDIR, backoff: '5s' }] }, ['mailpoll.yaml: accounts[0].backoff: expected an object (key: value), got "5s"']],
    ['backoff durations', { accounts: [{ ...MAILDIR, backoff: { max: 'forever' } }] }, ['mailpoll.yaml: accounts[0].backoff.max: expected a duration like 30s, 2m or 1h, got "forever"']],
    ['unknown backoff key with did-you-mean', { accounts: [{ ...MAILDIR, backoff: { intial: '1s' } }] }, ['mailpoll.yaml: accounts[0].backoff.intial: unknown key (did you mean "initial"?)']],
    ['unknown backoff key lists initial and max', { defaults: { backoff: { factor: 2 } }, accounts: [MAILDIR] }, ['mailpoll.yaml: defaults.backoff.factor: unknown key (allowed: initial, max)']],
    ['concurrency too small', { accounts: [MAILDIR], concurrency: 0 }, ['mailpoll.yaml: concurrency: expected an integer 1-64, got 0']],
    ['concurrency too large', { accounts: [MAILDIR], concurrency: 65 }, ['mailpoll.yaml: concurrency: expected an integer 1-64, got 65']],
    ['maxConnections', { accounts: [MAILDIR], maxConnections: 'two' }, ['mailpoll.yaml: maxConnections: expected an integer 1-64, got "two"']],
    ['expiresAfter', { accounts: [MAILDIR], expiresAfter: 'tomorrow' }, ['mailpoll.yaml: expiresAfter: expected a duration like 30s, 2m or 1h, got "tomorrow"']],
    ['an account key at the top level', { accounts: [MAILDIR], interval: '5m' }, ['mailpoll.yaml: interval: unknown key (account keys go in an entry of accounts, or in defaults)']],
  ];
  for (const [title, raw, expected] of schemaCases) {
    it(`schema: ${title}`, () => assert.deepEqual(problemsOf(raw), expected));
  }

  const ruleCases: [string, unknown, string[]][] = [
    ['interval and schedule on one account', { accounts: [{ ...MAILDIR, interval: '5m', schedule: '*/5 * * * *' }] }, ['mailpoll.yaml: accounts[0].schedule: conflicts with interval; set either interval or schedule']],
    ['interval and schedule in defaults', { defaults: { interval: '5m', schedule: '@daily' }, accounts: [MAILDIR] }, ['mailpoll.yaml: defaults.schedule: conflicts with interval; set either interval or schedule']],
    [
      'idle on pop3 says why',
      { accounts: [{ ...POP3, idle: true }] },
      ['mailpoll.yaml: accounts[0].idle: POP3 has no IDLE, so the server cannot announce new mail; remove idle (watch mode polls pop3 accounts every interval)'],
    ],
    [
      'idle on maildir says why',
      { accounts: [{ ...MAILDIR, idle: true }] },
      ['mailpoll.yaml: accounts[0].idle: idle keeps an IMAP connection open for the server to announce new mail, and a Maildir has no server; remove idle (watch mode polls it every interval)'],
    ],
    ['idleHealthCheck outside imap', { accounts: [{ ...MAILDIR, idleHealthCheck: '1m' }] }, ['mailpoll.yaml: accounts[0].idleHealthCheck: does not apply to maildir accounts (only to imap); remove it']],
    ['backoff initial longer than max', { accounts: [{ ...MAILDIR, backoff: { initial: '2h', max: '1h' } }] }, ['mailpoll.yaml: accounts[0].backoff.initial: 2h is longer than max (1h); make initial at most max']],
    ['backoff initial longer than the default max', { accounts: [{ ...MAILDIR, backoff: { initial: '2h' } }] }, ['mailpoll.yaml: accounts[0].backoff.initial: 2h is longer than max (1h, the default); make initial at most max']],
    [
      'backoff max shorter than the initial from defaults',
      { defaults: { backoff: { initial: '30s' } }, accounts: [{ ...MAILDIR, backoff: { max: '10s' } }] },
      ['mailpoll.yaml: accounts[0].backoff.max: 10s is shorter than initial (30s, from defaults); make max at least initial'],
    ],
    ['backoff in defaults, reported once', { defaults: { backoff: { initial: '2h' } }, accounts: [MAILDIR, { ...MAILDIR, name: 'b' }] }, ['mailpoll.yaml: defaults.backoff.initial: 2h is longer than max (1h, the default); make initial at most max']],
  ];
  for (const [title, raw, expected] of ruleCases) {
    it(`rules: ${title}`, () => assert.deepEqual(problemsOf(raw), expected));
  }

  it('config loading, cron checks included, does not load croner; the first cron nextRun does', async () => {
    // A fresh process (this one may have loaded croner for other tests), where an ESM import of
    // croner throws and a require shows in require.cache.
    const { execFileSync } = await import('node:child_process');
    const hook =
      "export async function resolve(specifier, context, next) { if (specifier === 'croner' && context.conditions.includes('import')) throw new Error('croner imported'); return next(specifier, context); }";
    const script = [
      "import { createRequire, register } from 'node:module';",
      `register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`,
      "const { validateConfig } = await import('./src/config/load.ts');",
      "const cronerLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('croner'));",
      "const raw = { accounts: [{ name: 'a', protocol: 'maildir', path: 'm', schedule: '*/5 * * * *' }, { name: 'b', protocol: 'maildir', path: 'm', schedule: '99 * * * *' }] };",
      "const { problems } = validateConfig(raw, { file: undefined, dir: '/', env: {}, displayName: 'm' });",
      'const afterConfig = cronerLoaded();',
      "const { nextRun } = await import('./src/watch/schedule.ts');",
      "nextRun({ kind: 'interval', everyMs: 1000 }, new Date());",
      'const afterInterval = cronerLoaded();',
      "nextRun({ kind: 'cron', expression: '*/5 * * * *' }, new Date());",
      'console.log(JSON.stringify({ problems, afterConfig, afterInterval, afterCron: cronerLoaded() }));',
    ].join('\n');
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.join(TEST_DIR, '..'), encoding: 'utf8' });
    assert.deepEqual(JSON.parse(output), {
      problems: ['m: accounts[1].schedule: expected a cron expression like "*/5 * * * *" (minute: 99 is out of range 0-59), got "99 * * * *"'],
      afterConfig: false,
      afterInterval: false,
      afterCron: true,
    });
  });
});
