// Preloaded by `npm run bench:profile -- --memory` (node --import): samples memory every
// 50 ms in the main thread and in every worker thread (handler workers are started through
// a wrapper that loads this file first), and at exit writes to stderr
// - the peak of each process.memoryUsage() field of the main thread;
// - what the resident set was made of at its peak: the process's RSS split by the kernel
//   (anonymous memory, mapped files such as code and shared libraries, shared memory such as
//   SQLite's WAL index), each thread's V8 heap (committed, used, young generation) and the
//   Buffers/ArrayBuffers outside it;
// - the same at the end of the run.
// With MEMORY_PROBE_OUT=FILE every sample is also written there, one JSON line each.
// With MEMORY_PROBE_SNAPSHOT=SECONDS the main thread writes a heap snapshot at that time (in
// the temporary folder; its name on stderr); MEMORY_PROBE_WORKER_SNAPSHOT=SECONDS, each
// worker thread, that long after it started (memory-probe-PID-worker-ID.heapsnapshot).
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

const channel = new BroadcastChannel('mailpoll-memory-probe');
channel.unref();
const started = Date.now();
const MB = 1048576;

function heapOf() {
  const usage = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]));
  return {
    thread: threadId,
    heapTotal: usage.heapTotal,
    heapUsed: usage.heapUsed,
    newSpace: spaces.new_space ?? 0,
    oldSpace: (spaces.old_space ?? 0) + (spaces.code_space ?? 0) + (spaces.map_space ?? 0) + (spaces.large_object_space ?? 0) + (spaces.code_large_object_space ?? 0) + (spaces.new_large_object_space ?? 0),
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    rss: usage.rss,
  };
}

if (!isMainThread) {
  // A worker: its heap figures go to the main thread's probe.
  const timer = setInterval(() => channel.postMessage(heapOf()), 50);
  timer.unref();
  const snapshotAt = Number(process.env.MEMORY_PROBE_WORKER_SNAPSHOT);
  if (snapshotAt > 0) setTimeout(() => v8.writeHeapSnapshot(path.join(os.tmpdir(), `memory-probe-${process.pid}-worker-${threadId}.heapsnapshot`)), snapshotAt * 1000).unref();
} else {
  const workers = new Map();
  channel.onmessage = (event) => workers.set(event.data.thread, { ...event.data, at: Date.now() });
  const out = process.env.MEMORY_PROBE_OUT;
  if (out) writeFileSync(out, '');

  // Workers load this file before their entry, so their heaps are sampled as well.
  const require = createRequire(import.meta.url);
  const threads = require('node:worker_threads');
  const Original = threads.Worker;
  const self = new URL(import.meta.url).href;
  threads.Worker = class ProbedWorker extends Original {
    constructor(entry, options = {}) {
      const target = options.eval ? null : entry instanceof URL ? entry.href : new URL(entry, `file://${process.cwd()}/`).href;
      if (target === null) super(`import(${JSON.stringify(self)}).then(() => { ${entry} })`, options);
      else super(`import(${JSON.stringify(self)}).then(() => import(${JSON.stringify(target)}))`, { ...options, eval: true });
    }
  };
  syncBuiltinESMExports();

  const kernel = () => {
    const fields = {};
    for (const line of readFileSync('/proc/self/status', 'utf8').split('\n')) {
      const match = /^(VmRSS|RssAnon|RssFile|RssShmem|VmHWM):\s+(\d+) kB/.exec(line);
      if (match) fields[match[1]] = Number(match[2]) * 1024;
    }
    return fields;
  };
  const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  let atPeak;
  let last;
  const sample = () => {
    const usage = process.memoryUsage();
    for (const key of Object.keys(peak)) peak[key] = Math.max(peak[key], usage[key]);
    const now = Date.now();
    const live = [...workers.values()].filter((worker) => now - worker.at < 500);
    last = { t: (now - started) / 1000, kernel: kernel(), main: heapOf(), workers: live };
    if (out) appendFileSync(out, `${JSON.stringify(last)}\n`);
    if (atPeak === undefined || last.kernel.VmRSS >= atPeak.kernel.VmRSS) atPeak = last;
  };
  setInterval(sample, 50).unref();
  // MEMORY_PROBE_SMAPS=SECONDS (or `exit`): /proc/self/smaps copied to the temporary folder then.
  const copySmaps = () => writeFileSync(path.join(os.tmpdir(), `memory-probe-${process.pid}.smaps`), readFileSync('/proc/self/smaps'));
  const smapsAt = Number(process.env.MEMORY_PROBE_SMAPS);
  if (smapsAt > 0) setTimeout(copySmaps, smapsAt * 1000).unref();
  if (process.env.MEMORY_PROBE_SMAPS === 'exit') process.on('exit', copySmaps);
  const snapshotAt = Number(process.env.MEMORY_PROBE_SNAPSHOT);
  if (snapshotAt > 0) setTimeout(() => process.stderr.write(`memory-probe snapshot: ${v8.writeHeapSnapshot(path.join(os.tmpdir(), `memory-probe-${process.pid}.heapsnapshot`))}\n`), snapshotAt * 1000).unref();

  const mb = (bytes) => `${((bytes ?? 0) / MB).toFixed(0)}`;
  const describe = (label, s) => {
    const k = s.kernel;
    const heaps = [s.main, ...s.workers];
    const v8Total = heaps.reduce((sum, h) => sum + h.heapTotal, 0);
    const buffers = heaps.reduce((sum, h) => sum + h.external, 0);
    const thread = (name, h) => `${name} heap ${mb(h.heapTotal)} (used ${mb(h.heapUsed)}, young ${mb(h.newSpace)}, old+code+large ${mb(h.oldSpace)}), external ${mb(h.external)} (arrayBuffers ${mb(h.arrayBuffers)})`;
    return [
      `memory-probe ${label} at ${s.t.toFixed(1)} s: rss ${mb(k.VmRSS)} MB = anon ${mb(k.RssAnon)} + file ${mb(k.RssFile)} + shmem ${mb(k.RssShmem)}; V8 heaps ${mb(v8Total)}, external ${mb(buffers)}, anon not in them ${mb(k.RssAnon - v8Total - buffers)}`,
      `memory-probe   ${thread('main', s.main)}`,
      ...s.workers.map((w) => `memory-probe   ${thread(`worker ${w.thread}`, w)}`),
    ].join('\n');
  };
  process.on('exit', () => {
    sample();
    const lines = [`memory-probe peak: ${Object.entries(peak).map(([key, value]) => `${key} ${mb(value)} MB`).join(', ')}; VmHWM ${mb(last.kernel.VmHWM)} MB`];
    if (atPeak) lines.push(describe('at the sampled peak', atPeak));
    lines.push(describe('at exit', last));
    process.stderr.write(`${lines.join('\n')}\n`);
  });
}
