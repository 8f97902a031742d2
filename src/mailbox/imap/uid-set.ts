/**
 * IMAP UIDs and UID sets: parsing a uid as the ledger spells it, the shortest sets a command
 * line can carry, the short labels that name UIDs in our messages, and UIDVALIDITY as a bigint.
 */

/**
 * Longest UID set put in one command. Servers limit command lines (Dovecot: 64 KB; RFC 7162
 * asks clients to stay under 8 KB); a set of scattered UIDs (what the ledger leaves over,
 * unseen messages) can be longer, and is then sent as several commands.
 */
const MAX_SET_LENGTH = 8000;

/** The longest UID set a message names; longer ones end in `,...`. */
const MAX_LABEL_SET = 60;

/** A UID (positive integer written in decimal digits), or undefined. */
export function toUid(uid: string): number | undefined {
  const value = Number(uid);
  return /^\d+$/.test(uid) && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** `uid 42`, `uids 40:52` or `uids 3,7,9:12,...`: the UIDs a message is about. */
export function uidLabel(uids: number[]): string {
  const [set = ''] = toSequenceSets(uids, Infinity);
  const cut = set.lastIndexOf(',', MAX_LABEL_SET);
  const shown = set.length <= MAX_LABEL_SET || cut <= 0 ? set : `${set.slice(0, cut)},...`;
  return `${new Set(uids).size === 1 ? 'uid' : 'uids'} ${shown}`;
}

/** `[1,2,3,7,9,10]` -> `['1:3,7,9:10']`: UID sets as short as possible, each at most MAX_SET_LENGTH long. */
export function toSequenceSets(uids: number[], maxLength = MAX_SET_LENGTH): string[] {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const sets: string[] = [];
  let current = '';
  for (let i = 0; i < sorted.length; ) {
    const start = sorted[i]!;
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) {
      i += 1;
      end = sorted[i]!;
    }
    const range = start === end ? String(start) : `${start}:${end}`;
    if (current !== '' && current.length + 1 + range.length > maxLength) {
      sets.push(current);
      current = range;
    } else {
      current = current === '' ? range : `${current},${range}`;
    }
    i += 1;
  }
  if (current !== '') sets.push(current);
  return sets;
}

/** `'1:3,7'` -> `[1, 2, 3, 7]`: the UIDs of a set made by `toSequenceSets`. */
export function fromSequenceSet(set: string): number[] {
  return set.split(',').flatMap((range) => {
    const [start, end = start] = range.split(':').map(Number);
    return Array.from({ length: end! - start! + 1 }, (_, i) => start! + i);
  });
}

/** A folder's UIDVALIDITY as imapflow gives it, as a bigint (undefined when it is not a number). */
export function toUidValidity(value: bigint | number | string | undefined): bigint | undefined {
  if (value === undefined || typeof value === 'bigint') return value;
  try {
    return BigInt(value);
  } catch {
    return undefined;
  }
}
