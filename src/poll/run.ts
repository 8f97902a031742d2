/**
 * One cycle over all selected accounts. Handlers are loaded first, so a missing or broken
 * handler is a usage error (exit 2) before any server is contacted. One failing account
 * (down, wrong password, TLS, timeout) is reported and the others still run. Each account
 * is worked on under a lease in the store, so overlapping runs (cron every minute, a slow
 * cycle) never handle one message twice: the second run reports the account busy.
 *
 * No global state: the watch loop calls this repeatedly in one process.
 */
import type { AccountConfig } from '../config/types.js';
import { ConfigError, ExitCode, InternalError, type MailpollError, StoreError, worstExitCode } from '../errors.js';
import { loadAccountHandler } from '../handler/load.js';
import type { LoadedHandler } from '../handler/types.js';
import { createHandlerThreads, handlerThreadCap, type HandlerThreads } from '../handler/worker/threads.js';
import type { Logger } from '../logger.js';
import { createMailbox } from '../mailbox/open.js';
import type { Reporter } from '../report/types.js';
import type { PurgeOptions, Store } from '../store/types.js';
import { linkSignals } from './linked-signal.js';
import { failedCycle, recordOutcome, recordRefused, retryCommand, withLease, type RefusedAccount } from './account.js';
import type { CycleOptions, CycleResult } from './cycle.js';
import { pollFolders } from './folders.js';
import type { CycleProgress } from './progress.js';



export interface RunOptions extends CycleOptions {
  /** The accounts to poll, in order (see `selectAccounts`). */
  accounts: AccountConfig[];
  reporter: Reporter;
  store: Store;
  /** Raw copies and ledger rows are purged by these at the start of a run. */
  retention: PurgeOptions;
  /** What the run history shows as the command. */
  command?: string | undefined;
  /** `debug`: the protocol log and a bug's stack under --verbose; `info`: handler `context.log` lines (both stderr). */
  logger?: Logger | undefined;
  now?: () => number;
  /** A live progress line (the CLI's, on a terminal): each cycle's total and messages handled. */
  progress?: CycleProgress | undefined;
  /** Accounts that cannot be worked on as configured (a refused row of the accounts table): each reported as failed with its error, after the others. */
  refused?: readonly RefusedAccount[] | undefined;
}


export interface RunResult {
  exitCode: ExitCode;
  accounts: CycleResult[];
}

export async function runOnce(options: RunOptions): Promise<RunResult> {
  const started = (options.now ?? Date.now)();
  const handlers = await loadHandlers(options.accounts);
  // Shared by the accounts, one after the other: a worker started for one serves the next.
  const handlerThreads = createHandlerThreads(handlerThreadCap(options.accounts.map((account) => account.handlerConcurrency)));
  try {
    return await pollEveryAccount(options, started, handlers, handlerThreads);
  } finally {
    await handlerThreads.close();
  }
}

async function pollEveryAccount(options: RunOptions, started: number, handlers: Map<string, LoadedHandler>, handlerThreads: HandlerThreads): Promise<RunResult> {
  const now = options.now ?? Date.now;
  const { store } = options;
  const runId = await store.beginRun({ pid: process.pid, command: options.command ?? 'run', dryRun: options.dryRun });
  if (!options.dryRun) await store.purge(options.retention);
  const results: CycleResult[] = [];
  /** Quarantined messages per account that has any. */
  const quarantined = new Map<string, number>();

  for (const account of options.accounts) {
    if (options.signal?.aborted) break;
    const accountStarted = now();
    const result = await withLease(store, account, (leaseLost, lease) =>
      createMailbox(account, { logger: options.logger }).then(
        (mailbox) => {
          const linked = linkSignals(options.signal, leaseLost);
          return pollFolders(
            account,
            {
              mailbox,
              handler: handlers.get(account.name)!,
              reporter: options.reporter,
              store,
              lease,
              runId,
              archive: options.retention.retentionDays > 0,
              logger: options.logger,
              now,
              progress: options.progress,
              handlerThreads,
            },
            { ...options, signal: linked.signal },
          ).finally(linked.unlink);
        },
        (error: unknown) => failedCycle(account, error),
      ),
    );
    options.progress?.end(account.name);
    results.push(result);
    if (result.error instanceof InternalError) debugStack(result.error, options.logger);
    const outcome = await recordOutcome(store, runId, account, result, now() - accountStarted);
    if (outcome.quarantined > 0) quarantined.set(account.name, outcome.quarantined);
    options.reporter.report({ type: 'account', ...outcome });
    if (result.stoppedAfterFirst) break;
  }
  for (const refused of options.refused ?? []) {
    const result = failedCycle({ name: refused.account }, refused.error);
    results.push(result);
    options.reporter.report({ type: 'account', ...(await recordRefused(store, runId, refused, result)) });
  }

  const exitCode = exitCodeOf(results);
  await store.endRun(runId, exitCode);
  options.reporter.report({
    type: 'summary',
    accounts: results.length,
    accountsFailed: results.filter((r) => r.status === 'error').length,
    accountsFailedBy: failuresByCode(results),
    fetched: sum(results, 'fetched'),
    processed: sum(results, 'processed'),
    failed: sum(results, 'failed'),
    transitions: sum(results, 'transitions'),
    deferred: sum(results, 'deferred'),
    quarantined: [...quarantined.values()].reduce((total, count) => total + count, 0),
    retry: retryCommand([...quarantined.keys()]),
    dryRun: options.dryRun,
    exitCode,
    durationMs: now() - started,
  });
  return { exitCode, accounts: results };
}

/**
 * 70 (a bug) wins over 2 (the store failed), 2 over 3 (an account could not be worked on),
 * 3 over 1 (a message failed).
 */
export function exitCodeOf(results: readonly CycleResult[]): ExitCode {
  return worstExitCode(
    results.map((r) => (r.status === 'error' ? accountExitCode(r.error) : r.failed > 0 ? ExitCode.messageFailed : ExitCode.ok)),
  );
}

/** The store and bugs keep their own codes; whatever else stopped an account (network, login, server) is 3. */
function accountExitCode(error: MailpollError | undefined): ExitCode {
  return error instanceof StoreError || error instanceof InternalError ? error.exitCode : ExitCode.accountFailed;
}

function failuresByCode(results: readonly CycleResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const result of results) {
    if (result.status !== 'error') continue;
    const code = result.error?.code ?? 'E_MAILPOLL';
    counts[code] = (counts[code] ?? 0) + 1;
  }
  return counts;
}

/** A bug's stack, for the report the error asks for (--verbose). */
function debugStack(error: InternalError, logger: Logger | undefined): void {
  const cause = error.cause instanceof Error ? error.cause : error;
  logger?.debug?.(cause.stack ?? cause.message);
}

/** One load per module file, all before any network traffic. */
export async function loadHandlers(accounts: readonly AccountConfig[]): Promise<Map<string, LoadedHandler>> {
  const missing = accounts.filter((account) => account.script === undefined && account.webhook === undefined && account.command === undefined && account.deliver === undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map(
        (account) => `${account.name}: no handler. Set script: (or command:, webhook: or deliver:) for the account or at top level, or pass -s FILE.`,
      ),
    );
  }
  const handlers = new Map<string, LoadedHandler>();
  for (const account of accounts) handlers.set(account.name, (await loadAccountHandler(account))!);
  return handlers;
}

function sum(results: readonly CycleResult[], key: 'fetched' | 'processed' | 'failed' | 'transitions' | 'deferred'): number {
  return results.reduce((total, result) => total + result[key], 0);
}
