/**
 * mailpoll's side of the command launchers (launcher-main.ts says why there are any): the
 * first is started on the first command-handler message and shared by every account of the
 * process, each program a request over its IPC channel. A program is sent to a launcher with
 * nothing running; when every launcher is busy, another is started, up to one per core
 * (`handlerConcurrency` above 1 then forks on every core instead of queueing behind one
 * event loop), and beyond that the least busy one runs it beside its others.
 *
 * - A launcher keeps no run alive: its channel is referenced only while a program runs, it
 *   is disconnected after IDLE_MS without one (a watch between cycles), and killed when
 *   mailpoll exits. When mailpoll dies first, the launcher sees its channel close, kills
 *   what is still running and exits.
 * - If it dies (killed, out of memory), a program it had not started yet is started again
 *   on a new launcher; one it had started fails as a temporary failure (not counted
 *   towards `maxAttempts`: the message is tried again by the next run), and its process
 *   group is stopped. The next message gets a new launcher.
 * - Where it cannot start at all, programs are spawned by mailpoll itself, as before.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { TemporaryHandlerError } from '../errors.js';
import { stopGroup } from '../process-group.js';
import type { LauncherReply, RunRequest } from './launcher-protocol.js';
import { spawnProgram, type ProgramExit, type ProgramIO, type ProgramSpec } from './spawn-program.js';

/** A launcher with no program running for this long is shut down (the next message starts one). */
const IDLE_MS = 5000;

/** After TERM, a process group orphaned by a dead launcher has this long before KILL. */
const KILL_GRACE_MS = 5000;

/**
 * The launcher's V8 heap kept small: every fork copies the page tables of its written memory
 * and every write after it faults, so a spawn costs in proportion to that memory
 * (bench/ANALYSIS.md, "Command handler launcher, round two").
 */
const LAUNCHER_FLAGS = ['--max-semi-space-size=1'];

/** Test hook (CONTRIBUTING.md): `off` spawns every program from mailpoll itself. */
const TEST_HOOK = 'MAILPOLL_TEST_LAUNCHER';

interface Request {
  spec: ProgramSpec;
  io: ProgramIO;
  resolve(exit: ProgramExit): void;
  reject(error: unknown): void;
  /** Set once the launcher started the program. */
  pgid?: number;
  /** This request already went to a launcher that died before starting it. */
  retried: boolean;
}

/** The launchers running now, oldest first. */
const launchers: CommandLauncher[] = [];
/** The launcher could not start here once: spawn directly from now on. */
let unavailable = false;
let exitHookInstalled = false;

/**
 * Run `spec` as spawnProgram does, through the launcher where there is one. Rejects with
 * TemporaryHandlerError when the launcher dies while the program runs.
 */
export function runProgram(spec: ProgramSpec, io: ProgramIO): Promise<ProgramExit> {
  return new Promise((resolve, reject) => dispatch({ spec, io, resolve, reject, retried: false }));
}

/** The pids of the launchers running now (tests check that none is left behind). */
export function launcherPids(): number[] {
  return launchers.flatMap((launcher) => (launcher.pid === undefined ? [] : [launcher.pid]));
}

function dispatch(request: Request): void {
  const launcher = unavailable ? undefined : pickLauncher();
  if (launcher === undefined) {
    spawnProgram(request.spec, request.io).then(request.resolve, request.reject);
    return;
  }
  launcher.run(request);
}

/** An idle launcher, else a new one while there are fewer than cores, else the least busy. */
function pickLauncher(): CommandLauncher | undefined {
  let least: CommandLauncher | undefined;
  for (const launcher of launchers) if (least === undefined || launcher.running < least.running) least = launcher;
  if (least !== undefined && (least.running === 0 || launchers.length >= availableParallelism())) return least;
  const entry = launcherEntry();
  if (entry === undefined) {
    unavailable = true;
    return least;
  }
  const started = new CommandLauncher(entry);
  launchers.push(started);
  return started;
}

function forget(launcher: CommandLauncher): void {
  const index = launchers.indexOf(launcher);
  if (index !== -1) launchers.splice(index, 1);
}

/** The launcher's own file: beside this module (built: dist/bin/ or dist/handler/; from source, with tsx). */
function launcherEntry(): { file: string; execArgv: string[] } | undefined {
  if (process.env[TEST_HOOK] === 'off') return undefined;
  const built = fileURLToPath(new URL('./launcher-main.js', import.meta.url));
  // None of mailpoll's own Node options (a loader, a heap size, --cpu-prof) is the launcher's business.
  if (existsSync(built)) return { file: built, execArgv: LAUNCHER_FLAGS };
  const source = fileURLToPath(new URL('./launcher-main.ts', import.meta.url));
  const viaTsx = process.execArgv.some((arg) => arg.includes('tsx'));
  return viaTsx && existsSync(source) ? { file: source, execArgv: process.execArgv } : undefined;
}

class CommandLauncher {
  private readonly child: ChildProcess;
  private readonly requests = new Map<number, Request>();
  private nextId = 1;
  private ready = false;
  private ended = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(entry: { file: string; execArgv: string[] }) {
    this.child = fork(entry.file, [], {
      execArgv: entry.execArgv,
      serialization: 'advanced',
      // Its own stderr stays mailpoll's: a crash of the launcher is seen.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.child.unref();
    this.child.on('message', (reply: LauncherReply) => this.receive(reply));
    // Every reply is read once the channel is closed: only then are the requests left known to be lost.
    let exited = false;
    let disconnected = false;
    this.child.once('exit', () => {
      exited = true;
      if (disconnected) this.end();
    });
    this.child.once('disconnect', () => {
      disconnected = true;
      if (exited) this.end();
    });
    this.child.once('error', () => this.end());
    installExitHook();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Programs sent to it and not yet ended. */
  get running(): number {
    return this.requests.size;
  }

  run(request: Request): void {
    const id = this.nextId++;
    this.requests.set(id, request);
    clearTimeout(this.idleTimer);
    this.child.channel?.ref();
    const message: RunRequest = { type: 'run', id, spec: request.spec };
    this.child.send(message, (error) => {
      // The launcher is going away: end() settles the request.
      if (error) this.child.kill('SIGKILL');
    });
  }

  /** Kill it now (mailpoll is exiting). */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  private receive(reply: LauncherReply): void {
    if (reply.type === 'ready') {
      this.ready = true;
      return;
    }
    const request = this.requests.get(reply.id);
    if (request === undefined) return;
    switch (reply.type) {
      case 'started':
        request.pgid = reply.pgid;
        request.io.started(reply.pgid);
        return;
      case 'stdout':
      case 'stderr':
        request.io[reply.type](Buffer.from(reply.chunk.buffer, reply.chunk.byteOffset, reply.chunk.byteLength));
        return;
      case 'done':
        this.settle(reply.id);
        request.resolve(reply.exit);
        return;
      case 'failed':
        this.settle(reply.id);
        request.reject(Object.assign(new Error(reply.message), { code: reply.code }));
        return;
    }
  }

  private settle(id: number): void {
    this.requests.delete(id);
    if (this.requests.size > 0) return;
    this.child.channel?.unref();
    this.idleTimer = setTimeout(() => this.shutDown(), IDLE_MS);
    this.idleTimer.unref();
  }

  private shutDown(): void {
    if (this.requests.size > 0 || this.ended) return;
    forget(this);
    if (this.child.connected) this.child.disconnect();
  }

  /** It is gone: settle what it still had. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.idleTimer);
    forget(this);
    // It never answered: it cannot run here; mailpoll spawns the programs itself.
    if (!this.ready) unavailable = true;
    const how = this.child.signalCode ? `killed by ${this.child.signalCode}` : `exited with ${this.child.exitCode ?? 'an error'}`;
    for (const request of this.requests.values()) {
      if (request.pgid === undefined && !request.retried) {
        dispatch({ ...request, retried: true });
        continue;
      }
      if (request.pgid !== undefined) void stopGroup(request.pgid, KILL_GRACE_MS);
      request.reject(
        new TemporaryHandlerError(
          `handler failed: the command launcher (pid ${this.child.pid}) ${how} while the command ran; ` +
            'the message is tried again by the next run (not counted towards maxAttempts)',
        ),
      );
    }
    this.requests.clear();
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const launcher of launchers) launcher.kill();
  });
}
