/**
 * The first-run baseline through the real CLI against a real Dovecot: `startFrom: now` (and
 * a date) records what is there as skipped without calling the handler or touching it on the
 * server, later runs hand over only new mail, `reprocess` leaves skipped mail alone, `retry`
 * releases it; `mailpoll baseline` does the same on demand.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { configureSpec, expectMessage, handlerCalls, runSpec, scenario } from './helpers/scenario.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

describe('baseline', () => {
  test('startFrom: now: the first run records the mailbox as skipped; only new mail is handed over, reprocess or not', async () => {
    const creds = await world.mailbox(['[1] "delete"', '[2] "delete"', '[3] "delete"']);
    const account = world.imapAccount(creds, { startFrom: 'now' });
    const { dir, log } = await configureSpec(account);

    const first = await runSpec(dir, log);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.deepEqual(first.events.filter((event) => event.type === 'baseline').map((event) => [event.account, event.folder, event.recorded, event.handled]), [['support', 'INBOX', 3, 0]]);
    assert.equal(messageEvents(first).length, 0);
    assert.equal((await handlerCalls(log)).length, 0);
    const untouched = await world.state(creds.user);
    for (const subject of ['[1] "delete"', '[2] "delete"', '[3] "delete"']) expectMessage(untouched, subject, { folder: '', seen: false });

    await dovecot.deliver(creds.user, message({ subject: '[4] "markSeen"' }));
    const second = await runSpec(dir, log);
    assert.equal(second.code, 0, second.stdout);
    assert.deepEqual(messageEvents(second).map((event) => event.subject), ['[4] "markSeen"']);
    assert.equal(second.events.some((event) => event.type === 'baseline'), false, 'the baseline is taken once');
    const after = await world.state(creds.user);
    for (const subject of ['[1] "delete"', '[2] "delete"', '[3] "delete"']) expectMessage(after, subject, { folder: '', seen: false });
    expectMessage(after, '[4] "markSeen"', { folder: '', seen: true });

    // reprocess hands done mail over again, never skipped mail.
    const { dir: again, log: againLog } = await configureSpec({ ...account, reprocess: true, onlyUnseen: false, after: 'keep' }, { store: join(dir, 'mailpoll.db') });
    const third = await runSpec(again, againLog);
    assert.deepEqual(messageEvents(third).map((event) => event.subject), ['[4] "markSeen"']);

    const history = await runCli(['history', '--status', 'skipped', '--json'], { cwd: dir });
    const skipped = history.events.filter((event) => event.type === 'message' || event.state === 'skipped');
    assert.equal(skipped.length, 3, history.stdout);
    // retry releases one: the next run hands it over.
    const ref = String(skipped.find((event) => event.uid === '1')?.ref);
    const retry = await runCli(['retry', ref], { cwd: dir });
    assert.equal(retry.code, 0, retry.stdout + retry.stderr);
    const fourth = await runSpec(dir, log);
    assert.deepEqual(messageEvents(fourth).map((event) => event.subject), ['[1] "delete"']);
    assert.equal(bySubjectGone(await world.state(creds.user), '[1] "delete"'), true);
  });

  test('startFrom: a date: what arrived before it is skipped, the rest handed over; an empty first run still counts', async () => {
    const creds = await world.user();
    const day = (d: number) => new Date(Date.UTC(2026, 0, d));
    await dovecot.deliver(creds.user, message({ subject: '[1] "keep"', date: day(2) }), { date: day(2) });
    await dovecot.deliver(creds.user, message({ subject: '[2] "keep"', date: day(20) }), { date: day(20) });
    const { dir, log } = await configureSpec(world.imapAccount(creds, { startFrom: '2026-01-10' }));
    // A dry run shows what the first run would do, and records nothing.
    for (let round = 0; round < 2; round += 1) {
      const dry = await runSpec(dir, log, ['--dry-run']);
      assert.equal(dry.events.find((event) => event.type === 'baseline')?.recorded, 1);
      assert.deepEqual(messageEvents(dry).map((event) => event.subject), ['[2] "keep"']);
    }
    const first = await runSpec(dir, log);
    assert.equal(first.events.find((event) => event.type === 'baseline')?.recorded, 1);
    assert.deepEqual(messageEvents(first).map((event) => event.subject), ['[2] "keep"']);

    const empty = await world.user();
    const setup = await configureSpec(world.imapAccount(empty, { startFrom: 'now' }));
    const none = await runSpec(setup.dir, setup.log);
    assert.equal(none.events.find((event) => event.type === 'baseline')?.recorded, 0);
    await dovecot.deliver(empty.user, message({ subject: '[1] "keep"' }));
    const later = await runSpec(setup.dir, setup.log);
    assert.deepEqual(messageEvents(later).map((event) => event.subject), ['[1] "keep"']);
  });

  test('mailpoll baseline -a: on demand, for a Maildir too; the text report says so', async () => {
    const creds = await world.mailbox(['[1] "delete"', '[2] "delete"']);
    const { dir, log } = await configureSpec({ name: 'local', protocol: 'maildir', path: dovecot.maildir(creds.user) });
    const dry = await runCli(['baseline', '-a', 'local', '--dry-run'], { cwd: dir });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /local: baseline: 2 messages recorded, none handled/);
    const taken = await runCli(['baseline', '-a', 'local'], { cwd: dir, env: { HANDLER_LOG: log } });
    assert.equal(taken.code, 0, taken.stdout + taken.stderr);
    assert.match(taken.stdout, /local: baseline: 2 messages recorded, none handled/);
    assert.equal((await handlerCalls(log)).length, 0);
    await dovecot.deliver(creds.user, message({ subject: '[3] "delete"' }));
    const run = await runSpec(dir, log);
    assert.deepEqual(messageEvents(run).map((event) => event.subject), ['[3] "delete"']);
    const left = (await world.state(creds.user)).map((stored) => stored.subject).sort();
    assert.deepEqual(left, ['[1] "delete"', '[2] "delete"']);
  });

  test('validate: startFrom must be now or a date; POP3 takes only now', async () => {
    const dir = await writeConfig({
      script: './h.mjs',
      accounts: [
        { name: 'a', protocol: 'maildir', path: './md', startFrom: 'yesterday' },
        { name: 'p', protocol: 'pop3', host: 'h', user: 'u', password: 'p', startFrom: '2026-01-01' },
      ],
    });
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stdout + result.stderr, /accounts\[0\]\.startFrom: expected now, or an ISO date like 2026-01-31/);
    const pop = await writeConfig({ script: './h.mjs', accounts: [{ name: 'p', protocol: 'pop3', host: 'h', user: 'u', password: 'p', startFrom: '2026-01-01' }] });
    const refused = await runCli(['validate'], { cwd: pop });
    assert.match(refused.stdout + refused.stderr, /accounts\[0\]\.startFrom: POP3 does not say when a message arrived; use startFrom: now/);
  });
});

function bySubjectGone(messages: Array<{ subject: string }>, subject: string): boolean {
  return !messages.some((stored) => stored.subject === subject);
}
