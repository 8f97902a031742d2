// What a command handler's program costs through the command launchers, without a mailbox:
// runProgram() (dist/handler/launcher.js) from a parent of mailpoll's size, one program after
// another or N at once, 20 KB on stdin. Prints wall ms per program, the parent's CPU, and the
// launchers' own CPU and written (anonymous) memory, which a fork copies the page tables of.
// Run it against two builds in turn (--dist) to compare them on a shared machine.
//
//   node bench/launcher-cost.mjs [--n 300] [--concurrency 1] [--command dd|sh] [--ballast 100] [--dist dist]
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '1' },
    command: { type: 'string', default: 'dd' },
    ballast: { type: 'string', default: '100' },
    dist: { type: 'string', default: 'dist' },
  },
});
const launcher = await import(pathToFileURL(resolve(values.dist, 'handler/launcher.js')).href);
const n = Number(values.n);
const concurrency = Number(values.concurrency);
// mailpoll's main process is 100-150 MB resident in a run: what a spawn of its own would fork.
const ballast = Array.from({ length: Number(values.ballast) }, () => Buffer.alloc(1 << 20, 1));
const env = { ...process.env, MAILPOLL_ACCOUNT: 'bench', MAILPOLL_SUBJECT: 'hello' };
const stdin = Buffer.alloc(20 * 1024, 'x');
const spec =
  values.command === 'sh'
    ? { file: '/bin/sh', args: ['-c', 'cat > /dev/null'], cwd: undefined, env, stdin }
    : { file: 'dd', args: ['of=/dev/null', 'status=none'], cwd: undefined, env, stdin };
const io = { started() {}, stdout() {}, stderr() {} };

async function runMany(count) {
  let next = 0;
  const lane = async () => {
    while (next++ < count) await launcher.runProgram(spec, io);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** The launchers running now (the builds before one per core had a single launcherPid()). */
function pids() {
  if (launcher.launcherPids) return launcher.launcherPids();
  const pid = launcher.launcherPid?.();
  return pid === undefined ? [] : [pid];
}

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 100 ticks a second
}

function anonymousMB(pid) {
  return Number(/Anonymous:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]) / 1024;
}

await runMany(30); // launchers started, code warm
const before = new Map(pids().map((pid) => [pid, cpuMs(pid)]));
const parentBefore = process.cpuUsage();
const started = performance.now();
await runMany(n);
const wall = (performance.now() - started) / n;
const parent = process.cpuUsage(parentBefore);
const now = pids();
const launcherCpu = now.reduce((sum, pid) => sum + cpuMs(pid) - (before.get(pid) ?? 0), 0) / n;
const anon = now.map((pid) => anonymousMB(pid).toFixed(1)).join(' + ');
process.stdout.write(
  `${values.command} x${concurrency} (${values.dist}): ${wall.toFixed(2)} ms per program; ` +
    `parent CPU ${((parent.user + parent.system) / 1000 / n).toFixed(2)} ms; ` +
    `${now.length} launcher(s): CPU ${launcherCpu.toFixed(2)} ms, written memory ${anon} MB\n`,
);
ballast.length = 0;
process.exit(0);
