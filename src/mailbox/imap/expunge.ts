/**
 * The careful EXPUNGE of a server without UIDPLUS, whose only EXPUNGE removes every message
 * flagged \Deleted, also those another client flagged and has not expunged yet.
 */
import type { ImapFlow } from 'imapflow';
import { MailboxError } from '../../errors.js';
import { oneLine, sentence, type ConnectionGuard } from '../connection-utils.js';
import { describeImapError, refused, type ServerAnswers } from './errors.js';
import { toSequenceSets } from './uid-set.js';

/**
 * Expunge exactly `ours` from the selected folder (`folder` names it in messages): UID SEARCH
 * DELETED; the others' messages (not in `ours`) lose their \Deleted flag; EXPUNGE; they get
 * it back. That order is the safe one: if the link dies in between, those messages are still
 * there, only unflagged, where the other way round they would be gone. (A message another
 * client flags between the SEARCH and the EXPUNGE still goes: no client can prevent that
 * without UIDPLUS.)
 */
export async function expungeOnly(guard: ConnectionGuard, answers: ServerAnswers, client: ImapFlow, ours: number[], folder: string, what: string): Promise<void> {
  const flagged = await client.search({ deleted: true }, { uid: true });
  if (!Array.isArray(flagged)) throw refused(guard, 'UID SEARCH DELETED', what);
  const mine = new Set(ours);
  const others = flagged.filter((uid) => !mine.has(uid));
  try {
    for (const set of toSequenceSets(others)) {
      await answers.exact('UID STORE -FLAGS (\\Deleted)', what, () => client.messageFlagsRemove(set, ['\\Deleted'], { uid: true }));
    }
    // imapflow: UID STORE +FLAGS (\Deleted) of the set (ours are flagged already), then EXPUNGE.
    for (const set of toSequenceSets(ours)) await answers.exact('EXPUNGE', what, () => client.messageDelete(set, { uid: true }));
  } finally {
    // Also after a failure: flagging again a message that kept its flag changes nothing.
    if (others.length > 0) await flagAgain(guard, answers, client, others, folder);
  }
}

/** \Deleted back on the messages `expungeOnly` unflagged; a failure says which lost it. */
async function flagAgain(guard: ConnectionGuard, answers: ServerAnswers, client: ImapFlow, uids: number[], folder: string): Promise<void> {
  const what = `flagging again ${uids.length} message${uids.length === 1 ? '' : 's'} other clients had flagged deleted in ${folder}`;
  try {
    for (const set of toSequenceSets(uids)) {
      await answers.exact('UID STORE +FLAGS (\\Deleted)', what, () => client.messageFlagsAdd(set, ['\\Deleted'], { uid: true }));
    }
  } catch (error) {
    const why = sentence(oneLine(describeImapError(guard, error, what).message));
    const list = toSequenceSets(uids).join(',');
    const shown = list.length > 200 ? `${list.slice(0, 200)}...` : list;
    throw new MailboxError(
      `${guard.name} (${guard.where}): messages another client had flagged deleted in ${folder} lost that flag (UIDs ${shown}): ${why} They are still there: flag them again if they should go.`,
      { account: guard.name, cause: error },
    );
  }
}
