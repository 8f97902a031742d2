/**
 * The IMAP command of each disposition group (dispositions.ts): `UID COPY` per copy target,
 * `UID STORE +FLAGS`/`-FLAGS` per flag set or cleared, `\Seen` for markSeen, `\Deleted` for
 * delete (expunged at `commit`), `UID MOVE` (or a careful COPY + `\Deleted`) per move target.
 * Setting or clearing a flag again changes nothing; a copy made again is a second copy (only
 * a crash between COPY and the ledger's `done` gets there: README, "Copy and keywords").
 */
import type { ImapFlow } from 'imapflow';
import { offers } from './capabilities.js';
import type { ServerAnswers } from './errors.js';
import { fromSequenceSet, toSequenceSets } from './uid-set.js';

/** A group's command: its description for messages, and how to run it over one UID set. */
export interface GroupCommand {
  what: (uids: number[]) => string;
  run: (client: ImapFlow, set: string, what: string) => Promise<void>;
}

export interface GroupContext {
  answers: ServerAnswers;
  /** The opened folder's server name (for messages). */
  folder: string;
  /** The server path of a copy or move target, created when missing. */
  ensureFolder: (client: ImapFlow, folder: string) => Promise<string>;
  /**
   * UIDs moved by COPY + \Deleted (no MOVE, no UIDPLUS) in this `apply`: done once expunged
   * with care by the caller. A retry of the group does not copy them a second time.
   */
  copied: Set<number>;
}

/** The command of the group `key`: `copy:<folder>`, `flag:<flag>`, `unflag:<flag>`, `markSeen`, `delete` or `move:<folder>`. */
export function groupCommand(key: string, context: GroupContext): GroupCommand {
  const { answers, folder } = context;
  if (key === 'markSeen') {
    return {
      what: (uids) => `marking ${count(uids)} as seen in ${folder}`,
      run: (client, set, what) => answers.exact('UID STORE +FLAGS (\\Seen)', what, () => client.messageFlagsAdd(set, ['\\Seen'], { uid: true })),
    };
  }
  if (key === 'delete') {
    // Flagged now (pending), expunged by `commit` (the caller's, every ~1,000 and at the end).
    return {
      what: (uids) => `flagging ${count(uids)} as deleted in ${folder}`,
      run: (client, set, what) => answers.exact('UID STORE +FLAGS (\\Deleted)', what, () => client.messageFlagsAdd(set, ['\\Deleted'], { uid: true })),
    };
  }
  const colon = key.indexOf(':');
  const kind = key.slice(0, colon);
  const value = key.slice(colon + 1);
  switch (kind) {
    case 'copy':
      return {
        what: (uids) => `copying ${count(uids)} from ${folder} to ${value}`,
        run: async (client, set, what) => {
          const path = await context.ensureFolder(client, value);
          await answers.exact('UID COPY', what, () => client.messageCopy(set, path, { uid: true }));
        },
      };
    case 'flag':
      return {
        what: (uids) => `setting ${value} on ${count(uids)} in ${folder}`,
        run: (client, set, what) => answers.exact(`UID STORE +FLAGS (${value})`, what, () => client.messageFlagsAdd(set, [value], { uid: true })),
      };
    case 'unflag':
      return {
        what: (uids) => `clearing ${value} on ${count(uids)} in ${folder}`,
        run: (client, set, what) => answers.exact(`UID STORE -FLAGS (${value})`, what, () => client.messageFlagsRemove(set, [value], { uid: true })),
      };
    default:
      return moveCommand(value, context);
  }
}

function moveCommand(target: string, context: GroupContext): GroupCommand {
  const { answers, folder, copied } = context;
  return {
    what: (uids) => `moving ${count(uids)} from ${folder} to ${target}`,
    run: async (client, set, what) => {
      const path = await context.ensureFolder(client, target);
      if (!offers(client, 'MOVE') && !offers(client, 'UIDPLUS')) {
        // imapflow's fallback (COPY, then a plain EXPUNGE) would also remove what other
        // clients flagged \Deleted: copy and flag here, the caller expunges with care.
        const fresh = fromSequenceSet(set).filter((uid) => !copied.has(uid));
        if (fresh.length === 0) return;
        const todo = toSequenceSets(fresh, Infinity).join(',');
        await answers.exact('UID COPY', what, () => client.messageCopy(todo, path, { uid: true }));
        await answers.exact('UID STORE +FLAGS (\\Deleted)', what, () => client.messageFlagsAdd(todo, ['\\Deleted'], { uid: true }));
        for (const uid of fresh) copied.add(uid);
        return;
      }
      // MOVE, or imapflow's COPY + UID EXPUNGE of exactly these UIDs. Dovecot: OK "No
      // messages found" and no COPYUID for UIDs that are no longer there.
      await answers.exact('UID MOVE', what, () => client.messageMove(set, path, { uid: true }));
    },
  };
}

function count(uids: number[]): string {
  return `${uids.length} message${uids.length === 1 ? '' : 's'}`;
}
