/**
 * `search:` through the real CLI against a real Dovecot: each criterion alone, together, with
 * `or` and `not`, over IMAP (one UID SEARCH on the server) and, where the protocol can apply
 * it, over POP3 and Maildir (filtered by mailpoll on the same mailbox): the same selection.
 * Runs are dry runs with a handler that keeps everything, so every run sees the whole mailbox;
 * each case is an account of its own in one config.
 */
import assert from 'node:assert/strict';
import { readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { ImapFlow } from 'imapflow';
import { FIXTURES, messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { scenario, type Credentials } from './helpers/scenario.js';

const KEEP_HANDLER = join(FIXTURES, 'handlers', 'echo-subject.mjs');

const dovecot = useDovecot();
const world = scenario(dovecot);

/** Five messages; each case below names the numbers it must select. */
async function seed(): Promise<Credentials> {
  const creds = await world.user();
  const day = (d: number) => new Date(Date.UTC(2026, 0, d, 9, 30));
  const put = (raw: string, d: number, options: { seen?: boolean } = {}) => dovecot.deliver(creds.user, raw, { date: day(d), ...options });
  await put(message({ subject: '[1] invoice 42', from: 'Alice <alice@example.org>', to: 'Ops <ops@example.com>', date: day(5), extraHeaders: 'X-Priority: 1' }), 5);
  await put(message({ subject: '[2] hello', from: 'Bob <bob@example.net>', date: day(10), extraHeaders: 'Cc: Boss <boss@example.com>', body: `the needle is here\n${'x'.repeat(76)}\n`.repeat(200) }), 10);
  const third = await put(message({ subject: '[3] =?UTF-8?B?R3LDvMOfZQ==?=', from: 'Alice <alice@example.org>', date: day(20) }), 20);
  // Flagged, as another client would leave it.
  await rename(third, join(dirname(dirname(third)), 'cur', `${basename(third)}:2,F`));
  await put(message({ subject: '[4] report', from: 'Carol <carol@example.com>', date: day(25) }), 25, { seen: true });
  await put(message({ subject: '[5] tagged', from: 'Dan <dan@example.com>', date: day(28) }), 28);
  // A keyword as another IMAP client sets it.
  const client = new ImapFlow({ host: dovecot.host, port: dovecot.ports.imaps, secure: true, tls: { ca: [await readFile(dovecot.caFile)] }, auth: { user: creds.user, pass: creds.password }, logger: false });
  await client.connect();
  await client.mailboxOpen('INBOX');
  await client.messageFlagsAdd({ header: { subject: 'tagged' } }, ['$Processed']);
  await client.logout();
  return creds;
}

interface Case {
  name: string;
  search: Record<string, unknown>;
  selects: number[];
  /** Protocols that cannot apply it (validate refuses it there). */
  not?: Array<'pop3' | 'maildir'>;
}

const CASES: Case[] = [
  { name: 'from', search: { from: 'alice@example.org' }, selects: [1, 3] },
  { name: 'to', search: { to: 'ops@example.com' }, selects: [1] },
  { name: 'cc', search: { cc: 'boss@' }, selects: [2] },
  { name: 'subject', search: { subject: 'INVOICE' }, selects: [1] },
  { name: 'subject-utf8', search: { subject: 'grüße' }, selects: [3] },
  { name: 'header', search: { header: { 'X-Priority': '1' } }, selects: [1] },
  { name: 'since', search: { since: '2026-01-20' }, selects: [3, 4, 5] },
  { name: 'before', search: { before: '2026-01-10' }, selects: [1] },
  { name: 'since-duration', search: { since: '7d' }, selects: [4, 5] },
  { name: 'larger', search: { larger: '10KB' }, selects: [2] },
  { name: 'smaller', search: { smaller: '10KB' }, selects: [1, 3, 4, 5] },
  { name: 'seen', search: { seen: true }, selects: [4], not: ['pop3'] },
  { name: 'flagged', search: { flagged: true }, selects: [3], not: ['pop3'] },
  { name: 'keyword', search: { keyword: '$Processed' }, selects: [5], not: ['pop3', 'maildir'] },
  { name: 'unkeyword', search: { unkeyword: '$Processed' }, selects: [1, 2, 3, 4], not: ['pop3', 'maildir'] },
  { name: 'body', search: { body: 'needle' }, selects: [2], not: ['pop3', 'maildir'] },
  { name: 'and', search: { from: 'alice', since: '2026-01-15' }, selects: [3] },
  { name: 'or', search: { or: [{ subject: 'hello' }, { header: { 'X-Priority': '1' } }] }, selects: [1, 2] },
  { name: 'not', search: { not: { from: 'alice' } }, selects: [2, 4, 5] },
  { name: 'nested', search: { or: [{ not: { smaller: '10KB' } }, { from: 'carol', before: '2026-02-01' }] }, selects: [2, 4] },
  { name: 'raw', search: { raw: 'OR FROM bob SUBJECT report' }, selects: [2, 4], not: ['pop3', 'maildir'] },
];

/** The numbers of the subjects each account (case) was handed, by case name. */
async function selections(accounts: Array<Record<string, unknown>>): Promise<Map<string, number[]>> {
  const dir = await writeConfig({ script: KEEP_HANDLER, accounts });
  // The store's clock, which `7d` counts back from.
  const result = await runCli(['--json', '--dry-run'], { cwd: dir, env: { MAILPOLL_NOW: '2026-01-29T12:00:00Z' } });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const chosen = new Map<string, number[]>(accounts.map((account) => [String(account.name), []]));
  for (const event of messageEvents(result)) chosen.get(String(event.account))!.push(Number(/^\[(\d+)\]/.exec(String(event.subject))?.[1]));
  for (const list of chosen.values()) list.sort((a, b) => a - b);
  return chosen;
}

describe('search', () => {
  test('each criterion, and AND, OR, NOT: the same selection over IMAP, POP3 and Maildir', async () => {
    const creds = await seed();
    const base = { onlyUnseen: false };
    const imap = CASES.map((c) => world.imapAccount(creds, { ...base, name: c.name, search: c.search }));
    const pop3 = CASES.filter((c) => !c.not?.includes('pop3')).map((c) => ({
      ...world.imapAccount(creds, { name: c.name, search: c.search }),
      protocol: 'pop3',
      port: dovecot.ports.pop3s,
    }));
    const maildir = CASES.filter((c) => !c.not?.includes('maildir')).map((c) => ({ ...base, name: c.name, protocol: 'maildir', path: dovecot.maildir(creds.user), search: c.search }));
    // POP3 last: Dovecot sets \Seen on what a POP3 session RETRieves.
    for (const [protocol, accounts] of [['imap', imap], ['maildir', maildir], ['pop3', pop3]] as const) {
      const chosen = await selections(accounts);
      for (const c of CASES.filter((entry) => accounts.some((account) => account.name === entry.name))) {
        assert.deepEqual(chosen.get(c.name), c.selects, `${protocol} ${c.name}: ${JSON.stringify(c.search)}`);
      }
    }
  });

  test('onlyUnseen is seen: false on top of the search; a search of its own with seen wins', async () => {
    const creds = await seed();
    const chosen = await selections([
      world.imapAccount(creds, { name: 'unseen', search: { smaller: '10KB' } }),
      world.imapAccount(creds, { name: 'own-seen', search: { seen: true } }),
      { name: 'maildir-unseen', protocol: 'maildir', path: dovecot.maildir(creds.user), search: { smaller: '10KB' } },
    ]);
    assert.deepEqual(chosen.get('unseen'), [1, 3, 5]);
    assert.deepEqual(chosen.get('own-seen'), [4]);
    assert.deepEqual(chosen.get('maildir-unseen'), [1, 3, 5]);
  });

  test('what does not match is not recorded: a later run without the search hands it over', async () => {
    const creds = await seed();
    const account = world.imapAccount(creds, { onlyUnseen: false, after: 'keep', search: { from: 'alice' } });
    const dir = await writeConfig({ script: KEEP_HANDLER, accounts: [account] });
    const first = await runCli(['--json'], { cwd: dir });
    assert.equal(first.code, 0, first.stdout);
    assert.equal(messageEvents(first).length, 2);
    await writeConfig({ script: KEEP_HANDLER, accounts: [{ ...account, search: undefined }] }, dir);
    const second = await runCli(['--json', '--verbose'], { cwd: dir });
    assert.deepEqual(messageEvents(second).map((event) => String(event.subject).slice(0, 3)), ['[2]', '[4]', '[5]']);
  });

  test('POP3 and Maildir say in --verbose that the search is applied locally', async () => {
    const creds = await seed();
    const dir = await writeConfig({
      script: KEEP_HANDLER,
      accounts: [
        { ...world.imapAccount(creds, { name: 'pop', search: { from: 'alice' } }), protocol: 'pop3', port: dovecot.ports.pop3s },
        { name: 'md', protocol: 'maildir', path: dovecot.maildir(creds.user), onlyUnseen: false, search: { larger: '10KB' } },
      ],
    });
    const result = await runCli(['--dry-run', '--verbose'], { cwd: dir });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stderr, /search applied by mailpoll \(POP3 has no server-side search\), on each header block \(TOP n 0\) and size: 2 of 5 messages match/);
    assert.match(result.stderr, /md: search applied by mailpoll \(a Maildir has no server to search\), on flags and sizes: 1 of 5 match/);
  });

  test('validate: unknown keys, bad dates and sizes, and what a protocol cannot search, all at once', async () => {
    const dir = await writeConfig({
      script: KEEP_HANDLER,
      accounts: [
        { name: 'a', protocol: 'maildir', path: './md', search: { frm: 'x', since: '2026-02-30', not: { larger: '5XB' }, or: [{ subject: 'a' }] } },
        { name: 'b', protocol: 'imap', host: 'h', user: 'u', password: 'p', search: { raw: 'FROM x', subject: 'y' } },
      ],
    });
    const schema = await runCli(['validate'], { cwd: dir });
    assert.equal(schema.code, 2);
    assert.match(schema.stdout + schema.stderr, /accounts\[0\]\.search\.frm: unknown key \(did you mean "from"\?\)/);
    assert.match(schema.stdout + schema.stderr, /accounts\[0\]\.search\.since: expected an ISO date like 2026-01-31 or a duration like 7d, got "2026-02-30"/);
    assert.match(schema.stdout + schema.stderr, /accounts\[0\]\.search\.not\.larger: expected a size/);
    assert.match(schema.stdout + schema.stderr, /accounts\[0\]\.search\.or: expected a list of at least two search objects/);
    assert.match(schema.stdout + schema.stderr, /accounts\[1\]\.search\.raw: expected raw alone/);

    const rules = await writeConfig({
      script: KEEP_HANDLER,
      defaults: { search: { body: 'x' } },
      accounts: [
        { name: 'p', protocol: 'pop3', host: 'h', user: 'u', password: 'p', search: { or: [{ seen: false }, { keyword: '$A' }] } },
        { name: 'm', protocol: 'maildir', path: './md' },
      ],
    });
    const refused = await runCli(['validate'], { cwd: rules });
    assert.equal(refused.code, 2);
    const text = refused.stdout + refused.stderr;
    assert.match(text, /accounts\[0\]\.search\.or\[0\]\.seen: not searchable in pop3 accounts \(POP3 has no seen flag\); remove it/);
    assert.match(text, /accounts\[0\]\.search\.or\[1\]\.keyword: not searchable in pop3 accounts/);
    assert.match(text, /defaults\.search\.body \(for accounts\[1\]\.search\): not searchable in maildir accounts/);
  });
});
