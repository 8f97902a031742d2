/**
 * Run one command as its own process and measure it: wall time from spawn to exit
 * (process.hrtime around the child), peak RSS from GNU time's `%M` (the largest resident
 * set of the process or any of its waited-for children, e.g. fetchmail's MDA) and CPU time
 * from `%U + %S` (the process and its waited-for children: fetchmail's MDAs count).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export function haveGnuTime(): boolean {
  return existsSync(GNU_TIME);
}

export interface RunSpec {
  command: string;
  args: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
}

export interface Measurement {
  wallS: number;
  /** Peak RSS in bytes; null without GNU time. */
  peakRss: number | null;
  /** User + system CPU seconds of the process and its waited-for children; null without GNU time. */
  cpuS: number | null;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** Bytes kept of a child's stdout/stderr (10,000 `--json` events are ~4 MB). */
const MAX_CAPTURE = 64 * 1024 * 1024;

export async function measure(spec: RunSpec): Promise<Measurement> {
  const useTime = haveGnuTime();
  const dir = useTime ? await mkdtemp(path.join(os.tmpdir(), 'mailpoll-bench-time-')) : '';
  const timeFile = path.join(dir, 'time');
  const [command, args] = useTime
    ? [GNU_TIME, ['-f', '%e %M %U %S', '-o', timeFile, '--', spec.command, ...spec.args]]
    : [spec.command, spec.args];
  try {
    const result = await new Promise<Omit<Measurement, 'peakRss' | 'cpuS'>>((resolve, reject) => {
      const started = process.hrtime.bigint();
      const child = spawn(command, args, {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        if ((outBytes += chunk.length) <= MAX_CAPTURE) out.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        if ((errBytes += chunk.length) <= MAX_CAPTURE) err.push(chunk);
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, spec.timeoutMs ?? 600_000);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      // 'exit' is the end of the process; 'close' also waits for its pipes. A daemonizing
      // grandchild holding them open must not count: take the time at 'exit'.
      let wallS = 0;
      child.once('exit', () => {
        wallS = Number(process.hrtime.bigint() - started) / 1e9;
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({
          wallS,
          code,
          signal,
          timedOut,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        });
      });
    });
    let peakRss: number | null = null;
    let cpuS: number | null = null;
    if (useTime) {
      const text = await readFile(timeFile, 'utf8').catch(() => '');
      // The last line is ours; a signal adds `Command terminated by signal N` before it.
      const last = text.trim().split('\n').at(-1) ?? '';
      const match = /^([\d.]+) (\d+) ([\d.]+) ([\d.]+)$/.exec(last);
      if (match) {
        peakRss = Number(match[2]) * 1024;
        cpuS = Number(match[3]) + Number(match[4]);
      }
    }
    return { ...result, peakRss, cpuS };
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
