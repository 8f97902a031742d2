import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccountConfig } from '../src/config/types.js';
import { planDecision } from '../src/decision/plan.js';
import type { Decision, Outcome } from '../src/decision/types.js';
import { HandlerError } from '../src/errors.js';
import type { MailboxCapabilities } from '../src/mailbox/types.js';

type Account = Pick<AccountConfig, 'name' | 'protocol' | 'moveTo'>;

const imap: MailboxCapabilities = { move: true, markSeen: true, copy: true, flags: 'any', idle: true, commitEndsSession: false };
const maildir: MailboxCapabilities = { move: true, markSeen: true, copy: true, flags: ['\\Seen', '\\Flagged'], idle: false, commitEndsSession: false };
const pop3: MailboxCapabilities = { move: false, markSeen: false, copy: false, flags: [], idle: false, commitEndsSession: true };

const imapAccount: Account = { name: 'support', protocol: 'imap', moveTo: 'Processed' };
const imapNoMoveTo: Account = { name: 'support', protocol: 'imap', moveTo: undefined };
const maildirAccount: Account = { name: 'local', protocol: 'maildir', moveTo: undefined };
const pop3Account: Account = { name: 'legacy', protocol: 'pop3', moveTo: undefined };

const o = (action: Outcome['action'], transition = true, folder?: string): Outcome => ({ action, folder, transition });
const x = (flags: string[], unflags: string[] = [], copyTo?: string) => ({ flags, unflags, copyTo });
const d = (action: Decision['action'], transition = true, folder?: string): Decision => ({ action, folder, transition });

describe('planDecision', () => {
  const decided: [string, Outcome, MailboxCapabilities, Account, Decision][] = [
    ['delete on imap', o('delete'), imap, imapAccount, d('delete')],
    ['keep on imap, no transition', o('keep', false), imap, imapAccount, d('keep', false)],
    ['markSeen on imap', o('markSeen'), imap, imapAccount, d('markSeen')],
    ['move with a folder', o('move', true, 'Archive/2024'), imap, imapAccount, d('move', true, 'Archive/2024')],
    ['move without folder -> moveTo', o('move', false), imap, imapAccount, d('move', false, 'Processed')],
    ['move with a folder and no moveTo', o('move', true, 'Spam'), maildir, maildirAccount, d('move', true, 'Spam')],
    ['markSeen on maildir', o('markSeen'), maildir, maildirAccount, d('markSeen')],
    ['delete on pop3', o('delete', false), pop3, pop3Account, d('delete', false)],
    ['keep on pop3', o('keep'), pop3, pop3Account, d('keep')],
    ['a stray folder on a non-move action is dropped', o('keep', true, 'X'), imap, imapAccount, d('keep')],
    ['keep with a keyword and a copy on imap', { ...o('keep'), extras: x(['$Processed'], [], 'Archive') }, imap, imapAccount, { ...d('keep'), extras: x(['$Processed'], [], 'Archive') }],
    ['\\Flagged and unflag \\Seen on maildir', { ...o('keep'), extras: x(['\\Flagged'], ['\\Seen']) }, maildir, maildirAccount, { ...d('keep'), extras: x(['\\Flagged'], ['\\Seen']) }],
  ];
  for (const [name, outcome, capabilities, account, expected] of decided) {
    it(name, () => assert.deepEqual(planDecision(outcome, capabilities, account), expected));
  }

  const refused: [string, Outcome, MailboxCapabilities, Account, string][] = [
    ['a copy on pop3', { ...o('keep'), extras: x([], [], 'Archive') }, pop3, pop3Account, "POP3 cannot copy messages: copy:Archive is not possible; return 'keep' or 'delete' (or set after to keep or delete)"],
    ['a keyword on pop3', { ...o('keep'), extras: x(['$Processed']) }, pop3, pop3Account, "POP3 has no flags: $Processed cannot be set or cleared; return 'keep' or 'delete' (or set after to keep or delete)"],
    [
      'a keyword on maildir',
      { ...o('keep'), extras: x(['\\Flagged', '$Processed']) },
      maildir,
      maildirAccount,
      "a Maildir stores only the flags \\Seen and \\Flagged: $Processed cannot be set or cleared; return 'keep' or 'delete' (or set after to keep or delete)",
    ],
    [
      'move with no folder and no moveTo',
      o('move'),
      imap,
      imapNoMoveTo,
      'handler asked to move but no folder was given and moveTo is not set',
    ],
    [
      'move on pop3',
      o('move', true, 'Archive'),
      pop3,
      pop3Account,
      "POP3 has no folders: move is not possible; return 'keep' or 'delete' (or set after to keep or delete)",
    ],
    [
      'move on pop3 without folder (capability first)',
      o('move'),
      pop3,
      pop3Account,
      "POP3 has no folders: move is not possible; return 'keep' or 'delete' (or set after to keep or delete)",
    ],
    [
      'markSeen on pop3',
      o('markSeen'),
      pop3,
      pop3Account,
      "POP3 has no read flag: markSeen is not possible; return 'keep' or 'delete' (or set after to keep or delete)",
    ],
    [
      'move on a mailbox without move',
      o('move', true, 'X'),
      { ...imap, move: false },
      imapAccount,
      "imap mailbox cannot move messages; return 'keep' or 'delete' (or set after to keep or delete)",
    ],
    [
      'markSeen on a mailbox without flags',
      o('markSeen'),
      { ...imap, markSeen: false },
      imapAccount,
      "imap mailbox cannot mark messages as read; return 'keep' or 'delete' (or set after to keep or delete)",
    ],
  ];
  for (const [name, outcome, capabilities, account, message] of refused) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => planDecision(outcome, capabilities, account),
        (error: unknown) =>
          error instanceof HandlerError && error.message === message && error.account === account.name && error.exitCode === 1,
      );
    });
  }

  it('does not change its input', () => {
    const outcome = Object.freeze(o('move'));
    assert.deepEqual(planDecision(outcome, imap, imapAccount), d('move', true, 'Processed'));
    assert.deepEqual(outcome, o('move'));
  });
});

describe('planDecision: copies into the folder being polled', () => {
  it('refuses a copy into the polled folder (it would come back as new mail)', () => {
    assert.throws(
      () => planDecision({ ...o('keep'), extras: x([], [], 'INBOX') }, imap, imapAccount, (folder) => folder === 'INBOX'),
      /handler asked to copy the message to INBOX, the folder being polled/,
    );
  });
});
