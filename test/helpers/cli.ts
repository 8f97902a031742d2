/** Run the real CLI as a child process, the way cron would. */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeAtExit } from './temp.js';

export const BIN = fileURLToPath(new URL('../../bin/mailpoll.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

const TEST_STATE_HOME = removeAtExit(join(tmpdir(), `mailpoll-test-state-${process.pid}`));

/** The prefix of a time-stamped line: ISO 8601, UTC, milliseconds, one space. */
export const TIME_PREFIX = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z /;

/**
 * `text` without the time prefix of its lines. Tests run the CLI with pipes, where log lines
 * are stamped (the default cron and services see); assertions on what a line says use this,
 * test/timestamps.test.ts asserts the prefixes themselves on the raw output.
 */
export function withoutTimestamps(text: string): string {
  return text.replace(new RegExp(TIME_PREFIX.source, 'gm'), '');
}

function result(code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): CliResult {
  return {
    code,
    signal,
    stdout: withoutTimestamps(stdout),
    stderr: withoutTimestamps(stderr),
    rawStdout: stdout,
    rawStderr: stderr,
    events: parseEvents(stdout),
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout with the time prefix of each log line taken off (`rawStdout` has it). */
  stdout: string;
  /** stderr with the time prefix of each line taken off (`rawStderr` has it). */
  stderr: string;
  /** stdout as written: the CLI's pipes are not terminals, so its log lines start with an ISO time. */
  rawStdout: string;
  rawStderr: string;
  /** stdout parsed as NDJSON (only meaningful with --json). */
  events: Array<Record<string, unknown>>;
}

export interface RunCliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Written to the CLI's stdin, which is then closed (default: no stdin). */
  input?: Buffer | string;
}

export function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? process.cwd(),
      // Never the real ~/.local/state: a store left to its default lands in a temp folder.
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, XDG_STATE_HOME: TEST_STATE_HOME, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Closed at once without input: the CLI sees an empty stdin, never a terminal.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(result(code, signal, stdout, stderr));
    });
  });
}

function parseEvents(stdout: string): Array<Record<string, unknown>> {
  const events: Array<Record<string, unknown>> = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not NDJSON output
    }
  }
  return events;
}

/**
 * A fresh temp folder with a `mailpoll.config.json` holding `config`. Returns the folder.
 * Unless the config names one, its store is `mailpoll.db` in that folder: each test its own ledger.
 */
export async function writeConfig(config: Record<string, unknown>, dir?: string): Promise<string> {
  const folder = dir ?? (await makeTempDir('cli'));
  const withStore = 'store' in config ? config : { store: './mailpoll.db', ...config };
  // Private, as a config holding a literal password must be (README, "File permissions").
  await writeFile(join(folder, 'mailpoll.config.json'), JSON.stringify(withStore, null, 2), { mode: 0o600 });
  return folder;
}

export function messageEvents(result: CliResult): Array<Record<string, unknown>> {
  return result.events.filter((event) => event.type === 'message');
}

export interface LiveCli {
  /** NDJSON events so far (grows while the process runs). */
  events: Array<Record<string, unknown>>;
  /** stderr so far, the time prefixes taken off. */
  stderr: () => string;
  /** Resolves with the first event (in order) for which `match` is true, waiting for it if need be. */
  waitFor(match: (event: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  signal(name: NodeJS.Signals): void;
  /** The CLI's process id (to read what it holds in /proc). */
  pid: number;
  exited: Promise<CliResult>;
}

/** Start the CLI and keep it running (watch mode); events are read as they are written. */
export function startCli(args: string[], options: RunCliOptions = {}): LiveCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, XDG_STATE_HOME: TEST_STATE_HOME, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Array<Record<string, unknown>> = [];
  let stdout = '';
  let stderr = '';
  let pending = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    events.push(...parseEvents(lines.join('\n')));
    for (const wake of waiters) wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const exited = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      for (const wake of waiters) wake();
      resolve(result(code, signal, stdout, stderr));
    });
  });
  let closed = false;
  void exited.then(() => (closed = true));
  return {
    events,
    stderr: () => withoutTimestamps(stderr),
    waitFor(match, what, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; events so far:\n${events.map((e) => JSON.stringify(e)).join('\n')}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const check = (): void => {
          const found = events.find(match);
          if (found !== undefined || closed) {
            clearTimeout(timer);
            waiters.delete(check);
            if (found !== undefined) resolve(found);
            else reject(new Error(`the CLI exited before ${what}; stderr:\n${stderr}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    signal: (name) => child.kill(name),
    pid: child.pid!,
    exited,
  };
}
