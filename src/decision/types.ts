/**
 * The handler returns a *result*; `handler/result.ts` normalises it into an *Outcome*;
 * the planner turns an Outcome plus the mailbox's capabilities into a *Decision*,
 * which the adapter performs as a *disposition*.
 */
import type { Action, ActionExtras } from '../domain.js';

/** A handler's result, normalised but not yet checked against what the mailbox can do. */
export interface Outcome {
  action: Action;
  /** Target of `move`; undefined means the account's `moveTo`. */
  folder: string | undefined;
  /** The message is passed on to what follows (a workflow's outgoing transition). */
  transition: boolean;
  /** Flags set or cleared and a copy, carried out before the action; undefined: none. */
  extras?: ActionExtras | undefined;
}

/** What will be done with one message. */
export interface Decision {
  action: Action;
  /** Set exactly when `action` is `move`. */
  folder: string | undefined;
  transition: boolean;
  /** Flags set or cleared and a copy, carried out before the action; undefined: none. */
  extras?: ActionExtras | undefined;
}
