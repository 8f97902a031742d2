/**
 * One run of a command handler's program, started by whichever process runs it: the command
 * launcher (launcher-main.ts) or, where there is none, mailpoll itself. Node built-ins only,
 * so that the launcher stays small.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

/** What to run: the program, its arguments, folder, environment and stdin. */
export interface ProgramSpec {
  file: string;
  args: string[];
  cwd: string | undefined;
  env: NodeJS.ProcessEnv;
  stdin: Uint8Array;
}

/** Where the program's output goes as it arrives, and its process group once it runs. */
export interface ProgramIO {
  started(pgid: number): void;
  stdout(chunk: Uint8Array): void;
  stderr(chunk: Uint8Array): void;
}

/** How the program ended. */
export interface ProgramExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** After the program exits, how long its pipes may stay open (held by a child it left running). */
const DRAIN_MS = 200;

/**
 * Run `spec` in its own process group (so that a timeout reaches the children it starts
 * too), its stdin fed with `spec.stdin`; resolves once it has exited and its output is
 * delivered. Rejects when it cannot be started (a missing program: ENOENT).
 */
export async function spawnProgram(spec: ProgramSpec, io: ProgramIO): Promise<ProgramExit> {
  const child = spawn(spec.file, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  // A program that does not read its stdin closes it early: not a failure.
  child.stdin.on('error', () => {});
  child.stdin.end(spec.stdin);
  child.stdout.on('data', io.stdout);
  child.stderr.on('data', io.stderr);
  if (child.pid !== undefined) io.started(child.pid);
  const exit = await new Promise<ProgramExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  await drain(child.stdout, child.stderr);
  return exit;
}

/**
 * Wait until both pipes close, or DRAIN_MS once the program has exited: a child left running
 * may hold them. A pipe often closes before the exit is seen: then there is nothing to wait for.
 */
async function drain(...streams: Readable[]): Promise<void> {
  const open = streams.filter((stream) => !stream.closed);
  if (open.length === 0) return;
  const closed = open.map((stream) => new Promise<void>((resolve) => stream.once('close', () => resolve())));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, DRAIN_MS);
  });
  await Promise.race([Promise.all(closed), late]);
  clearTimeout(timer);
  for (const stream of streams) stream.destroy();
}
