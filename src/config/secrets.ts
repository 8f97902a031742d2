/**
 * Password sources (`password`, `passwordEnv`, `passwordFile`, `passwordCommand`,
 * `passwordSecret`; an OAuth2 `clientSecret` comes from the same ones). Every
 * resolved password is registered with `redact` (src/redact.ts), and the reporter and error
 * printer pass all their output through it, so a password never reaches a terminal or a log
 * even if some message quotes it.
 */
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { formatDuration, parseDuration } from '../duration.js';
import { registerSecret } from '../redact.js';
import { SecretStore, type SecretsLocation } from '../secrets/store.js';
import { stopGroup, trackGroup, untrackGroup } from '../process-group.js';

export type PasswordSource = 'password' | 'passwordEnv' | 'passwordFile' | 'passwordCommand' | 'passwordSecret';

/**
 * One account's password source as configured (`AccountConfig.passwordSpec`): a plain value
 * on the account, so that a copy of the account resolves its password as well.
 */
export interface PasswordSpec {
  source: PasswordSource;
  /** The literal password, the variable name, the absolute file path or the shell command. Never printed. */
  value: string;
  /** The key that gave it, as problems name it: `mailpoll.yaml: accounts[0].passwordEnv`. */
  where: string;
  /** Working directory of `passwordCommand`: the config file's folder. */
  cwd: string;
}

export interface ResolvePasswordOptions {
  /** Working directory of `passwordCommand` (the config file's folder). */
  cwd: string;
  /** Environment of `passwordEnv` and of `passwordCommand`. */
  env: NodeJS.ProcessEnv;
  /** Where `passwordSecret` reads stored secrets (beside the store). Without it, `passwordSecret` is a problem. */
  secrets?: SecretsLocation | undefined;
  /** Milliseconds `passwordCommand` may run. Default `MAILPOLL_PASSWORD_COMMAND_TIMEOUT` from `env`, else 30 s. */
  timeout?: number | undefined;
}

/** The password, or a problem saying why there is none (no key path, never the value). */
export type ResolvePasswordResult = { password: string; problem?: undefined } | { password?: undefined; problem: string };

/** Default time limit of `passwordCommand`. */
export const PASSWORD_COMMAND_TIMEOUT = 30_000;

/** A test hook: the time limit of `passwordCommand` as a duration, so tests need not wait 30 s. */
const TIMEOUT_VARIABLE = 'MAILPOLL_PASSWORD_COMMAND_TIMEOUT';

const MAX_OUTPUT = 1024 * 1024;

/**
 * Longest password accepted, in UTF-8 bytes. Real passwords and tokens are far shorter; a
 * longer value is a wrong file or command (a key, a binary) and only slows every output line.
 */
export const MAX_SECRET_BYTES = 8192;

// NUL ends strings and separates SASL PLAIN fields, CR and LF end protocol lines (a PASS line
// could carry a second command), the rest move the terminal's cursor. Tab is allowed.
const CONTROL_CHARACTER = /[\x00-\x08\x0a-\x1f]/;

/**
 * Why `value` cannot be a password, as the end of a sentence (`the first line of FILE ...`),
 * or undefined when it can. Never quotes the value.
 */
export function secretProblem(value: string): string | undefined {
  if (Buffer.byteLength(value) > MAX_SECRET_BYTES) return `is longer than ${MAX_SECRET_BYTES} bytes, too long for a password`;
  if (value.includes('\0')) return 'contains a NUL byte, which no password may hold';
  if (CONTROL_CHARACTER.test(value)) return 'contains a control character (only tab is allowed), which no password may hold';
  return undefined;
}

/** The first line of `text`, without its line ending. */
function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}

/** Resolve one password source, registering the result with `redact`. Never throws. */
export async function resolvePassword(spec: Pick<PasswordSpec, 'source' | 'value'>, options: ResolvePasswordOptions): Promise<ResolvePasswordResult> {
  const result = await resolve(spec, options);
  if (result.password !== undefined) registerSecret(result.password);
  return result;
}

/** `password`, or a problem naming where it came from (`what`) when it cannot be one. */
function accepted(password: string, what: string): ResolvePasswordResult {
  const problem = secretProblem(password);
  return problem === undefined ? { password } : { problem: `${what} ${problem}` };
}

async function resolve(spec: Pick<PasswordSpec, 'source' | 'value'>, options: ResolvePasswordOptions): Promise<ResolvePasswordResult> {
  switch (spec.source) {
    case 'password':
      return accepted(spec.value, 'the password');
    case 'passwordEnv': {
      const value = options.env[spec.value];
      if (value === undefined) return { problem: `environment variable ${spec.value} is not set` };
      if (value === '') return { problem: `environment variable ${spec.value} is empty` };
      return accepted(value, `environment variable ${spec.value}`);
    }
    case 'passwordFile':
      return readPasswordFile(spec.value);
    case 'passwordCommand':
      return runPasswordCommand(spec.value, options);
    case 'passwordSecret':
      return readStoredSecret(spec.value, options);
  }
}

async function readStoredSecret(name: string, options: ResolvePasswordOptions): Promise<ResolvePasswordResult> {
  if (options.secrets === undefined) return { problem: `the stored secret "${name}" cannot be read here (no store location)` };
  let value: string | undefined;
  try {
    value = await new SecretStore(options.secrets, options.env).get(name);
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
  if (value === undefined) return { problem: `no stored secret named "${name}" in ${options.secrets.file}; store it with \`mailpoll secret set ${name}\`` };
  return accepted(value, `the stored secret "${name}"`);
}

/**
 * The first bytes of `file`: enough to hold a first line of the longest password and its
 * line ending, so a huge file (or `/dev/zero`) is never read whole.
 */
async function readHead(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(MAX_SECRET_BYTES + 3);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

async function readPasswordFile(file: string): Promise<ResolvePasswordResult> {
  let content: string;
  try {
    content = await readHead(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : (code ?? String(error));
    return { problem: `cannot read ${file}: ${reason}` };
  }
  const password = firstLine(content);
  if (password === '') return { problem: `${file} is empty (its first line is the password)` };
  return accepted(password, `the first line of ${file}`);
}

function truncate(text: string, length = 200): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/** How long a stopped command's process group gets between SIGTERM and SIGKILL. */
const KILL_GRACE = 1000;

/**
 * Run `command` with `/bin/sh -c` and take the first line of its stdout. stdin is closed so
 * a command waiting for input fails instead of hanging; stdout never appears in a problem.
 * The command leads its own process group (and session), so that a timeout or a failure
 * ends its background children too, not only the shell.
 */
function runPasswordCommand(command: string, options: ResolvePasswordOptions): Promise<ResolvePasswordResult> {
  const fromEnv = options.env[TIMEOUT_VARIABLE];
  const timeout = options.timeout ?? (fromEnv === undefined ? PASSWORD_COMMAND_TIMEOUT : parseDuration(fromEnv));
  if (timeout === undefined) return Promise.resolve({ problem: `${TIMEOUT_VARIABLE}: expected a duration like 2s, got "${fromEnv}"` });
  return new Promise((resolvePromise) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const child = spawn('/bin/sh', ['-c', command], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pgid = child.pid;
    if (pgid !== undefined) trackGroup(pgid);
    const finish = (result: ResolvePasswordResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (pgid === undefined) return resolvePromise(result);
      // A command that worked may leave a helper behind on purpose (an agent); a failed
      // or stopped one leaves nothing.
      if (result.password !== undefined) {
        untrackGroup(pgid);
        return resolvePromise(result);
      }
      void stopGroup(pgid, KILL_GRACE).then(() => resolvePromise(result));
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      // A background child may still hold the pipes open: stop waiting for them.
      child.stdout.destroy();
      child.stderr.destroy();
      finish({ problem: `the command did not finish within ${formatDuration(timeout)}` });
    }, timeout);
    timer.unref();
    child.on('error', (error) => finish({ problem: `cannot run the command: ${error.message}` }));
    child.on('exit', (code) => {
      // A failed command's background children may hold its pipes open: end them, so that
      // 'close' comes now rather than at the timeout.
      if (code !== 0 && pgid !== undefined) void stopGroup(pgid, KILL_GRACE);
    });
    child.on('close', (code, signal) => {
      if (timedOut) return;
      const detail = truncate(firstLine(stderr.trim()));
      const because = detail === '' ? '' : `: ${detail}`;
      if (signal !== null) return finish({ problem: `the command was killed by ${signal}${because}` });
      if (code !== 0) return finish({ problem: `the command failed with exit code ${code}${because}` });
      const password = firstLine(stdout);
      if (password === '') return finish({ problem: `the command printed no password${because}` });
      finish(accepted(password, "the first line of the command's output"));
    });
  });
}
