/** The `UID SEARCH` of `list`: every message, or those without \Seen (`onlyUnseen`), without `skipKeyword`. */
import type { SearchObject } from 'imapflow';
import type { ListOptions } from '../types.js';

/** System flags have their own search keys (`UNFLAGGED`); `UNKEYWORD` is for keywords. */
const UNSET: Record<string, SearchObject> = {
  '\\Seen': { seen: false },
  '\\Flagged': { flagged: false },
  '\\Answered': { answered: false },
  '\\Draft': { draft: false },
};

export function listQuery(options: Pick<ListOptions, 'onlyUnseen' | 'skipKeyword'>): SearchObject {
  const query: SearchObject = options.onlyUnseen ? { seen: false } : {};
  const skip = options.skipKeyword;
  if (skip !== undefined) Object.assign(query, UNSET[skip] ?? { unKeyword: skip });
  return Object.keys(query).length === 0 ? { all: true } : query;
}
