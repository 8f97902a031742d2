/**
 * A handler worker thread: imports the handler module once, then per message parses the
 * source it receives, saves its attachments when the account says so (save-attachments.ts),
 * calls the handler and answers with its raw result (protocol.ts).
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
import type { HandlerContext, LoadedHandler } from '../types.js';
import { toSentError, type HandleRequest, type WorkerReply, type WorkerSetup } from './protocol.js';

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

const context: HandlerContext = {
  account: setup.account,
  dryRun: setup.dryRun,
  log: (...args: unknown[]) => send({ type: 'log', text: format(...args) }),
};

async function handle(handler: LoadedHandler, request: HandleRequest): Promise<void> {
  const raw = Buffer.from(request.raw.buffer, request.raw.byteOffset, request.raw.byteLength);
  let message;
  try {
    const fetched = { uid: request.uid, raw, size: request.size, flags: request.flags };
    // Attachments to save need the full parse, whatever the handler asked for.
    const headersOnly = handler.parse === 'headers' && setup.saveAttachments === undefined;
    message = await parseMessage(fetched, { account: setup.account, folder: setup.folder, headersOnly });
  } catch (error) {
    send({ type: 'parse-failed', message: error instanceof ParseError ? error.message : String(error) });
    return;
  }
  if (request.ref !== undefined) message.ref = request.ref;
  let result: unknown;
  try {
    if (setup.saveAttachments !== undefined) message.savedAttachments = await saveAttachments(message, setup.saveAttachments, setup.dryRun);
    // Called unbound, so that the stack names the user's function (`at handle (file:...)`),
    // not `Object.handle [as fn]`, and `this` is undefined as in the main thread.
    const { fn } = handler;
    result = await fn(message, context);
  } catch (error) {
    flushOutput();
    send({ type: 'threw', error: toSentError(error) });
    return;
  }
  flushOutput();
  sendResult(result);
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
  port.on('message', (request: HandleRequest) => void handle(handler, request));
  send({ type: 'ready', parse: handler.parse });
}

void start();
