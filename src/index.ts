/**
 * mailpoll's programmatic API: the pieces the CLI is made of (README, "Programmatic use").
 * Importing it changes nothing in the host process: no signal handlers, no V8 flags (the
 * forced collection that bounds a long run's memory is opt-in: `allowForcedCollection`).
 */

// Config: find, validate, select, resolve passwords.
export { loadConfig, resolvePasswords, validateConfig } from './config/load.js';
export type { LoadConfigOptions, ResolvePasswordsOptions, ValidateConfigContext, ValidateConfigResult } from './config/load.js';
export { selectAccounts } from './config/select.js';
export { redact } from './redact.js';
export type { PasswordSource, PasswordSpec } from './config/secrets.js';
export type { AccountConfig, Config, TlsMode } from './config/types.js';
export type { Action, Protocol } from './domain.js';
export type { Logger } from './logger.js';

// Handlers: the contract, and typed handlers.
export { defineHandler } from './handler/define.js';
export { loadHandler } from './handler/load.js';
export type * from './handler/types.js';

// Running: one cycle over accounts, one account, the watch loop, a connection check.
export { exitCodeOf, runOnce, type RunOptions, type RunResult } from './poll/run.js';
export { pollAccount, type CycleDeps, type CycleOptions, type CycleResult } from './poll/cycle.js';
export { runWatch, type AccountState, type WatchOptions, type WatchResult } from './watch/watch.js';
export { checkAccounts, type CheckOptions } from './poll/check.js';
export { allowForcedCollection } from './poll/memory.js';

// Mailboxes, decisions, reports, the store.
export { createMailbox, type CreateMailboxOptions } from './mailbox/open.js';
export type * from './mailbox/types.js';
export type { Decision, Outcome } from './decision/types.js';
export { createJsonReporter } from './report/json.js';
export { createTextReporter, shouldColor, type TextReporterOptions } from './report/text.js';
export type * from './report/types.js';
export { openStore, type OpenStoreOptions } from './store/open.js';
export { defaultStorePath } from './store/path.js';
export type * from './store/types.js';
/** Thrown (as a rejection) by a store write fenced by a lease that another process has taken over. */
export { LeaseLostError } from './store/contract.js';

// Errors, each with a stable code (README, "Error codes").
export * from './errors.js';
