/**
 * deleteAfter through the real CLI against a real Dovecot, on the store's clock (MAILPOLL_NOW):
 * kept mail leaves the server once that long has passed since it was handled, not before; a
 * dry run only lists it; history says what became of it. Server state read from its Maildir.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { scenario, SPEC_HANDLER } from './helpers/scenario.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot();
const { mailbox, imapAccount, state } = scenario(dovecot);

describe('deleteAfter', () => {
  test('kept, marked seen and flagged mail is deleted 30 days after it was handled; moved and deleted mail is not touched', async () => {
    const subjects = ['[1] "keep"', '[2] "markSeen"', '[3] "move:Archive"', '[4] {"action":"keep","flags":["$Processed"]}', '[5] "copy:Copies"'];
    const creds = await mailbox(subjects);
    const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [imapAccount(creds, { deleteAfter: '30d' })] });
    const at = (iso: string) => ({ cwd: dir, env: { MAILPOLL_NOW: iso } });
    const subjectsIn = async (folder: string) => (await state(creds.user)).filter((m) => m.folder === folder).map((m) => m.subject).sort();

    const first = await runCli(['--json'], at('2026-03-01T12:00:00Z'));
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(await subjectsIn(''), [subjects[0], subjects[1], subjects[3], subjects[4]].sort());

    // 29 days on: nothing is due.
    const early = await runCli(['--json'], at('2026-03-30T12:00:00Z'));
    assert.equal(early.code, 0, early.stderr);
    assert.deepEqual(messageEvents(early), []);
    assert.equal((await subjectsIn('')).length, 4);

    // 30 days on, dry: listed, not deleted.
    const dry = await runCli(['--json', '--dry-run'], at('2026-03-31T12:00:00Z'));
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(
      messageEvents(dry).map((e) => [e.subject, e.action, e.expired, e.status]).sort(),
      [subjects[0], subjects[1], subjects[3], subjects[4]].sort().map((subject) => [subject, 'delete', true, 'dry-run']),
    );
    assert.equal((await subjectsIn('')).length, 4);

    const due = await runCli(['--json'], at('2026-03-31T12:00:00Z'));
    assert.equal(due.code, 0, due.stderr);
    assert.deepEqual(
      messageEvents(due).map((e) => [e.subject, e.action, e.expired, e.status]).sort(),
      [subjects[0], subjects[1], subjects[3], subjects[4]].sort().map((subject) => [subject, 'delete', true, 'ok']),
    );
    assert.deepEqual(await subjectsIn(''), []);
    assert.deepEqual(await subjectsIn('Archive'), [subjects[2]], 'a moved message is not the account folder\'s to delete');
    assert.deepEqual(await subjectsIn('Copies'), [subjects[4]], 'the copy stays');

    const history = await runCli(['history'], at('2026-03-31T12:00:00Z'));
    assert.equal(history.stdout.match(/deleted by deleteAfter/g)?.length, 4, history.stdout);

    const again = await runCli(['--json'], at('2026-05-01T12:00:00Z'));
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(messageEvents(again), [], 'deleted once');
  });
});
