/**
 * The words every stage of mailpoll shares: which protocol a mailbox speaks and what can be
 * done with a message. They sit here, beside `errors.ts` and `duration.ts`, so that config,
 * handler, decision, mailbox, store and report may all import them without importing each
 * other.
 */

export type Protocol = 'imap' | 'pop3' | 'maildir';

/** What can be done with a message: the config's `after`, a handler's result, a decision, a ledger row. */
export type Action = 'delete' | 'keep' | 'markSeen' | 'move';
