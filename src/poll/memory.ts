/**
 * Bounding the memory of a long run. Every message passes through several short-lived
 * Buffers (socket chunks, imapflow's assembled literal, header slices), allocated outside
 * the V8 heap. V8 frees them only at a full collection, which it starts when such
 * "external" memory has grown by 64 MB or more: on a long run that lets the resident size
 * climb tens of MB with nothing alive in it (figures: bench/ANALYSIS.md). After each batch, if more than `EXTERNAL_LIMIT` of it is held, mailpoll asks
 * for that collection itself.
 *
 * Asked as an incremental one (`execution: 'async'`): V8 marks in steps between tasks and
 * on its helper threads. A full stop-the-world collection per batch cost a full-parse run
 * (where Buffers pile up fastest) a noticeable share of its time; the incremental one frees
 * as much at a fraction of that (bench/ANALYSIS.md).
 *
 * `gc` is reached the way the `expose-gc` package does it: the flag is set at run time and
 * the function taken from a fresh context (the flag only applies to contexts made after it).
 * That flag is the whole process's, so a program using mailpoll as a library opts in
 * (`allowForcedCollection`); the CLI does, a library caller's process is left as it is.
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

const EXTERNAL_LIMIT = 24 * 1024 * 1024;

type Collect = (options: { type: 'major'; execution: 'async' }) => void;
let collect: Collect | undefined;
let allowed = false;

/**
 * Let mailpoll start V8 collections itself after each batch: it sets `--expose-gc` in this
 * process. Keeps a long run's memory bounded (README, "Speed and memory").
 */
export function allowForcedCollection(): void {
  allowed = true;
}

/** Start a full collection if allowed and Buffers (live or dead) hold more than EXTERNAL_LIMIT; cheap otherwise. */
export function releaseGarbage(): void {
  if (!allowed || process.memoryUsage().external < EXTERNAL_LIMIT) return;
  collect ??= exposeGc();
  collect({ type: 'major', execution: 'async' });
}

function exposeGc(): Collect {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Collect;
}
