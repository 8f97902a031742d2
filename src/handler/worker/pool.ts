/**
 * The worker threads that run a handler module (README, "Handlers run in worker threads").
 * One pool per module (and per the worker-level settings: dryRun, handlerMemoryLimit) serves
 * every account using it: the account, folder and saveAttachments come with each message.
 * Workers start when a message needs one (a run without new mail starts none), each handles
 * one message at a time, and the live ones of all pools stay within one process-wide budget
 * (threads.ts); an idle worker of one module makes room for another module that waits.
 *
 * The main thread only waits: a handler stuck in synchronous code cannot stop the lease
 * renewal or the connection. `handlerTimeout` terminates the worker (a synchronous loop and
 * `Atomics.wait` included). A fault outside the handler's promise fails the message in hand
 * and the worker is replaced.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { formatDuration } from '../../duration.js';
import { keepYoungGenerationLimit, WORKER_YOUNG_GENERATION_MB } from '../../young-generation.js';
import { HandlerLoadError, HandlerThrewError, HandlerTimeoutError, ParseError } from '../../errors.js';
import type { FetchedMessage } from '../../mailbox/types.js';
import { splitLines } from '../command.js';
import { describeLoadError, formatLoadError } from '../load-error.js';
import { fromSentError, type CallRequest, type ForgetRequest, type HandleRequest, type MessageContext, type PrepareRequest, type SentError, type WorkerReply, type WorkerSetup } from './protocol.js';

/** One account's use of a shared pool: what goes with its messages, and where its logs go. */
export interface PoolClient extends MessageContext {
  /** Milliseconds per message (`handlerTimeout`); 0 or Infinity: no limit. */
  timeoutMs: number;
  /** Text the handler logged (`context.log`), or one line it wrote to its console, stdout or stderr. */
  onLog: (text: string) => void;
}

export interface HandlerPoolOptions {
  setup: WorkerSetup & MessageContext;
  /** Workers at most (the account's `handlerConcurrency`). */
  size: number;
  /** Milliseconds per message (`handlerTimeout`); 0 or Infinity: no limit. */
  timeoutMs: number;
  /** Bytes of V8 heap each worker may use (`handlerMemoryLimit`); more fails the message in hand. */
  memoryLimit: number;
  /** Text the handler logged (`context.log`), or one line it wrote to its console, stdout or stderr. */
  onLog: (text: string) => void;
}

export interface HandlerPool {
  /**
   * The handler's raw result for one message. Rejects with the handler's own error (rebuilt
   * with its stack), a HandlerThrewError (a fault), a HandlerTimeoutError, a ParseError, or a
   * HandlerLoadError (the module does not load in a worker: every message would fail).
   * `message.raw` is transferred to the worker: it is empty here afterwards.
   */
  run(message: FetchedMessage, ref: number | undefined): Promise<unknown>;
  /**
   * Sends `message` ahead to a worker busy with an earlier one, to be parsed there meanwhile;
   * its handler still starts only at `run(message)`. A copy goes: a worker lost before
   * the run loses nothing. Skipped for sources of PREPARE_MAX_BYTES and more, or when every
   * worker has a message prepared already.
   */
  prepare(message: FetchedMessage): void;
  /** Ends every worker of a pool of its own (`createHandlerPool`); a shared pool's stay for the next cycle. */
  close(): Promise<void>;
}

/**
 * Live handler threads of every pool together, at most `cap`. `idle` are the workers waiting
 * for a message (ended to make room); `starved` are the pools waiting for room.
 */
export interface ThreadBudget {
  cap: number;
  live: number;
  idle: Map<object, () => void>;
  starved: Set<() => void>;
}

/** One module's workers, shared by the accounts using it. */
export interface SharedPool {
  client(client: PoolClient): HandlerPool;
  /** Ends every worker; resolves once they are gone. */
  close(): Promise<void>;
}

interface Job {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  job: Job | undefined;
  /** The account of the message in hand, or of the last one: its logs go there. */
  owner: PoolClient;
  /** Terminated by the pool, or ended: takes no more messages. */
  ended: boolean;
  /** The id of the message parsed ahead in this worker, waiting for its run. */
  preparedId: number | undefined;
}

/** A message sent ahead: its worker, and when the request was posted. */
interface Prepared {
  slot: Slot;
  id: number;
  posted: Promise<void>;
}

/** Larger sources are not copied ahead: memory over a parse saved. */
const PREPARE_MAX_BYTES = 1024 * 1024;

const MAX_TIMER_MS = 2 ** 31 - 1;
/** At least this long for a worker to start and import the module, whatever handlerTimeout is. */
const MIN_LOAD_LIMIT_MS = 60_000;

export function createThreadBudget(cap: number): ThreadBudget {
  return { cap: Math.max(1, cap), live: 0, idle: new Map(), starved: new Set() };
}

/** A pool of its own for one account, `size` workers at most, ended by `close()`. */
export function createHandlerPool(options: HandlerPoolOptions): HandlerPool {
  const { setup, size, timeoutMs, memoryLimit, onLog } = options;
  const shared = createSharedPool({ file: setup.file, dryRun: setup.dryRun }, memoryLimit, createThreadBudget(size));
  const pool = shared.client({ account: setup.account, folder: setup.folder, saveAttachments: setup.saveAttachments, timeoutMs, onLog });
  return { ...pool, close: () => shared.close() };
}

export function createSharedPool(setup: WorkerSetup, memoryLimit: number, budget: ThreadBudget): SharedPool {
  const slots = new Set<Slot>();
  const exited = new Set<Promise<void>>();
  /** Messages waiting for a worker of this pool, first come first served. */
  const waiting: Array<{ owner: PoolClient; take: (slot: Slot) => void }> = [];
  let lastPreparedId = 0;

  function nextWaiting(): { owner: PoolClient; take: (slot: Slot) => void } | undefined {
    const next = waiting.shift();
    if (waiting.length === 0) budget.starved.delete(retryStarved);
    return next;
  }

  function start(owner: PoolClient): Slot {
    const worker = startWorker(setup, memoryLimit);
    budget.live += 1;
    worker.once('online', keepYoungGenerationLimit);
    let loaded: (error?: Error) => void = () => {};
    const slot: Slot = {
      worker,
      job: undefined,
      owner,
      ended: false,
      preparedId: undefined,
      ready: new Promise<void>((resolve, reject) => {
        loaded = (error) => (error === undefined ? resolve() : reject(error));
      }),
    };
    for (const stream of [worker.stdout, worker.stderr]) {
      const lines = splitLines((text) => slot.owner.onLog(text));
      stream.on('data', lines.push);
      stream.on('end', lines.end);
    }
    // The main thread imported the module already, so a worker that never loads is rare; the
    // limit is generous, as starting a worker on a loaded machine can take seconds.
    const { timeoutMs } = owner;
    const loadLimitMs = Math.max(timeoutMs, MIN_LOAD_LIMIT_MS);
    const loadTimer =
      timeoutMs > 0 && Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            loaded(new HandlerTimeoutError(`handler ${setup.file}: the module did not load within ${formatDuration(loadLimitMs)} in a worker thread`, { account: slot.owner.account }));
            end(slot);
          }, Math.min(loadLimitMs, MAX_TIMER_MS))
        : undefined;
    slot.ready.then(
      () => clearTimeout(loadTimer),
      () => clearTimeout(loadTimer),
    );

    worker.on('message', (reply: WorkerReply) => {
      switch (reply.type) {
        case 'ready':
          loaded();
          return;
        case 'load-failed':
          loaded(loadError(setup, reply.error, reply.importFailed));
          end(slot);
          return;
        case 'log':
          slot.owner.onLog(reply.text);
          return;
        case 'result':
          settle(slot, (job) => job.resolve(reply.value));
          return;
        case 'unsendable-result':
          settle(slot, (job) => job.resolve(new UnsendableResult(reply.description)));
          return;
        case 'threw':
          settle(slot, (job) => job.reject(fromSentError(reply.error)));
          return;
        case 'parse-failed':
          settle(slot, (job) => job.reject(new ParseError(reply.message)));
          return;
        case 'fault':
          fail(slot, `handler failed: ${reply.reason}${detail(reply.error)}; its worker thread was replaced`);
          return;
      }
    });
    // Not caught by the worker's own handlers (a crash while starting, out of memory).
    worker.on('error', (error) => {
      if ((error as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        const limit = `handlerMemoryLimit: ${formatMegabytes(memoryLimit)}`;
        loaded(new HandlerLoadError(`handler ${setup.file}: its worker thread ran out of memory while loading the module (${limit}); raise handlerMemoryLimit`, { cause: error }));
        fail(slot, `handler failed: its worker thread ran out of memory (${limit}) and was replaced; raise handlerMemoryLimit if the handler needs more`);
        return;
      }
      loaded(new HandlerLoadError(`handler ${setup.file}: its worker thread failed: ${error.message}`, { cause: error }));
      fail(slot, `handler failed: its worker thread crashed: ${error.message}`);
    });
    const gone = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        loaded(new HandlerLoadError(`handler ${setup.file}: its worker thread ended (exit code ${code}) before the module was loaded`));
        fail(slot, `handler failed: its worker thread ended (exit code ${code})`);
        resolve();
      });
    });
    // Forgotten once gone: a watch replaces workers for as long as it runs.
    exited.add(gone);
    void gone.then(() => exited.delete(gone));
    slots.add(slot);
    return slot;
  }

  /**
   * The job in hand gets its answer; the worker is free for the next message, or waits
   * unref'd, or ends when another module's pool waits for room.
   */
  function settle(slot: Slot, answer: (job: Job) => void): void {
    const { job } = slot;
    if (job === undefined) return;
    clearTimeout(job.timer);
    slot.job = undefined;
    answer(job);
    if (slot.ended) return;
    const next = nextWaiting();
    if (next) next.take(slot);
    else if (budget.starved.size > 0) end(slot);
    else {
      budget.idle.set(slot, () => end(slot, false));
      slot.worker.unref();
    }
  }

  /** The worker is lost: the message in hand fails with `reason`, and the worker goes. */
  function fail(slot: Slot, reason: string): void {
    end(slot);
    const { account } = slot.owner;
    settle(slot, (job) => job.reject(new HandlerThrewError(reason, { account })));
  }

  /** `wake`: the room made goes to a waiting message (not when it was made for one already). */
  function end(slot: Slot, wake = true): void {
    if (slot.ended) return;
    slot.ended = true;
    slots.delete(slot);
    budget.idle.delete(slot);
    budget.live -= 1;
    void slot.worker.terminate();
    // A message waiting for a worker gets a new one in place of this one; else another pool may.
    if (!wake) return;
    const next = nextWaiting();
    if (next) void acquire(next.owner).then(next.take);
    else wakeStarved();
  }

  function wakeStarved(): void {
    for (const retry of budget.starved) {
      if (budget.live >= budget.cap) return;
      budget.starved.delete(retry);
      retry();
    }
  }

  /** Room for one more worker: under the cap, or made by ending an idle worker of another pool. */
  function roomForWorker(): boolean {
    if (budget.live < budget.cap) return true;
    const [evict] = budget.idle.values();
    evict?.();
    return budget.live < budget.cap;
  }

  /** Started when room is made: this pool's waiting messages get new workers. */
  function retryStarved(): void {
    while (waiting.length > 0 && roomForWorker()) {
      const next = nextWaiting()!;
      next.take(start(next.owner));
    }
    if (waiting.length > 0) budget.starved.add(retryStarved);
  }

  /** A free worker, `preferred` if it is free, reserved (its `job` set) before anything else can pick it. */
  function acquire(owner: PoolClient, preferred?: Slot): Promise<Slot> {
    let free: Slot | undefined = preferred !== undefined && preferred.job === undefined && !preferred.ended ? preferred : undefined;
    for (const slot of slots) if (slot.job === undefined && !slot.ended) free ??= slot;
    free ??= roomForWorker() ? start(owner) : undefined;
    if (free === undefined) {
      // Every worker of this pool is busy (or it has none) and the budget is spent.
      if (slots.size === 0) budget.starved.add(retryStarved);
      return new Promise<Slot>((resolve) => waiting.push({ owner, take: (slot) => resolve(reserve(slot, owner)) }));
    }
    return Promise.resolve(reserve(free, owner));
  }

  function reserve(slot: Slot, owner: PoolClient): Slot {
    slot.job = { resolve: () => {}, reject: () => {}, timer: undefined };
    slot.owner = owner;
    budget.idle.delete(slot);
    return slot;
  }

  function client(owner: PoolClient): HandlerPool {
    const { timeoutMs } = owner;
    const limited = timeoutMs > 0 && Number.isFinite(timeoutMs);
    const context: MessageContext = { account: owner.account, folder: owner.folder, saveAttachments: owner.saveAttachments };
    let lastHandedOver = Promise.resolve();
    const preparedOf = new WeakMap<FetchedMessage, Prepared>();

    function prepare(message: FetchedMessage): void {
      if (message.raw.byteLength >= PREPARE_MAX_BYTES || preparedOf.has(message)) return;
      let slot: Slot | undefined;
      for (const candidate of slots) {
        if (candidate.ended || candidate.preparedId !== undefined) continue;
        if (candidate.job === undefined) {
          slot = candidate;
          break;
        }
        slot ??= candidate;
      }
      if (slot === undefined) return;
      const id = (lastPreparedId += 1);
      const target = slot;
      target.preparedId = id;
      const copy = new Uint8Array(message.raw);
      // Posted after the messages before it: the worker parses in the order it handles.
      const posted = lastHandedOver.then(() => {
        if (target.ended || target.preparedId !== id) return;
        const request: PrepareRequest = { type: 'prepare', id, context, uid: message.uid, flags: message.flags, size: message.size, raw: copy };
        try {
          target.worker.postMessage(request, [copy.buffer]);
        } catch {
          // Not sent: the message goes whole at its run, as without this.
          target.preparedId = undefined;
        }
      });
      preparedOf.set(message, { slot: target, id, posted });
    }

    async function run(message: FetchedMessage, ref: number | undefined): Promise<unknown> {
      // Handed over in the order asked for, even when a later message's worker is ready first.
      const turn = lastHandedOver;
      let handedOver = () => {};
      lastHandedOver = new Promise<void>((resolve) => (handedOver = resolve));
      const prepared = preparedOf.get(message);
      preparedOf.delete(message);
      const slot = await acquire(owner, prepared?.slot);
      try {
        await slot.ready;
        await turn;
        await prepared?.posted;
      } catch (error) {
        slot.job = undefined;
        handedOver();
        throw error;
      }
      handedOver();
      return new Promise<unknown>((resolve, reject) => {
        const job: Job = { resolve, reject, timer: undefined };
        if (slot.ended) {
          reject(new HandlerThrewError('handler failed: its worker thread ended before the message was handed over', { account: owner.account }));
          return;
        }
        slot.job = job;
        slot.owner = owner;
        if (limited) {
          job.timer = setTimeout(() => {
            end(slot);
            settle(slot, (timedOut) =>
              timedOut.reject(new HandlerTimeoutError(`handler timed out after ${formatDuration(timeoutMs)}; its worker thread was stopped`, { account: owner.account })),
            );
          }, Math.min(timeoutMs, MAX_TIMER_MS));
        }
        slot.worker.ref();
        if (prepared !== undefined && prepared.slot.preparedId === prepared.id) {
          prepared.slot.preparedId = undefined;
          if (prepared.slot === slot) {
            const call: CallRequest = { type: 'call', id: prepared.id, ref };
            slot.worker.postMessage(call);
            return;
          }
          // Another worker was free first: this one drops its copy.
          const forget: ForgetRequest = { type: 'forget', id: prepared.id };
          if (!prepared.slot.ended) prepared.slot.worker.postMessage(forget);
        }
        const request = (raw: Uint8Array): HandleRequest => ({ type: 'handle', context, uid: message.uid, ref, flags: message.flags, size: message.size, raw });
        const { view, transfer } = transferable(message.raw);
        try {
          slot.worker.postMessage(request(view), transfer);
        } catch {
          // An ArrayBuffer Node marked untransferable (newer Nodes refuse it): a copy is.
          const copy = new Uint8Array(message.raw);
          slot.worker.postMessage(request(copy), [copy.buffer]);
        }
      });
    }

    // The workers are the module's, not this account's: they stay for the next cycle.
    return { run, prepare, close: async () => {} };
  }

  async function close(): Promise<void> {
    budget.starved.delete(retryStarved);
    for (const slot of [...slots]) end(slot);
    await Promise.all(exited);
  }

  return { client, close };
}

/**
 * A result the worker could not send as it is (a class instance, a function): resolved as
 * this, and refused by the caller as `normaliseResult` would refuse the value itself.
 */
export class UnsendableResult {
  constructor(readonly description: string) {}
}

/**
 * The bytes to send and the buffer to transfer. A Buffer that is a slice of a larger
 * ArrayBuffer (Node's pool of small Buffers, a chunk of a stream) is copied first:
 * transferring its ArrayBuffer would empty every other Buffer on it.
 */
function transferable(raw: Buffer): { view: Uint8Array; transfer: ArrayBuffer[] } {
  const owns = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer;
  const view = owns ? raw : new Uint8Array(raw);
  return { view, transfer: [view.buffer as ArrayBuffer] };
}

function loadError(setup: WorkerSetup, sent: SentError, importFailed: boolean): HandlerLoadError {
  const error = fromSentError(sent);
  if (!importFailed) return new HandlerLoadError(error.message, { cause: error });
  const description = describeLoadError(error, setup.file);
  return new HandlerLoadError(`handler ${formatLoadError(description, setup.file)}`, { cause: error, detail: description.frame });
}

function detail(error: SentError | undefined): string {
  if (error === undefined) return '';
  const line = (error.message.split('\n')[0] ?? '').trim();
  return `: ${line === '' ? error.name : line}`;
}

function formatMegabytes(bytes: number): string {
  const mb = Math.floor(bytes / 1024 ** 2);
  return mb % 1024 === 0 ? `${mb / 1024}GB` : `${mb}MB`;
}

/**
 * The worker's entry beside this file: `handler-worker.js` in dist/ and in the bundle (its
 * own entry point there), `handler-worker.ts` when running from source under tsx.
 */
function startWorker(setup: WorkerSetup, memoryLimit: number): Worker {
  const extension = path.extname(fileURLToPath(import.meta.url));
  const entry = new URL(`./handler-worker${extension}`, import.meta.url);
  // A limit on the old generation also makes V8 grow the heap by smaller steps between
  // collections (bench/ANALYSIS.md); the young one stays small (young-generation.ts).
  const resourceLimits = { maxOldGenerationSizeMb: Math.max(1, Math.floor(memoryLimit / 1024 ** 2)), maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };
  const options = { workerData: setup, stdout: true, stderr: true, resourceLimits };
  if (extension !== '.ts') return new Worker(entry, options);
  // Node 20 does not give a worker the parent's `--import tsx` hooks for its entry: import it through tsx.
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(entry.href)}))`;
  return new Worker(code, { ...options, eval: true });
}
