/**
 * `mailpoll --watch` processes of one accounts-bench case, and what the bench reads off them
 * while they run: every `--json` event on their stdout (messages handled, cycles, `worker`
 * events), the resident memory of each (VmRSS and the kernel's own peak, VmHWM, from
 * /proc/PID/status), and the connections established to Dovecot's port (the server's side
 * and each process's side, from /proc/net/tcp: what `ss -tn` reads, without a process per
 * sample). The case
 * ends with SIGTERM to each process (a clean stop after the message in hand).
 *
 * With `strace`, each process runs under `strace -f --seccomp-bpf -ttt -e trace=fsync,fdatasync`:
 * only those two rare calls stop the process, so the count costs next to nothing; their
 * times let the bench count those before and after every message was handled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** One cycle of one account, as its `cycle` event says. */
export interface CycleSample {
  account: string;
  /** When the cycle started (event time minus its duration), epoch ms. */
  startedAt: number;
  /** When the previous cycle of this account said the next would start (its `nextAt`), epoch ms; null for the first. */
  plannedAt: number | null;
  status: string;
}

export interface WorkerFigures {
  pid: number;
  /** Largest VmHWM read (the kernel's peak RSS of the process), bytes. */
  peakRss: number;
  /** Most threads it had in a sample (Node's own, plus handler worker threads). */
  maxThreads: number;
  exitCode: number | null;
  signal: string | null;
  /** When each fsync and fdatasync call started (epoch ms), with `strace`. */
  syncTimes: number[] | null;
  /** The last lines of its stderr (for a case that went wrong). */
  stderrTail: string;
  /** `worker` events it wrote (a store with workers writes at least `started`). */
  workerEvents: number;
  /** Node's warnings on its stderr (`(node:PID) SomeWarning: ...`), each once. */
  warnings: string[];
  /** Messages it handled (status ok). */
  handled: number;
}

export interface Sample {
  /** Milliseconds since the processes were started. */
  atMs: number;
  /** Resident memory of each process, bytes. */
  rss: number[];
  /** Connections established to Dovecot's port: the server's side, and each process's. */
  connections: Connections;
}

interface Proc {
  child: ChildProcess;
  /** The mailpoll process itself (strace's child under strace). */
  pid: number;
  peakRss: number;
  maxThreads: number;
  stderr: string;
  warnings: Set<string>;
  workerEvents: number;
  handled: number;
  exited: Promise<{ code: number | null; signal: string | null }>;
  straceFile?: string;
}

export interface FleetSpec {
  processes: number;
  /** node, bin/mailpoll.js and its arguments (`--watch --json -c FILE`). */
  command: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  /** Dovecot's port the connections are counted on. */
  port: number;
  /** Run each under strace to count fsync/fdatasync; the summaries go to this folder. */
  straceDir?: string;
  /** Milliseconds between samples of memory and connections. */
  sampleMs: number;
}

export interface Connections {
  /** Established connections whose local port is Dovecot's (the server's side of every session). */
  server: number;
  /** Established connections to Dovecot's port held by each process (its sockets, by inode). */
  perProcess: number[];
}

/**
 * Established TCP connections to `port` (IPv4, /proc/net/tcp: what `ss -tn` reads), on the
 * server's side and on each process's: a socket of the process is a `socket:[INODE]` link
 * in /proc/PID/fd. The server's side can briefly hold more than the clients: a session the
 * client has logged out of stays established there until Dovecot has closed it.
 */
export function connectionsTo(port: number, pids: number[]): Connections {
  let text: string;
  try {
    text = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return { server: 0, perProcess: pids.map(() => 0) };
  }
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let server = 0;
  const clientInodes = new Set<string>();
  for (const line of text.split('\n')) {
    // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode": state 01 is ESTABLISHED.
    const fields = line.trim().split(/\s+/);
    if (fields[3] !== '01') continue;
    if (fields[1]?.endsWith(suffix)) server += 1;
    else if (fields[2]?.endsWith(suffix) && fields[9] !== undefined) clientInodes.add(fields[9]);
  }
  const perProcess = pids.map((pid) => {
    let count = 0;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
          if (link.startsWith('socket:[') && clientInodes.has(link.slice(8, -1))) count += 1;
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // the process is gone
    }
    return count;
  });
  return { server, perProcess };
}

/** VmRSS and VmHWM of a process, bytes (0 when it is gone). */
function memoryOf(pid: number): { rss: number; hwm: number; threads: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rss: field('VmRSS') * 1024, hwm: field('VmHWM') * 1024, threads: field('Threads') };
  } catch {
    return { rss: 0, hwm: 0, threads: 0 };
  }
}

/**
 * strace's tracee once it runs `executable` (the mailpoll process), found by its parent pid
 * and executable in /proc: strace forks a short-lived child of its own first (to check that
 * seccomp-bpf works), with strace's command line.
 */
async function tracee(parent: number, executable: string, timeoutMs = 10_000): Promise<number> {
  const wanted = realpathSync(executable);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === parent && readlinkSync(`/proc/${entry}/exe`) === wanted) return Number(entry);
      } catch {
        // gone meanwhile
      }
    }
    await sleep(20);
  }
  throw new Error(`strace (pid ${parent}) started no ${executable} within ${timeoutMs} ms`);
}

/**
 * When each fsync and fdatasync started (epoch ms), from `strace -ttt` lines such as
 * `8633 1764786000.123456 fdatasync(21) = 0` (or `... fsync(21 <unfinished ...>`).
 */
export function parseSyncTimes(trace: string): number[] {
  const times: number[] = [];
  for (const line of trace.split('\n')) {
    const match = /^(?:\d+\s+)?(\d+\.\d+) (?:fsync|fdatasync)\(/.exec(line);
    if (match) times.push(Number(match[1]) * 1000);
  }
  return times;
}

type Event = Record<string, unknown>;

export class Fleet {
  readonly spec: FleetSpec;
  readonly #procs: Proc[] = [];
  /** `account|folder|uid` of every message handled, and how often. */
  readonly #handled = new Map<string, number>();
  readonly #lastNextAt = new Map<string, number>();
  readonly cycles: CycleSample[] = [];
  readonly samples: Sample[] = [];
  /** A process wrote `cycle` or `message` events and no `worker` event before them. */
  notAWorker = false;
  failures: string[] = [];
  #started = 0;
  #sampler: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];

  constructor(spec: FleetSpec) {
    this.spec = spec;
  }

  get handled(): number {
    return this.#handled.size;
  }

  get duplicates(): number {
    let extra = 0;
    for (const count of this.#handled.values()) extra += count - 1;
    return extra;
  }

  /** Milliseconds since `start`. */
  elapsedMs(): number {
    return Date.now() - this.#started;
  }

  async start(): Promise<void> {
    this.#started = Date.now();
    for (let index = 0; index < this.spec.processes; index += 1) this.#procs.push(await this.#spawn(index));
    this.#sampler = setInterval(() => this.#sample(), this.spec.sampleMs);
    this.#sampler.unref();
    this.#sample();
  }

  /** Resolves once `done()` holds (checked at every event and sample), false after `timeoutMs` or when a process ended. */
  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) return false;
      if (this.#procs.some((proc) => proc.child.exitCode !== null || proc.child.signalCode !== null)) return done();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  /** Each process's peak RSS so far (VmHWM), bytes. */
  peakRssNow(): number[] {
    return this.#procs.map((proc) => {
      this.#memory(proc);
      return proc.peakRss;
    });
  }

  /** SIGTERM to every mailpoll process; SIGKILL after `graceMs`. */
  async stop(graceMs = 60_000): Promise<WorkerFigures[]> {
    for (const proc of this.#procs) this.#memory(proc);
    for (const proc of this.#procs) signal(proc.pid, 'SIGTERM');
    const killer = setTimeout(() => {
      for (const proc of this.#procs) {
        signal(proc.pid, 'SIGKILL');
        proc.child.kill('SIGKILL');
      }
    }, graceMs);
    const ends = await Promise.all(this.#procs.map((proc) => proc.exited));
    clearTimeout(killer);
    if (this.#sampler) clearInterval(this.#sampler);
    return Promise.all(
      this.#procs.map(async (proc, index) => {
        const syncTimes = proc.straceFile ? parseSyncTimes(await readFile(proc.straceFile, 'utf8').catch(() => '')) : null;
        const end = ends[index] ?? { code: null, signal: null };
        return {
          pid: proc.pid,
          peakRss: proc.peakRss,
          maxThreads: proc.maxThreads,
          exitCode: end.code,
          signal: end.signal,
          syncTimes,
          stderrTail: proc.stderr.split('\n').slice(-5).join('\n').trim(),
          workerEvents: proc.workerEvents,
          warnings: [...proc.warnings],
          handled: proc.handled,
        };
      }),
    );
  }

  async #spawn(index: number): Promise<Proc> {
    const [node, ...args] = this.spec.command as [string, ...string[]];
    const straceFile = this.spec.straceDir ? path.join(this.spec.straceDir, `strace-${index}.txt`) : undefined;
    const [command, commandArgs] = straceFile
      ? ['strace', ['-f', '--seccomp-bpf', '-ttt', '-e', 'trace=fsync,fdatasync', '-o', straceFile, node, ...args]]
      : [node, args];
    const child = spawn(command, commandArgs, { cwd: this.spec.cwd, env: { ...process.env, ...this.spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('exit', (code, sig) => resolve({ code, signal: sig }));
      child.once('error', (error) => {
        this.failures.push(`process ${index}: ${error.message}`);
        resolve({ code: null, signal: null });
      });
    });
    const pid = straceFile ? await tracee(child.pid ?? -1, node) : (child.pid ?? -1);
    const proc: Proc = { child, pid, peakRss: 0, maxThreads: 0, stderr: '', warnings: new Set(), workerEvents: 0, handled: 0, exited, ...(straceFile ? { straceFile } : {}) };
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      proc.stderr = (proc.stderr + text).slice(-8192);
      for (const match of text.matchAll(/^\(node:\d+\) (\w*Warning: [^\n]*)/gm)) if (proc.warnings.size < 5) proc.warnings.add(match[1] ?? '');
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      let event: Event;
      try {
        event = JSON.parse(line) as Event;
      } catch {
        return;
      }
      this.#take(proc, event);
    });
    return proc;
  }

  #take(proc: Proc, event: Event): void {
    switch (event.type) {
      case 'worker':
        proc.workerEvents += 1;
        break;
      case 'message':
        if (proc.workerEvents === 0) this.notAWorker = true;
        if (event.status === 'ok') {
          const key = `${String(event.account)}|${String(event.folder)}|${String(event.uid)}`;
          this.#handled.set(key, (this.#handled.get(key) ?? 0) + 1);
          proc.handled += 1;
        }
        break;
      case 'cycle': {
        if (proc.workerEvents === 0) this.notAWorker = true;
        const account = String(event.account);
        const ended = Date.parse(String(event.time));
        const startedAt = ended - Number(event.durationMs ?? 0);
        this.cycles.push({ account, startedAt, plannedAt: this.#lastNextAt.get(account) ?? null, status: String(event.status) });
        if (typeof event.nextAt === 'string') this.#lastNextAt.set(account, Date.parse(event.nextAt));
        else this.#lastNextAt.delete(account);
        break;
      }
      default:
        break;
    }
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #memory(proc: Proc): number {
    const { rss, hwm, threads } = memoryOf(proc.pid);
    proc.peakRss = Math.max(proc.peakRss, hwm, rss);
    proc.maxThreads = Math.max(proc.maxThreads, threads);
    return rss;
  }

  #sample(): void {
    this.samples.push({
      atMs: this.elapsedMs(),
      rss: this.#procs.map((proc) => this.#memory(proc)),
      connections: connectionsTo(this.spec.port, this.#procs.map((proc) => proc.pid)),
    });
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
