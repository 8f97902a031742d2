/** mailpoll's programmatic API: the same pieces the CLI is made of. */
export { loadConfig, type LoadConfigOptions } from './config/load.js';
export { selectAccounts } from './config/select.js';
export type { AccountConfig, Config, TlsMode } from './config/types.js';
export { runOnce, exitCodeOf, type RunOptions, type RunResult } from './poll/run.js';
export { pollAccount, type CycleOptions, type CycleResult } from './poll/cycle.js';
export { checkAccounts, type CheckOptions } from './poll/check.js';
export { createMailbox } from './mailbox/open.js';
export type * from './mailbox/types.js';
export type { Action, Protocol } from './domain.js';
export type * from './handler/types.js';
export type { Decision, Outcome } from './decision/types.js';
export { createJsonReporter } from './report/json.js';
export { createTextReporter } from './report/text.js';
export type * from './report/types.js';
export * from './errors.js';
export { openStore, type OpenStoreOptions } from './store/open.js';
export { defaultStorePath } from './store/path.js';
export type * from './store/types.js';
