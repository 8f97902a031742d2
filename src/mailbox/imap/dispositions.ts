/** Dispositions sorted into the IMAP commands that carry them out: one per action, move or copy target, and flag. */
import { MailboxError } from '../../errors.js';
import type { Disposition, DispositionResult } from '../types.js';

/** The UIDs of one command, and the input positions its outcome lands on. */
export interface DispositionGroup {
  /** `copy:<folder>`, `flag:<flag>`, `unflag:<flag>`, `markSeen`, `move:<folder>` or `delete`. */
  key: string;
  uids: number[];
  indexes: number[];
}

export interface GroupedDispositions {
  /** Per input position: final for `keep` and what is refused before any command, else `failed` until its group ran. */
  results: DispositionResult[];
  /** The UID of each input position that has one. */
  numeric: number[];
  /**
   * In command order: copies, then flags set and cleared, then markSeen, the moves (in the
   * order given), delete. What comes with an action goes first: a flag then travels with a
   * move, and a message whose copy failed is not deleted (the caller skips its later groups).
   */
  groups: DispositionGroup[];
}

/** One group per command: markSeen, delete, one per move or copy target, one per flag set or cleared. */
export function groupDispositions(name: string, dispositions: Disposition[], parseUid: (uid: string) => number): GroupedDispositions {
  const results: DispositionResult[] = dispositions.map((disposition) => ({ uid: disposition.uid, status: 'failed' }));
  // One group per command: markSeen, delete, and one per move target. Each holds its UIDs
  // and the input positions its outcome lands on.
  const groups = new Map<string, { uids: number[]; indexes: number[] }>();
  const numeric: number[] = [];
  const group = (key: string, uid: number, index: number): void => {
    const entry = groups.get(key) ?? { uids: [], indexes: [] };
    entry.uids.push(uid);
    entry.indexes.push(index);
    groups.set(key, entry);
  };

  dispositions.forEach((disposition, index) => {
    let uid: number;
    try {
      uid = parseUid(disposition.uid);
    } catch (error) {
      results[index] = { uid: disposition.uid, status: 'failed', error: error as Error };
      return;
    }
    numeric[index] = uid;
    const extras = disposition.extras;
    if (extras?.copyTo !== undefined) group(`copy:${extras.copyTo}`, uid, index);
    for (const flag of extras?.flags ?? []) group(`flag:${flag}`, uid, index);
    for (const flag of extras?.unflags ?? []) group(`unflag:${flag}`, uid, index);
    switch (disposition.action) {
      case 'keep':
        results[index] = { uid: disposition.uid, status: 'done' };
        return;
      case 'markSeen':
        group('markSeen', uid, index);
        return;
      case 'delete':
        group('delete', uid, index);
        return;
      case 'move': {
        if (!disposition.folder) {
          results[index] = {
            uid: disposition.uid,
            status: 'failed',
            error: new MailboxError(`${name}: cannot move message ${disposition.uid}: no target folder. Set moveTo:.`, {
              account: name,
            }),
          };
          return;
        }
        group(`move:${disposition.folder}`, uid, index);
        return;
      }
      default: {
        const action: string = disposition.action;
        results[index] = {
          uid: disposition.uid,
          status: 'failed',
          error: new MailboxError(`${name}: unknown action "${action}" for message ${disposition.uid}.`, { account: name }),
        };
      }
    }
  });
  const ordered = [...groups.entries()].sort(([a], [b]) => rank(a) - rank(b));
  return { results, numeric, groups: ordered.map(([key, entry]) => ({ key, ...entry })) };
}

/** Copies, flags, markSeen, the moves (in the order given), delete. */
function rank(key: string): number {
  if (key.startsWith('copy:')) return 0;
  if (key.startsWith('flag:') || key.startsWith('unflag:')) return 1;
  return key === 'markSeen' ? 2 : key === 'delete' ? 4 : 3;
}
