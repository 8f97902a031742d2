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
import { ConfigError, describeError, ExitCode, MailpollError } from '../errors.js';
import { loadHandler } from '../handler/load.js';
import type { Handler } from '../handler/types.js';
import { createMailbox } from '../mailbox/open.js';
import type { Reporter } from '../report/types.js';
import type { Lease, PurgeOptions, Store } from '../store/types.js';
import { pollAccount, type CycleOptions, type CycleResult } from './cycle.js';

/** A lease outlives a crashed holder by at most this long (a dead local pid is taken over at once). */
const LEASE_TTL_MS = 60_000;
const LEASE_RENEW_MS = 20_000;

export interface RunOptions extends CycleOptions {
  /** The accounts to poll, in order (see `selectAccounts`). */
  accounts: AccountConfig[];
  reporter: Reporter;
  store: Store;
  /** Raw copies and ledger rows are purged by these at the start of a run. */
  retention: PurgeOptions;
  /** What the run history shows as the command. */
  command?: string | undefined;
  /** Handler `context.log` lines (stderr). */
  writeLog?: ((line: string) => void) | undefined;
  /** Protocol log under --verbose (stderr). */
  debug?: ((line: string) => void) | undefined;
  now?: () => number;
}

export interface RunResult {
  exitCode: ExitCode;
  accounts: CycleResult[];
}

export async function runOnce(options: RunOptions): Promise<RunResult> {
  const now = options.now ?? Date.now;
  const started = now();
  const handlers = await loadHandlers(options.accounts);
  const { store } = options;
  const runId = store.beginRun({ pid: process.pid, command: options.command ?? 'run', dryRun: options.dryRun });
  if (!options.dryRun) store.purge(options.retention);
  const results: CycleResult[] = [];

  for (const account of options.accounts) {
    if (options.signal?.aborted) break;
    const accountStarted = now();
    const result = await withLease(store, account, () =>
      createMailbox(account, { debug: options.debug }).then(
        (mailbox) =>
          pollAccount(
            account,
            {
              mailbox,
              handler: handlers.get(account.name)!,
              reporter: options.reporter,
              store,
              runId,
              archive: options.retention.retentionDays > 0,
              writeLog: options.writeLog,
              now,
            },
            options,
          ),
        (error: unknown) => failedCycle(account, error),
      ),
    );
    results.push(result);
    const durationMs = now() - accountStarted;
    const error = result.error?.message ?? null;
    store.recordAccountRun(runId, { ...counts(result), account: account.name, status: result.status, error, durationMs });
    options.reporter.report({
      type: 'account',
      account: account.name,
      protocol: account.protocol,
      status: result.status,
      ...counts(result),
      error,
      code: result.status === 'busy' ? null : (result.error?.code ?? null),
      durationMs,
    });
    if (result.stoppedAfterFirst) break;
  }

  const exitCode = exitCodeOf(results);
  store.endRun(runId, exitCode);
  options.reporter.report({
    type: 'summary',
    accounts: results.length,
    accountsFailed: results.filter((r) => r.status === 'error').length,
    fetched: sum(results, 'fetched'),
    processed: sum(results, 'processed'),
    failed: sum(results, 'failed'),
    transitions: sum(results, 'transitions'),
    dryRun: options.dryRun,
    exitCode,
    durationMs: now() - started,
  });
  return { exitCode, accounts: results };
}

/** 3 (an account could not be worked on) wins over 1 (a message failed). */
export function exitCodeOf(results: readonly CycleResult[]): ExitCode {
  if (results.some((r) => r.status === 'error')) return ExitCode.accountFailed;
  if (results.some((r) => r.failed > 0)) return ExitCode.messageFailed;
  return ExitCode.ok;
}

/**
 * Work on an account only while holding its lease; renewed on a timer, released at the end.
 * Another live process holding it: the account is skipped as busy (exit 0), not an error.
 */
async function withLease(store: Store, account: AccountConfig, work: () => Promise<CycleResult>): Promise<CycleResult> {
  const taken = store.acquireLease(account.name, { ttlMs: LEASE_TTL_MS });
  if (!taken.ok) {
    const since = new Date(taken.holder.since).toTimeString().slice(0, 8);
    const result = failedCycle(account, new MailpollError(`${account.name}: busy (pid ${taken.holder.pid} since ${since})`));
    return { ...result, status: 'busy' };
  }
  const lease: Lease = taken.lease;
  const timer = setInterval(() => lease.renew(), LEASE_RENEW_MS);
  timer.unref();
  try {
    return await work();
  } finally {
    clearInterval(timer);
    lease.release();
  }
}

function counts(result: CycleResult): Pick<CycleResult, 'fetched' | 'processed' | 'failed' | 'transitions'> {
  return { fetched: result.fetched, processed: result.processed, failed: result.failed, transitions: result.transitions };
}

/** One load per module file, all before any network traffic. */
async function loadHandlers(accounts: readonly AccountConfig[]): Promise<Map<string, Handler>> {
  const missing = accounts.filter((account) => account.script === undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map(
        (account) => `${account.name}: no handler script. Set script: for the account or at top level, or pass -s FILE.`,
      ),
    );
  }
  const handlers = new Map<string, Handler>();
  for (const account of accounts) handlers.set(account.name, await loadHandler(account.script!));
  return handlers;
}

function failedCycle(account: AccountConfig, error: unknown): CycleResult {
  const cause =
    error instanceof MailpollError ? error : new MailpollError(`${account.name}: ${describeError(error)}`, { cause: error });
  return {
    account: account.name,
    status: 'error',
    fetched: 0,
    processed: 0,
    failed: 0,
    transitions: 0,
    error: cause,
    stoppedAfterFirst: false,
  };
}

function sum(results: readonly CycleResult[], key: 'fetched' | 'processed' | 'failed' | 'transitions'): number {
  return results.reduce((total, result) => total + result[key], 0);
}
