/**
 * Calling the account's handler on one fetched message, whatever its kind: a module
 * (`script:`) in worker threads (worker/pool.ts; shared by the accounts of a run when it
 * passes its HandlerThreads, worker/threads.ts), which parse the message themselves; a
 * command, a webhook or a function passed in by a program in this thread, on the message
 * parsed here. Both save the account's attachments (`saveAttachments`) right after parsing,
 * before the handler is called.
 */
import type { AccountConfig } from '../config/types.js';
import type { Outcome } from '../decision/types.js';
import { HandlerError, HandlerThrewError, MailpollError } from '../errors.js';
import type { FetchedMessage } from '../mailbox/types.js';
import { parseMessage } from '../message/parse.js';
import { refuseResult } from './result.js';
import { saveAttachments } from './save-attachments.js';
import { handlerFailure, outcomeOf, runHandler } from './run.js';
import type { HandlerContext, LoadedHandler, MailMessage } from './types.js';
import { createHandlerPool, UnsendableResult, type HandlerPool } from './worker/pool.js';
import { NOT_AN_ERROR } from './worker/protocol.js';
import type { HandlerThreads } from './worker/threads.js';

export interface HandlerInvoker {
  /**
   * The Outcome of the handler for `message`, whose header block `headers` is already parsed
   * when the handler runs in this thread (a module's worker parses the message itself);
   * rejects with a HandlerError for the message's failure, a ParseError, or a HandlerLoadError
   * when the module does not load in a worker (every message would fail: the caller stops).
   */
  invoke(message: FetchedMessage, headers: MailMessage | undefined, ref: number | undefined): Promise<Outcome>;
  /**
   * `message` is next after the ones in hand: a module's worker may parse it meanwhile
   * (worker/pool.ts). Its handler still starts only at its `invoke`. Optional, a hint only.
   */
  prepare?(message: FetchedMessage): void;
  /** Ends the worker threads, if any were started for this invoker alone (shared ones stay). */
  close(): Promise<void>;
}

export function createHandlerInvoker(
  account: Pick<AccountConfig, 'name' | 'folder' | 'after' | 'afterExtras' | 'moveTo' | 'handlerTimeout' | 'handlerConcurrency' | 'handlerMemoryLimit' | 'saveAttachments'>,
  handler: LoadedHandler,
  context: HandlerContext,
  threads?: HandlerThreads,
): HandlerInvoker {
  const { module } = handler;
  if (module === undefined) {
    return {
      invoke: async (message, headers, ref) => {
        const mailMessage = await messageFor(message, headers, handler, account);
        if (ref !== undefined) mailMessage.ref = ref;
        if (account.saveAttachments !== undefined) {
          try {
            mailMessage.savedAttachments = await saveAttachments(mailMessage, account.saveAttachments, context.dryRun);
          } catch (error) {
            throw handlerFailure(error, context.account);
          }
        }
        return runHandler(handler.fn, mailMessage, context, account, { timeoutMs: account.handlerTimeout });
      },
      close: async () => {},
    };
  }

  let pool: HandlerPool | undefined;
  const onLog = (text: string) => context.log('%s', text);
  return {
    invoke: async (message, _headers, ref) => {
      // Started at the first message: a run without new mail pays for no worker.
      pool ??=
        threads === undefined
          ? createHandlerPool({
              setup: { file: module, account: account.name, folder: account.folder, dryRun: context.dryRun, saveAttachments: account.saveAttachments },
              size: account.handlerConcurrency,
              timeoutMs: account.handlerTimeout,
              memoryLimit: account.handlerMemoryLimit,
              onLog,
            })
          : threads.poolFor(
              { file: module, dryRun: context.dryRun, memoryLimit: account.handlerMemoryLimit },
              { account: account.name, folder: account.folder, saveAttachments: account.saveAttachments, timeoutMs: account.handlerTimeout, onLog },
            );
      let result: unknown;
      try {
        result = await pool.run(message, ref);
      } catch (error) {
        throw failureOf(error, context.account);
      }
      if (result instanceof UnsendableResult) throw handlerFailure(refuseResult(result.description), context.account);
      return outcomeOf(result, account, context.account);
    },
    prepare: (message) => pool?.prepare(message),
    close: async () => {
      await pool?.close();
    },
  };
}

/**
 * What an in-process handler receives: the header-only parse if it asked for that, else the
 * full one. A message whose header block mailparser refused has no more to parse: it goes
 * as it is, with `parseError`.
 */
async function messageFor(message: FetchedMessage, parsed: MailMessage | undefined, handler: LoadedHandler, account: Pick<AccountConfig, 'name' | 'folder' | 'saveAttachments'>): Promise<MailMessage> {
  const headers = parsed ?? (await parseMessage(message, { account: account.name, folder: account.folder, headersOnly: true }));
  // Attachments to save need the full parse, whatever the handler asked for.
  const wanted = handler.parse === 'full' || account.saveAttachments !== undefined;
  if (!wanted || headers.parseError !== undefined) return headers;
  return parseMessage(message, { account: account.name, folder: account.folder });
}

/** A worker's answer as a failure: a ParseError or HandlerLoadError stays as it is, a handler's thrown value is described. */
function failureOf(error: unknown, accountName: string): unknown {
  if (error instanceof MailpollError && !(error instanceof HandlerError)) return error;
  if (error instanceof Error && error.name === NOT_AN_ERROR) return new HandlerThrewError(`handler failed: threw ${error.message} (not an Error)`, { account: accountName });
  return handlerFailure(error, accountName);
}
