/**
 * The `after` key: what is done with a message when the handler returns nothing. Besides the
 * four action words it takes the words `copy:<Folder>`, `flag:<keyword>` and `unflag:<keyword>`
 * (keep the message, and do that), and an object `{ action, flags?, unflags?, copyTo? }`; the
 * same vocabulary as a handler's result (action-forms.ts). Here: its schema, its resolution
 * into the account's `after` and `afterExtras`, and what each protocol refuses of it.
 */
import * as z from 'zod';
import { EXTRAS_KEYS, readExtrasKeys, readExtrasWord } from '../action-forms.js';
import { hasExtras, type Action, type ActionExtras, type Protocol } from '../domain.js';
import { MAILDIR_FLAGS, readFlagName } from '../mailbox/flag-name.js';

const ACTIONS = ['markSeen', 'delete', 'move', 'keep'] as const;

const EXPECTED = `expected markSeen, delete, move, keep, copy:<Folder>, flag:<keyword>, unflag:<keyword> or { action, flags?, unflags?, copyTo? }`;

/** `after` as written: a word or the object form, each checked. */
export const afterSchema = () =>
  z
    .unknown()
    .meta({
      anyOf: [
        { enum: [...ACTIONS] },
        { type: 'string', pattern: '^(copy|flag|unflag):.+$' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['action'],
          properties: {
            action: { enum: [...ACTIONS] },
            flags: { type: 'array', items: { type: 'string' } },
            unflags: { type: 'array', items: { type: 'string' } },
            copyTo: { type: 'string' },
          },
        },
      ],
    })
    .transform((value, ctx): AfterValue => {
      const read = readAfter(value);
      if (typeof read === 'string') {
        ctx.addIssue({ code: 'custom', message: read, input: value });
        return z.NEVER;
      }
      return read;
    });

/** `after` read: its action and what comes with it. */
export interface AfterValue {
  action: Action;
  extras: ActionExtras | undefined;
}

/** The value of `after` read, or the expectation it fails (`expected ...`). */
function readAfter(value: unknown): AfterValue | string {
  if (typeof value === 'string') {
    if ((ACTIONS as readonly string[]).includes(value)) return { action: value as Action, extras: undefined };
    const extras = readExtrasWord(value);
    if (typeof extras === 'string') return `expected ${extras}`;
    if (extras !== undefined) return { action: 'keep', extras };
    return EXPECTED;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return EXPECTED;
  const object = value as Record<string, unknown>;
  const unknownKeys = Object.keys(object).filter((key) => key !== 'action' && !EXTRAS_KEYS.includes(key));
  if (unknownKeys.length > 0) return `expected only the keys action, flags, unflags, copyTo (not ${unknownKeys.join(', ')})`;
  if (typeof object.action !== 'string' || !(ACTIONS as readonly string[]).includes(object.action)) return `expected action to be one of ${ACTIONS.join(', ')}`;
  const extras = readExtrasKeys(object);
  if (typeof extras === 'string') return `expected valid flags and copyTo: ${extras}`;
  return { action: object.action as Action, extras: hasExtras(extras) ? extras : undefined };
}

/** The account's `after` and `afterExtras`: as written, else the default action alone. */
export function resolveAfter(after: AfterValue | undefined, fallback: Action): { after: Action; afterExtras: ActionExtras | undefined } {
  return after === undefined ? { after: fallback, afterExtras: undefined } : { after: after.action, afterExtras: after.extras };
}

/**
 * What the protocol cannot do of `after`, each as the end of `accounts[0].after: ...`:
 * POP3 has neither flags nor folders, a Maildir stores only \Seen and \Flagged.
 */
export function afterProblems(protocol: Protocol, after: AfterValue): string[] {
  const extras = after.extras;
  if (!hasExtras(extras)) return [];
  const problems: string[] = [];
  const flags = [...extras.flags, ...extras.unflags];
  if (protocol === 'pop3') {
    if (extras.copyTo !== undefined) problems.push('POP3 has no folders to copy to; use after: keep or delete');
    if (flags.length > 0) problems.push(`POP3 has no flags: ${flags.join(', ')} cannot be set or cleared; use after: keep or delete`);
  } else if (protocol === 'maildir') {
    const refused = flags.filter((flag) => !MAILDIR_FLAGS.includes(flag));
    if (refused.length > 0) problems.push(`a Maildir stores only the flags ${MAILDIR_FLAGS.join(' and ')}: ${refused.join(', ')} cannot be set or cleared`);
  }
  return problems;
}

/** `skipKeyword` as written: one flag or keyword name. */
export const skipKeywordSchema = () =>
  z.string().transform((value, ctx): string => {
    const read = readFlagName(value);
    if ('problem' in read) {
      ctx.addIssue({ code: 'custom', message: `expected a keyword such as $Processed: ${read.problem}`, input: value });
      return z.NEVER;
    }
    return read.flag;
  });

/** A Maildir can only leave out what its file names carry. */
export function skipKeywordProblem(protocol: Protocol, keyword: string): string | undefined {
  if (protocol !== 'maildir' || MAILDIR_FLAGS.includes(keyword)) return undefined;
  return `a Maildir stores only the flags ${MAILDIR_FLAGS.join(' and ')}; ${keyword} cannot be looked for`;
}
