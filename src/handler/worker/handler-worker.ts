/**
 * A handler worker thread: imports the handler module once, then per message (of whichever
 * account using the module: the account comes with the message) parses the
 * source it receives, saves its attachments when the account says so (save-attachments.ts),
 * calls the handler and answers with its raw result (protocol.ts). A message sent ahead
 * (`prepare`) is parsed at once, while the previous one is still in its handler or being
 * recorded by the main thread, and handled on its `call`.
 *
 * Whatever goes wrong outside the handler's promise (an exception thrown from a timer, an
 * unhandled rejection, `process.exit()`) is reported as a fault and ends this thread; the
 * pool fails that message and starts another worker. What the handler writes to its console,
 * stdout or stderr is sent as `log` lines, which the main thread writes to stderr prefixed with
 * the account (never to mailpoll's stdout).
 */
import { format } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { ParseError, HandlerLoadError } from '../../errors.js';
import { loadMailparser, parseMessage } from '../../message/parse.js';
import { splitLines } from '../command.js';
import { importHandler } from '../load.js';
import { saveAttachments } from '../save-attachments.js';
import { describeValue } from '../result.js';
import type { HandlerContext, LoadedHandler, MailMessage } from '../types.js';
import { toSentError, type HandleRequest, type MessageContext, type PrepareRequest, type WorkerReply, type WorkerRequest, type WorkerSetup } from './protocol.js';

const port = parentPort!;
const setup = workerData as WorkerSetup;

function send(reply: WorkerReply): void {
  port.postMessage(reply);
}

function fault(reason: string, thrown: unknown): void {
  flushOutput();
  send({ type: 'fault', reason, error: thrown === undefined ? undefined : toSentError(thrown) });
  exit(1);
}

// In a worker, process.exit() ends this thread only; said first, so the pool can tell the
// message's failure from a crash.
const exit = process.exit.bind(process);
process.exit = ((code?: number | string | null) => {
  flushOutput();
  send({ type: 'fault', reason: `it called process.exit(${code ?? ''})`, error: undefined });
  exit(code);
}) as typeof process.exit;
process.on('uncaughtException', (error) => fault('an exception thrown outside its promise (from a timer or callback)', error));
process.on('unhandledRejection', (reason) => fault('an unhandled promise rejection', reason));

/**
 * What the handler writes to process.stdout or process.stderr (console.* included) becomes
 * `log` lines on the same channel as the results: in order with them, and none lost when the
 * worker is stopped. Returns the flush for an unterminated last line.
 */
function captureOutput(stream: NodeJS.WriteStream): () => void {
  const lines = splitLines((text) => send({ type: 'log', text }));
  stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((error?: Error | null) => void), callback?: (error?: Error | null) => void) => {
    lines.push(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk));
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  }) as typeof stream.write;
  return lines.end;
}
const flushes = [captureOutput(process.stdout), captureOutput(process.stderr)];
function flushOutput(): void {
  for (const flush of flushes) flush();
}

/** The handler's `context` for one account's messages (this worker serves every account using the module). */
function contextFor(account: string): HandlerContext {
  return { account, dryRun: setup.dryRun, log: (...args: unknown[]) => send({ type: 'log', text: format(...args) }) };
}

/** A parse's outcome, never a rejection: a prepared message may wait for its call. */
type Parsed = { message: MailMessage; context: MessageContext } | { failed: string };

/** Messages parsed ahead of their handler, by the main thread's id (at most one at a time). */
const prepared = new Map<number, Promise<Parsed>>();

function parse(handler: LoadedHandler, request: HandleRequest | PrepareRequest): Promise<Parsed> {
  const raw = Buffer.from(request.raw.buffer, request.raw.byteOffset, request.raw.byteLength);
  const fetched = { uid: request.uid, raw, size: request.size, flags: request.flags };
  const { context } = request;
  // Attachments to save need the full parse, whatever the handler asked for.
  const headersOnly = handler.parse === 'headers' && context.saveAttachments === undefined;
  return parseMessage(fetched, { account: context.account, folder: context.folder, headersOnly }).then(
    (message) => ({ message, context }),
    (error: unknown) => ({ failed: error instanceof ParseError ? error.message : String(error) }),
  );
}

async function handle(handler: LoadedHandler, parsing: Promise<Parsed>, ref: number | undefined): Promise<void> {
  const parsed = await parsing;
  if ('failed' in parsed) {
    send({ type: 'parse-failed', message: parsed.failed });
    return;
  }
  const { message, context } = parsed;
  if (ref !== undefined) message.ref = ref;
  let result: unknown;
  try {
    if (context.saveAttachments !== undefined) message.savedAttachments = await saveAttachments(message, context.saveAttachments, setup.dryRun);
    // Called unbound, so that the stack names the user's function (`at handle (file:...)`),
    // not `Object.handle [as fn]`, and `this` is undefined as in the main thread.
    const { fn } = handler;
    result = await fn(message, contextFor(context.account));
  } catch (error) {
    flushOutput();
    send({ type: 'threw', error: toSentError(error) });
    return;
  }
  flushOutput();
  sendResult(result);
}

/** Parsing is not handling: a prepared message's handler (and its attachments) wait for its call. */
function receive(handler: LoadedHandler, request: WorkerRequest): void {
  switch (request.type) {
    case 'handle':
      void handle(handler, parse(handler, request), request.ref);
      return;
    case 'prepare':
      prepared.set(request.id, parse(handler, request));
      return;
    case 'call': {
      const parsing = prepared.get(request.id);
      prepared.delete(request.id);
      if (parsing === undefined) fault(`mailpoll called a message it had not handed over (${request.id})`, undefined);
      else void handle(handler, parsing, request.ref);
      return;
    }
    case 'forget':
      prepared.delete(request.id);
      return;
  }
}

/** Plain values and plain objects cross as they are; anything else is refused by the main thread, as normaliseResult would. */
function sendResult(value: unknown): void {
  if (isPlain(value)) {
    try {
      send({ type: 'result', value });
      return;
    } catch {
      // A function or symbol nested in the object: not cloneable, and not a result either.
    }
  }
  const description = describeValue(value);
  send({ type: 'unsendable-result', description });
}

function isPlain(value: unknown): boolean {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return typeof value !== 'symbol' && typeof value !== 'bigint';
  if (typeof value === 'function' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

async function start(): Promise<void> {
  let handler: LoadedHandler;
  try {
    handler = await importHandler(setup.file);
    // Loaded now, so that the first message's handlerTimeout is not spent on it.
    await loadMailparser();
  } catch (error) {
    // An import failure is described by the main thread (load.ts) from the original error.
    const importFailed = error instanceof HandlerLoadError && error.cause !== undefined;
    send({ type: 'load-failed', error: toSentError(importFailed ? error.cause : error), importFailed });
    return;
  }
  port.on('message', (request: WorkerRequest) => receive(handler, request));
  send({ type: 'ready', parse: handler.parse });
}

void start();
