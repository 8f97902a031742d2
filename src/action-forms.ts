/**
 * The words of the result vocabulary that a handler's result and the config's `after` share
 * (README, "Results"): `copy:<Folder>`, `flag:<keyword>`, `unflag:<keyword>`, and the keys
 * `flags`, `unflags` and `copyTo` of the object form. Each means "keep the message, and also
 * ...": in an object they go with any action. Here beside `domain.ts` so that the config and
 * the handler read them alike without importing each other.
 */
import { NO_EXTRAS, type ActionExtras } from './domain.js';
import { readFlagName } from './mailbox/flag-name.js';
import { folderNameProblem } from './mailbox/folder-name.js';

/** A word of the vocabulary that means `keep` plus extras, read; `undefined` when `word` is none of them; a string: why it is wrong. */
export function readExtrasWord(word: string): ActionExtras | string | undefined {
  const colon = word.indexOf(':');
  if (colon === -1) return undefined;
  const kind = word.slice(0, colon);
  const value = word.slice(colon + 1);
  switch (kind) {
    case 'copy': {
      const problem = copyFolderProblem(value);
      return problem ?? { ...NO_EXTRAS, copyTo: value };
    }
    case 'flag':
    case 'unflag': {
      const read = readFlagName(value);
      if ('problem' in read) return `${kind}: ${read.problem}`;
      return kind === 'flag' ? { ...NO_EXTRAS, flags: [read.flag] } : { ...NO_EXTRAS, unflags: [read.flag] };
    }
    default:
      return undefined;
  }
}

/** The keys of the object form this module reads. */
export const EXTRAS_KEYS: readonly string[] = ['flags', 'unflags', 'copyTo'];

/** `flags`, `unflags` and `copyTo` of an object result or `after`, checked; a string: why they are wrong. */
export function readExtrasKeys(object: Record<string, unknown>): ActionExtras | string {
  const flags = readFlagList(object.flags, 'flags');
  if (typeof flags === 'string') return flags;
  const unflags = readFlagList(object.unflags, 'unflags');
  if (typeof unflags === 'string') return unflags;
  const both = flags.filter((flag) => unflags.includes(flag));
  if (both.length > 0) return `${both.join(', ')} is both in flags and in unflags`;
  const copyTo = object.copyTo;
  if (copyTo !== undefined) {
    if (typeof copyTo !== 'string') return 'copyTo must be a folder name';
    const problem = copyFolderProblem(copyTo);
    if (problem !== undefined) return problem;
  }
  return { flags, unflags, copyTo: copyTo as string | undefined };
}

function readFlagList(value: unknown, key: string): string[] | string {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) return `${key} must be a list of flag names, such as ['$Processed']`;
  const flags: string[] = [];
  for (const item of value as string[]) {
    const read = readFlagName(item);
    if ('problem' in read) return `${key}: ${read.problem}`;
    if (!flags.includes(read.flag)) flags.push(read.flag);
  }
  return flags;
}

function copyFolderProblem(folder: string): string | undefined {
  if (folder.trim() === '') return 'the folder after copy: is empty';
  const problem = folderNameProblem(folder);
  return problem === undefined ? undefined : `a folder name cannot contain ${problem}`;
}
