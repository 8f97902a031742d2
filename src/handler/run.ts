/** Run a loaded handler on one message: timeout, failures as HandlerErrors, result normalised. */
import { format } from 'node:util';
import type { AccountConfig } from '../config/types.js';
import type { Outcome } from '../decision/types.js';
import { formatDuration } from '../duration.js';
import { HandlerError, HandlerThrewError, HandlerTimeoutError, InvalidResultError } from '../errors.js';
import type { Logger } from '../logger.js';
import { describeValue, normaliseResult } from './result.js';
import type { Handler, HandlerContext, MailMessage } from './types.js';

export interface RunHandlerOptions {
  /**
   * Milliseconds the handler may take for this message (the account's `handlerTimeout`).
   * 0 or Infinity: no limit. Above Node's timer maximum (~24.8 days) it is capped there.
   */
  timeoutMs: number;
  /**
   * Stop waiting for the handler when aborted (e.g. on a second Ctrl-C). The returned
   * promise then rejects with `signal.reason` (not a HandlerError: the message did not
   * fail, the run was interrupted). As with a timeout, the handler itself cannot be stopped.
   */
  signal?: AbortSignal | undefined;
}

/**
 * Call `handler` and turn whatever happens into an Outcome or a HandlerError:
 * - a throw or rejection -> HandlerThrewError `handler failed: <message>` (the thrown value kept as `cause`);
 * - no answer within `timeoutMs` -> HandlerTimeoutError `handler timed out after 5m`;
 * - an invalid result -> the InvalidResultError from `normaliseResult`.
 */
export async function runHandler(
  handler: Handler,
  message: MailMessage,
  context: HandlerContext,
  account: Pick<AccountConfig, 'after' | 'afterExtras' | 'moveTo'>,
  options: RunHandlerOptions,
): Promise<Outcome> {
  const { timeoutMs, signal } = options;
  signal?.throwIfAborted();

  let result: unknown;
  try {
    result = await withTimeout(
      // Promise.resolve().then() also catches a synchronous throw as a rejection.
      Promise.resolve().then(() => handler(message, context)),
      timeoutMs,
      signal,
    );
  } catch (error) {
    if (error === TIMED_OUT) {
      // The handler's promise is abandoned, not cancelled: JavaScript cannot stop it, so
      // whatever it is still doing (HTTP calls, writes) may go on and finish later.
      throw new HandlerTimeoutError(`handler timed out after ${formatDuration(timeoutMs)}`, { account: context.account });
    }
    if (signal?.aborted && error === signal.reason) throw error;
    throw handlerFailure(error, context.account);
  }
  return outcomeOf(result, account, context.account);
}

/**
 * What a handler threw as a HandlerError: one that is already (a command's temporary failure,
 * an unreadable line, a worker's fault or timeout) names the account; anything else becomes
 * a HandlerThrewError `handler failed: <message>` with the thrown value as `cause`.
 */
export function handlerFailure(error: unknown, accountName: string): HandlerError {
  if (error instanceof HandlerError) return withAccount(error, accountName);
  return new HandlerThrewError(`handler failed: ${describeThrown(error)}`, { account: accountName, cause: error });
}

/** The handler's result as an Outcome; an InvalidResultError naming the account when it is none. */
export function outcomeOf(result: unknown, account: Pick<AccountConfig, 'after' | 'afterExtras' | 'moveTo'>, accountName: string): Outcome {
  try {
    return normaliseResult(result, account);
  } catch (error) {
    if (error instanceof InvalidResultError) throw withAccount(error, accountName);
    throw error;
  }
}

/** The same error, naming the account when it does not yet. */
function withAccount(error: HandlerError, account: string): HandlerError {
  if (error.account !== undefined) return error;
  const Kind = error.constructor as new (message: string, options: { account: string; cause?: unknown }) => HandlerError;
  return new Kind(error.message, { account, cause: error.cause });
}

/**
 * The context passed to every handler call. `log(...args)` formats like console.log and
 * writes `[account] line` to stderr (never stdout: that belongs to the report), each line
 * of a multi-line message prefixed. `logger.info` receives one text without a trailing
 * newline; without one, it goes to stderr as is.
 */
export function createHandlerContext(account: string, dryRun: boolean, logger?: Logger): HandlerContext {
  const write = logger?.info ?? ((text: string) => process.stderr.write(`${text}\n`));
  const prefix = `[${account}] `;
  return {
    account,
    dryRun,
    log: (...args: unknown[]) => {
      const text = format(...args);
      write(
        text
          .split('\n')
          .map((line) => prefix + line)
          .join('\n'),
      );
    },
  };
}

const TIMED_OUT = Symbol('timed out');
const MAX_TIMER_MS = 2 ** 31 - 1;

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const limited = timeoutMs > 0 && Number.isFinite(timeoutMs);
    // Deliberately not unref'd: it is always cleared once the handler settles or the signal
    // aborts, so it never keeps a finished process alive. Unref'd, a handler whose promise
    // never settles and holds no I/O would let the process exit (code 13) without a report.
    // Node fires a delay above 2^31-1 ms after 1 ms instead: cap it.
    const timer = limited
      ? setTimeout(() => {
          cleanup();
          reject(TIMED_OUT);
        }, Math.min(timeoutMs, MAX_TIMER_MS))
      : undefined;

    const onAbort = () => {
      cleanup();
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    function cleanup() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }

    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}

/** One line for a thrown value: an Error's first message line, anything else described. */
function describeThrown(error: unknown): string {
  if (error instanceof Error) {
    const text = (error.message || error.name).split('\n')[0] ?? '';
    return text.trim() === '' ? error.name : text;
  }
  return `threw ${describeValue(error)} (not an Error)`;
}
