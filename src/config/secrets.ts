/**
 * Password sources (`password`, `passwordEnv`, `passwordFile`, `passwordCommand`) and the
 * process-wide registry of secret values behind `redact`: every resolved password is
 * registered, and the reporter and error printer pass all their output through `redact`,
 * so a password never reaches a terminal or a log even if some message quotes it.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { formatDuration } from './duration.js';

export type PasswordSource = 'password' | 'passwordEnv' | 'passwordFile' | 'passwordCommand';

/** One password source as configured. */
export interface PasswordSpec {
  source: PasswordSource;
  /** The literal password, the variable name, the absolute file path or the shell command. */
  value: string;
}

export interface ResolvePasswordOptions {
  /** Working directory of `passwordCommand` (the config file's folder). */
  cwd: string;
  /** Environment of `passwordEnv` and of `passwordCommand`. */
  env: NodeJS.ProcessEnv;
  /** Milliseconds `passwordCommand` may run. Default 30 s. */
  timeout?: number | undefined;
}

/** The password, or a problem saying why there is none (no key path, never the value). */
export type ResolvePasswordResult = { password: string; problem?: undefined } | { password?: undefined; problem: string };

/** Default time limit of `passwordCommand`. */
export const PASSWORD_COMMAND_TIMEOUT = 30_000;

/** Secrets shorter than this are not redacted (replacing `a` everywhere would garble output). */
const MIN_SECRET_LENGTH = 3;
const MAX_OUTPUT = 1024 * 1024;

const secrets = new Set<string>();
let pattern: RegExp | undefined;

/** Add a value to the secrets `redact` hides. Values shorter than 3 characters are ignored. */
export function registerSecret(value: string | undefined): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
  // Also the form it takes inside a JSON string (NDJSON reports), when that differs.
  const escaped = JSON.stringify(value).slice(1, -1);
  for (const variant of [value, escaped]) {
    if (!secrets.has(variant)) {
      secrets.add(variant);
      pattern = undefined;
    }
  }
}

/** `text` with every registered secret replaced by `***`. */
export function redact(text: string): string {
  if (secrets.size === 0) return text;
  if (pattern === undefined) {
    const alternatives = [...secrets]
      .sort((a, b) => b.length - a.length)
      .map((secret) => secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    pattern = new RegExp(alternatives.join('|'), 'g');
  }
  return text.replace(pattern, '***');
}

/** The first line of `text`, without its line ending. */
function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}

/** Resolve one password source, registering the result with `redact`. Never throws. */
export async function resolvePassword(spec: PasswordSpec, options: ResolvePasswordOptions): Promise<ResolvePasswordResult> {
  const result = await resolve(spec, options);
  if (result.password !== undefined) registerSecret(result.password);
  return result;
}

async function resolve(spec: PasswordSpec, options: ResolvePasswordOptions): Promise<ResolvePasswordResult> {
  switch (spec.source) {
    case 'password':
      return { password: spec.value };
    case 'passwordEnv': {
      const value = options.env[spec.value];
      if (value === undefined) return { problem: `environment variable ${spec.value} is not set` };
      if (value === '') return { problem: `environment variable ${spec.value} is empty` };
      return { password: value };
    }
    case 'passwordFile':
      return readPasswordFile(spec.value);
    case 'passwordCommand':
      return runPasswordCommand(spec.value, options);
  }
}

async function readPasswordFile(file: string): Promise<ResolvePasswordResult> {
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : (code ?? String(error));
    return { problem: `cannot read ${file}: ${reason}` };
  }
  const password = firstLine(content);
  if (password === '') return { problem: `${file} is empty (its first line is the password)` };
  return { password };
}

function truncate(text: string, length = 200): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/**
 * Run `command` with `/bin/sh -c` and take the first line of its stdout. stdin is closed so
 * a command waiting for input fails instead of hanging; stdout never appears in a problem.
 */
function runPasswordCommand(command: string, options: ResolvePasswordOptions): Promise<ResolvePasswordResult> {
  const timeout = options.timeout ?? PASSWORD_COMMAND_TIMEOUT;
  return new Promise((resolvePromise) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const finish = (result: ResolvePasswordResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolvePromise(result);
    };
    const child = spawn('/bin/sh', ['-c', command], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      // A grandchild may still hold the pipes open: stop waiting for them.
      child.stdout.destroy();
      child.stderr.destroy();
    }, timeout);
    timer.unref();
    child.on('error', (error) => finish({ problem: `cannot run the command: ${error.message}` }));
    child.on('close', (code, signal) => {
      const detail = truncate(firstLine(stderr.trim()));
      const because = detail === '' ? '' : `: ${detail}`;
      if (timedOut) return finish({ problem: `the command did not finish within ${formatDuration(timeout)}` });
      if (signal !== null) return finish({ problem: `the command was killed by ${signal}${because}` });
      if (code !== 0) return finish({ problem: `the command failed with exit code ${code}${because}` });
      const password = firstLine(stdout);
      if (password === '') return finish({ problem: `the command printed no password${because}` });
      finish({ password });
    });
  });
}
