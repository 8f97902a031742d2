/**
 * The messages between the main thread and a handler worker (`pool.ts` <-> `handler-worker.ts`).
 * Everything here crosses `postMessage`, so it is plain data: errors travel as their name,
 * message and stack, and are rebuilt on the other side.
 */
import { describeValue } from '../result.js';
import type { ParseLevel } from '../types.js';

import type { SaveAttachmentsConfig } from '../../config/types.js';

/**
 * What a worker is started with (`workerData`): what every account sharing the worker has in
 * common. The rest comes with each message (MessageContext).
 */
export interface WorkerSetup {
  /** Absolute path of the handler module. */
  file: string;
  dryRun: boolean;
}

/** The account a message belongs to, sent with the message: one worker serves many accounts. */
export interface MessageContext {
  account: string;
  folder: string;
  /** The account's `saveAttachments`: the worker saves them after parsing (save-attachments.ts). */
  saveAttachments?: SaveAttachmentsConfig | undefined;
}

/** Main -> worker: handle one message. `raw` is transferred, not copied, when it can be. */
export interface HandleRequest {
  type: 'handle';
  context: MessageContext;
  uid: string;
  ref: number | undefined;
  flags: string[];
  size: number;
  raw: Uint8Array;
}

/**
 * Main -> worker: parse this message now, while the worker's previous message is still in
 * its handler; its handler is called only on the `call` with the same `id` (or never, after a
 * `forget`). `raw` is a copy: the main thread keeps the source until the message is handled,
 * so that a worker lost meanwhile loses nothing.
 */
export interface PrepareRequest {
  type: 'prepare';
  id: number;
  context: MessageContext;
  uid: string;
  flags: string[];
  size: number;
  raw: Uint8Array;
}

/** Main -> worker: call the handler on the message prepared under `id`. */
export interface CallRequest {
  type: 'call';
  id: number;
  ref: number | undefined;
}

/** Main -> worker: the message prepared under `id` went to another worker: drop it. */
export interface ForgetRequest {
  type: 'forget';
  id: number;
}

export type WorkerRequest = HandleRequest | PrepareRequest | CallRequest | ForgetRequest;

/** An Error as data; anything else thrown is described in `message` with `name` `NotAnError`. */
export interface SentError {
  name: string;
  message: string;
  stack: string | undefined;
  code: string | undefined;
}

export type WorkerReply =
  /** The module is imported and the parser loaded: the worker takes messages. */
  | { type: 'ready'; parse: ParseLevel }
  /** The module could not be imported in the worker. */
  | { type: 'load-failed'; error: SentError; importFailed: boolean }
  /** Not even the header block could be read (a ParseError's message). */
  | { type: 'parse-failed'; message: string }
  /** The handler's raw result (checked by `normaliseResult` in the main thread). */
  | { type: 'result'; value: unknown }
  /** A result `postMessage` cannot carry, or not a plain value: described, refused by the main thread. */
  | { type: 'unsendable-result'; description: string }
  /** The handler threw or rejected. */
  | { type: 'threw'; error: SentError }
  /** `context.log(...)`, formatted in the worker. */
  | { type: 'log'; text: string }
  /** Something outside the handler's promise went wrong; the worker ends after sending it. */
  | { type: 'fault'; reason: string; error: SentError | undefined };

export function toSentError(thrown: unknown): SentError {
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    return { name: thrown.name, message: thrown.message, stack: thrown.stack, code: typeof code === 'string' ? code : undefined };
  }
  return { name: NOT_AN_ERROR, message: describeValue(thrown), stack: undefined, code: undefined };
}

/** Marks a SentError made from a thrown value that is not an Error (its `message` describes it). */
export const NOT_AN_ERROR = 'NotAnError';

/** The Error again, in this thread, with the worker's stack. */
export function fromSentError(sent: SentError): Error {
  const error = new Error(sent.message);
  error.name = sent.name;
  error.stack = sent.stack ?? `${sent.name}: ${sent.message}`;
  if (sent.code !== undefined) Object.assign(error, { code: sent.code });
  return error;
}
