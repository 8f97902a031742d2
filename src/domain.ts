/**
 * The words every stage of mailpoll shares: which protocol a mailbox speaks and what can be
 * done with a message. They sit here, beside `errors.ts` and `duration.ts`, so that config,
 * handler, decision, mailbox, store and report may all import them without importing each
 * other.
 */

export type Protocol = 'imap' | 'pop3' | 'maildir';

/** What can be done with a message: the config's `after`, a handler's result, a decision, a ledger row. */
export type Action = 'delete' | 'keep' | 'markSeen' | 'move';

/**
 * What may come with any action: IMAP flags and keywords set or cleared (`$Processed`,
 * `\Flagged`), and a copy left in another folder while the message itself stays (or goes).
 * Carried out before the action itself, so that a flag travels with a move.
 */
export interface ActionExtras {
  flags: readonly string[];
  unflags: readonly string[];
  /** `/`-separated folder, as in the config; undefined: no copy. */
  copyTo: string | undefined;
}

export const NO_EXTRAS: ActionExtras = Object.freeze({ flags: Object.freeze([]), unflags: Object.freeze([]), copyTo: undefined });

/** True when `extras` asks for nothing beyond the action. */
export function hasExtras(extras: ActionExtras | undefined): extras is ActionExtras {
  return extras !== undefined && (extras.flags.length > 0 || extras.unflags.length > 0 || extras.copyTo !== undefined);
}

/** The extras in the result vocabulary: `flag:$Processed unflag:\Seen copy:Archive` (empty when none). */
export function describeExtras(extras: ActionExtras | undefined): string[] {
  if (!hasExtras(extras)) return [];
  return [...extras.flags.map((flag) => `flag:${flag}`), ...extras.unflags.map((flag) => `unflag:${flag}`), ...(extras.copyTo === undefined ? [] : [`copy:${extras.copyTo}`])];
}
