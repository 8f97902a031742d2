/**
 * What a handler returns (its *result*) -> an Outcome the planner can check.
 *
 * The forms (README, "Results"):
 * - the workflow codes 1-4: 1 delete + transition, 2 keep + transition,
 *   3 delete, 4 keep;
 * - the strings `'delete'`, `'keep'`, `'markSeen'`, `'move'` and `'move:<Folder>'`,
 *   exact and case-sensitive; `'copy:<Folder>'`, `'flag:<keyword>'` and `'unflag:<keyword>'`,
 *   which keep the message and do that besides (action-forms.ts);
 * - an object `{ action, folder?, transition?, flags?, unflags?, copyTo? }`;
 * - nothing (`undefined`): the account's `after` (with its flags and copy).
 *
 * Every string and object form, and nothing, mean "the handler processed the message",
 * so they fire the transition unless an object says `transition: false`. Only the codes
 * 3 and 4 exist to say "handled, but do not pass it on".
 */
import type { AccountConfig } from '../config/types.js';
import type { Outcome } from '../decision/types.js';
import { EXTRAS_KEYS, readExtrasKeys, readExtrasWord } from '../action-forms.js';
import { hasExtras, type Action } from '../domain.js';
import { InvalidResultError } from '../errors.js';
import { folderNameProblem } from '../mailbox/folder-name.js';

const ALLOWED = `expected 1, 2, 3, 4, 'delete', 'keep', 'markSeen', 'move', 'move:<Folder>', 'copy:<Folder>', 'flag:<keyword>', 'unflag:<keyword>', { action, folder?, transition?, flags?, unflags?, copyTo? } or nothing`;

const ACTIONS: readonly Action[] = ['delete', 'keep', 'markSeen', 'move'];

const CODES: Record<number, Outcome> = {
  1: { action: 'delete', folder: undefined, transition: true },
  2: { action: 'keep', folder: undefined, transition: true },
  3: { action: 'delete', folder: undefined, transition: false },
  4: { action: 'keep', folder: undefined, transition: false },
};

const OBJECT_KEYS = new Set(['action', 'folder', 'transition', ...EXTRAS_KEYS]);

/** Longest value shown in an error message. */
const MAX_SHOWN = 80;

/**
 * Normalise a handler's result. Throws an InvalidResultError naming what came back and what is
 * allowed when the result is not one of the forms above.
 */
export function normaliseResult(result: unknown, account: Pick<AccountConfig, 'after' | 'afterExtras' | 'moveTo'>): Outcome {
  if (result === undefined) {
    return {
      action: account.after,
      folder: account.after === 'move' ? account.moveTo : undefined,
      transition: true,
      ...(hasExtras(account.afterExtras) ? { extras: account.afterExtras } : {}),
    };
  }

  if (typeof result === 'number') {
    const outcome = CODES[result];
    if (outcome) return { ...outcome };
    throw invalid(result);
  }

  if (typeof result === 'string') {
    if (result === 'move') return { action: 'move', folder: account.moveTo, transition: true };
    if (result.startsWith('move:')) {
      const folder = result.slice('move:'.length);
      if (folder.trim() === '') throw invalid(result, 'the folder after move: is empty');
      checkFolderName(result, folder);
      return { action: 'move', folder, transition: true };
    }
    if (isAction(result)) return { action: result, folder: undefined, transition: true };
    const extras = readExtrasWord(result);
    if (typeof extras === 'string') throw invalid(result, extras);
    if (extras !== undefined) return { action: 'keep', folder: undefined, transition: true, extras };
    throw invalid(result);
  }

  if (isPlainObject(result)) return normaliseObject(result, account);

  throw invalid(result);
}

function normaliseObject(result: Record<string, unknown>, account: Pick<AccountConfig, 'moveTo'>): Outcome {
  const unknownKeys = Object.keys(result).filter((key) => !OBJECT_KEYS.has(key));
  if (unknownKeys.length > 0) {
    throw invalid(result, `unknown ${unknownKeys.length === 1 ? 'key' : 'keys'} ${unknownKeys.join(', ')}`);
  }

  // A key set to undefined counts as absent: `{ action, folder: options.folder }` is common.
  const { action, folder, transition } = result;
  if (action === undefined) throw invalid(result, 'action is missing');
  if (typeof action !== 'string' || !isAction(action)) {
    throw invalid(result, `action must be one of ${ACTIONS.join(', ')}`);
  }
  if (transition !== undefined && typeof transition !== 'boolean') {
    throw invalid(result, 'transition must be true or false');
  }
  if (folder !== undefined) {
    if (action !== 'move') throw invalid(result, `folder is only allowed with action 'move'`);
    if (typeof folder !== 'string' || folder.trim() === '') throw invalid(result, 'folder must be a non-empty string');
    checkFolderName(result, folder);
  }
  const extras = readExtrasKeys(result);
  if (typeof extras === 'string') throw invalid(result, extras);

  return {
    action,
    folder: action === 'move' ? ((folder as string | undefined) ?? account.moveTo) : undefined,
    transition: transition ?? true,
    ...(hasExtras(extras) ? { extras } : {}),
  };
}

/** A folder no server could take (a wildcard, `..`, a control character) fails now, not at the server every run. */
function checkFolderName(result: unknown, folder: string): void {
  const problem = folderNameProblem(folder);
  if (problem !== undefined) throw invalid(result, `a folder name cannot contain ${problem}`);
}

function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function invalid(result: unknown, reason?: string): InvalidResultError {
  return refuseResult(describeValue(result), reason);
}

/** The error for a result that is none of the forms, given as `describeValue` renders it (a handler worker's unsendable result). */
export function refuseResult(description: string, reason?: string): InvalidResultError {
  const why = reason === undefined ? '' : ` (${reason})`;
  return new InvalidResultError(`handler returned ${description}${why}; ${ALLOWED}`);
}

/**
 * A short one-line rendering of any value for error messages: JSON where JSON says
 * what the value is, truncated to about 80 characters.
 */
export function describeValue(value: unknown): string {
  let text: string;
  switch (typeof value) {
    case 'undefined':
      text = 'undefined';
      break;
    case 'number':
      text = String(value); // JSON would turn NaN and Infinity into null
      break;
    case 'bigint':
      text = `${value}n`;
      break;
    case 'symbol':
      text = value.toString();
      break;
    case 'function':
      text = `a function${value.name ? ` (${value.name})` : ''}`;
      break;
    default:
      if (value instanceof Error) {
        text = `${value.name}: ${value.message}`;
      } else {
        try {
          text = JSON.stringify(value) ?? String(value);
        } catch {
          text = Object.prototype.toString.call(value); // circular, or a throwing toJSON
        }
      }
  }
  text = text.replace(/\s*\n\s*/g, ' ');
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}
