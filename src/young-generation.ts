/**
 * V8's young generation, kept small. Each thread's V8 heap has one: two semi-spaces that V8
 * grows from 1 MB up to 16 MB each as objects survive its scavenges. On a long run (the
 * batches of a large mailbox live across many scavenges) both grow to the maximum in the
 * main thread and in each handler worker: ~30 MB of resident memory per thread, for speed
 * mailpoll does not need (bench/ANALYSIS.md).
 *
 * - The main thread's limit can only be set by a V8 flag, and `--max-semi-space-size` is
 *   read once, when the heap is made. `--semi-space-growth-factor` is read each time V8
 *   grows the young generation: at 1 it stays the size it has. The flag is the whole
 *   process's, so only a process that is mailpoll's sets it (the CLI: `limitYoungGeneration`).
 * - A handler worker's own limit is `YOUNG_GENERATION_MB` in its `resourceLimits`
 *   (handler/worker/pool.ts), whoever the process belongs to.
 *
 * Node sets V8's flags again from its command line when it starts a worker thread, which
 * undoes the first: the pool calls `keepYoungGenerationLimit` once each worker is online.
 */
import v8 from 'node:v8';

/** A handler worker's young generation at most (V8 divides it into 3: 1 MB per semi-space). */
export const WORKER_YOUNG_GENERATION_MB = 3;

let limited = false;

/** Keep the young generation of every thread of this process at the size it has now. */
export function limitYoungGeneration(): void {
  limited = true;
  keepYoungGenerationLimit();
}

/** After a worker thread started: the limit again, if this process set it. */
export function keepYoungGenerationLimit(): void {
  if (limited) v8.setFlagsFromString('--semi-space-growth-factor=1');
}
