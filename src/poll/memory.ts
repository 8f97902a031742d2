/**
 * Bounding the memory of a long run. Every message passes through several short-lived
 * Buffers (socket chunks, imapflow's assembled literal, header slices), allocated outside
 * the V8 heap. V8 frees them only at a full collection, which it starts when such
 * "external" memory has grown by 64 MB or more: on a 10,000-message run that let the
 * resident size climb ~60 MB above a 1,000-message run (bench/RESULTS.md), with nothing
 * alive in it. After each batch, if more than `EXTERNAL_LIMIT` of it is held, mailpoll asks
 * for that collection itself: a few ms per ~30 MB of mail.
 *
 * `gc` is reached the way the `expose-gc` package does it: the flag is set at run time and
 * the function taken from a fresh context (the flag only applies to contexts made after it).
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

const EXTERNAL_LIMIT = 24 * 1024 * 1024;

let collect: (() => void) | undefined;

/** A full collection if Buffers (live or dead) hold more than EXTERNAL_LIMIT; cheap otherwise. */
export function releaseGarbage(): void {
  if (process.memoryUsage().external < EXTERNAL_LIMIT) return;
  if (collect === undefined) {
    v8.setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}
