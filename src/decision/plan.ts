/**
 * The planner: an Outcome (what the handler asked for) + what the mailbox can do + the
 * account -> a Decision (what will be done). Pure: no I/O, no clock. An impossible request
 * becomes one clear InvalidResultError here instead of special cases in every adapter.
 */
import type { AccountConfig } from '../config/types.js';
import { hasExtras, type ActionExtras } from '../domain.js';
import { InvalidResultError } from '../errors.js';
import type { MailboxCapabilities } from '../mailbox/types.js';
import type { Decision, Outcome } from './types.js';

/**
 * Decide what to do with one message. Throws InvalidResultError when the mailbox cannot do what
 * was asked (move on POP3, markSeen without flags), a move has no folder, or its folder is
 * the one being polled (`isPolledFolder`, which compares names the way the server does).
 */
export function planDecision(
  outcome: Outcome,
  capabilities: MailboxCapabilities,
  account: Pick<AccountConfig, 'name' | 'protocol' | 'moveTo'>,
  isPolledFolder: (folder: string) => boolean = () => false,
): Decision {
  const decision = planAction(outcome, capabilities, account, isPolledFolder);
  if (!hasExtras(outcome.extras)) return decision;
  checkExtras(outcome.extras, capabilities, account, isPolledFolder);
  return { ...decision, extras: outcome.extras };
}

function planAction(
  outcome: Outcome,
  capabilities: MailboxCapabilities,
  account: Pick<AccountConfig, 'name' | 'protocol' | 'moveTo'>,
  isPolledFolder: (folder: string) => boolean,
): Decision {
  const { action, transition } = outcome;

  switch (action) {
    case 'move': {
      if (!capabilities.move) throw new InvalidResultError(cannotMove(account.protocol), { account: account.name });
      const folder = outcome.folder ?? account.moveTo;
      if (folder === undefined || folder === '') {
        throw new InvalidResultError('handler asked to move but no folder was given and moveTo is not set', {
          account: account.name,
        });
      }
      // Moved into the folder being polled, it would come back as a new message on every run.
      if (isPolledFolder(folder)) {
        throw new InvalidResultError(
          `handler asked to move the message to ${folder}, the folder being polled: it would be handed over again on every run; return 'keep' or 'markSeen', or name another folder`,
          { account: account.name },
        );
      }
      return { action, folder, transition };
    }
    case 'markSeen':
      if (!capabilities.markSeen) throw new InvalidResultError(cannotMarkSeen(account.protocol), { account: account.name });
      return { action, folder: undefined, transition };
    case 'delete':
    case 'keep':
      return { action, folder: undefined, transition };
  }
}

/** Flags the mailbox cannot store and copies it cannot make fail here, with what to do instead. */
function checkExtras(
  extras: ActionExtras,
  capabilities: MailboxCapabilities,
  account: Pick<AccountConfig, 'name' | 'protocol'>,
  isPolledFolder: (folder: string) => boolean,
): void {
  const refuse = (message: string): never => {
    throw new InvalidResultError(message, { account: account.name });
  };
  if (extras.copyTo !== undefined) {
    if (!capabilities.copy) refuse(`${describeProtocol(account.protocol)} cannot copy messages: copy:${extras.copyTo} is not possible; ${ALTERNATIVES}`);
    // A copy into the folder being polled is a new message there: handed over again on every run.
    if (isPolledFolder(extras.copyTo)) refuse(`handler asked to copy the message to ${extras.copyTo}, the folder being polled: the copy would be handed over as new mail on every run; name another folder`);
  }
  const allowed = capabilities.flags;
  if (allowed === 'any') return;
  const refused = [...extras.flags, ...extras.unflags].filter((flag) => !allowed.includes(flag));
  if (refused.length === 0) return;
  const can = allowed.length === 0 ? 'has no flags' : `stores only the flags ${allowed.join(' and ')}`;
  refuse(`${describeProtocol(account.protocol)} ${can}: ${refused.join(', ')} cannot be set or cleared; ${ALTERNATIVES}`);
}

function describeProtocol(protocol: AccountConfig['protocol']): string {
  return protocol === 'pop3' ? 'POP3' : protocol === 'maildir' ? 'a Maildir' : `${protocol} mailbox`;
}

// `after` applies when the handler returns nothing, so the hint names both ways out.
const ALTERNATIVES = `return 'keep' or 'delete' (or set after to keep or delete)`;

function cannotMove(protocol: AccountConfig['protocol']): string {
  if (protocol === 'pop3') return `POP3 has no folders: move is not possible; ${ALTERNATIVES}`;
  return `${protocol} mailbox cannot move messages; ${ALTERNATIVES}`;
}

function cannotMarkSeen(protocol: AccountConfig['protocol']): string {
  if (protocol === 'pop3') return `POP3 has no read flag: markSeen is not possible; ${ALTERNATIVES}`;
  return `${protocol} mailbox cannot mark messages as read; ${ALTERNATIVES}`;
}
