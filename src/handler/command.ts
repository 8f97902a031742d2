/**
 * A command handler (`command:`): a program run once per message. It reads the RFC 822
 * source on stdin, finds the metadata in `MAILPOLL_*` environment variables, and answers
 * with its exit status and the last non-empty line of its stdout, read in the vocabulary of
 * a JS handler's result (README, "Command handlers"). The programs are started by the command
 * launcher (launcher.ts), a small process that forks far more cheaply than mailpoll can.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { isSecret } from '../redact.js';
import type { AccountConfig, CommandSpec } from '../config/types.js';
import { stopGroup, trackGroup, untrackGroup } from '../process-group.js';
import { HandlerLoadError, TemporaryHandlerError, InvalidResultError } from '../errors.js';
import { runProgram } from './launcher.js';
import { describeValue } from './result.js';
import type { HandlerContext, HandlerResult, LoadedHandler, MailMessage } from './types.js';

/** sysexits.h EX_TEMPFAIL: "try again later", as an MDA says it to sendmail. */
export const EX_TEMPFAIL = 75;

/** After TERM, the process group has this long before KILL. */
const KILL_GRACE_MS = 5000;

/** A longer output line is cut here: a decision is short, and a log line need not be whole. */
const MAX_LINE_CHARS = 64 * 1024;

/**
 * The handler for `command`, after checking that its program can be run (a missing or not
 * executable program would otherwise fail every message until quarantine). Command handlers
 * need only the header block parsed: the program reads the source itself.
 */
export async function loadCommandHandler(
  command: CommandSpec,
  account: Pick<AccountConfig, 'handlerTimeout'>,
): Promise<LoadedHandler> {
  await checkCommand(command);
  return {
    parse: 'headers',
    // What the program printed is any word: normaliseResult checks it, as it checks a JS handler's.
    fn: (message, context) => runCommand(command, message, context, account.handlerTimeout) as Promise<HandlerResult>,
  };
}

/**
 * Throws HandlerLoadError when the program of an argv command is not an executable file
 * (a bare name is looked up in PATH). The string form is left to the shell.
 */
export async function checkCommand(command: CommandSpec, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (command.shell) return;
  const program = command.argv[0]!;
  const candidates = program.includes('/')
    ? [program]
    : (env.PATH ?? '').split(':').filter((dir) => dir !== '').map((dir) => path.join(dir, program));
  for (const candidate of candidates) {
    const problem = await executableProblem(candidate);
    if (problem === undefined) return;
    if (candidates.length === 1) throw new HandlerLoadError(`command ${program}: ${problem}`);
  }
  throw new HandlerLoadError(`command ${program}: not found in PATH`);
}

async function executableProblem(file: string): Promise<string | undefined> {
  const info = await stat(file).catch(() => undefined);
  if (info === undefined) return 'file not found';
  if (!info.isFile()) return 'not a file';
  return access(file, constants.X_OK).then(
    () => undefined,
    () => 'not executable (chmod +x it, or name its interpreter first: ["python3", "handle.py"])',
  );
}

/** What the program answered, before `normaliseResult` reads it. */
async function runCommand(command: CommandSpec, message: MailMessage, context: HandlerContext, timeoutMs: number): Promise<unknown> {
  const [program, ...args] = command.argv as [string, ...string[]];
  let decision: string | undefined;
  const stdout = splitLines((line) => {
    if (line.trim() === '') return;
    if (decision !== undefined) context.log(decision);
    decision = line;
  });
  let lastError: string | undefined;
  const stderr = splitLines((line) => {
    context.log(line);
    if (line.trim() !== '') lastError = line.trim();
  });

  // runHandler's own timer reports the timeout; this one stops the programs.
  let group: number | undefined;
  let timedOut = false;
  const stop = () => {
    if (group !== undefined) void stopGroup(group, KILL_GRACE_MS);
  };
  const limited = timeoutMs > 0 && Number.isFinite(timeoutMs);
  const termTimer = limited
    ? setTimeout(() => {
        timedOut = true;
        stop();
      }, Math.min(timeoutMs, 2 ** 31 - 1))
    : undefined;

  const { code, signal } = await runProgram(
    { file: program, args, cwd: command.cwd, env: commandEnv(message, context), stdin: message.raw },
    {
      started: (pgid) => {
        group = pgid;
        trackGroup(pgid);
        // Started by the launcher after the time was up.
        if (timedOut) stop();
      },
      stdout: stdout.push,
      stderr: stderr.push,
    },
  ).finally(() => {
    clearTimeout(termTimer);
    // What a program that exited normally left running is its own business; a timed-out group gets its KILL.
    if (!timedOut && group !== undefined) untrackGroup(group);
  });
  stdout.end();
  stderr.end();

  const why = lastError === undefined ? '' : `: ${lastError}`;
  if (signal !== null) throw new Error(`command killed by ${signal}${why}`);
  if (code === EX_TEMPFAIL) {
    throw new TemporaryHandlerError(`handler failed: command exited with ${EX_TEMPFAIL} (temporary failure, tried again by the next run; not counted towards maxAttempts)${why}`);
  }
  if (code !== 0) throw new Error(`command exited with ${code}${why}`);
  return decision === undefined ? undefined : readDecision(decision.trim());
}

/** The stdout line as a result: a code 1-4 as a number, a JSON object parsed, any other word as it is. */
function readDecision(line: string): unknown {
  if (/^[1-4]$/.test(line)) return Number(line);
  if (!line.startsWith('{')) return line;
  try {
    return JSON.parse(line) as unknown;
  } catch (error) {
    throw new InvalidResultError(`command printed ${describeValue(line)}, which is not valid JSON (${(error as Error).message})`);
  }
}

/** Calls `onLine` per line of UTF-8 text arriving in chunks (CRLF or LF), the unterminated tail at `end()`. */
export function splitLines(onLine: (line: string) => void): { push: (chunk: Uint8Array) => void; end: () => void } {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const emit = (line: string) => onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  return {
    push: (chunk) => {
      pending += decoder.write(chunk);
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        emit(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
      if (pending.length > MAX_LINE_CHARS) {
        emit(pending.slice(0, MAX_LINE_CHARS));
        pending = '';
      }
    },
    end: () => {
      pending += decoder.end();
      if (pending !== '') emit(pending);
      pending = '';
    },
  };
}

/** mailpoll's environment without its secrets, plus the message's metadata. */
function commandEnv(message: MailMessage, context: HandlerContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('MAILPOLL_') && !isSecret(value)) env[name] = value;
  }
  const metadata: Record<string, string> = {
    MAILPOLL_ACCOUNT: message.account,
    MAILPOLL_FOLDER: message.folder,
    MAILPOLL_UID: message.uid,
    MAILPOLL_REF: message.ref === undefined ? '' : String(message.ref),
    MAILPOLL_MESSAGE_ID: message.messageId ?? '',
    MAILPOLL_FROM: message.from?.text ?? '',
    MAILPOLL_SUBJECT: message.subject ?? '',
    MAILPOLL_DATE: message.date !== undefined && !Number.isNaN(message.date.getTime()) ? message.date.toISOString() : '',
    MAILPOLL_SIZE: String(message.size),
    MAILPOLL_FLAGS: message.flags.join(' '),
    MAILPOLL_DRY_RUN: context.dryRun ? '1' : '0',
  };
  for (const [name, value] of Object.entries(metadata)) env[name] = withoutControls(value);
  // With saveAttachments only. Paths of our own making (save-attachments.ts: no control characters), one per line.
  if (message.savedAttachments !== undefined) env.MAILPOLL_ATTACHMENTS = message.savedAttachments.join('\n');
  return env;
}

/**
 * A header value safe for an environment variable and a terminal: escape sequences dropped
 * whole, line breaks and tabs as one space, other control characters removed.
 */
export function withoutControls(value: string): string {
  return value
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '') // CSI: colours, cursor moves
    .replace(/\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?/g, '') // OSC: window titles, links
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
}
