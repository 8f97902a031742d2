/**
 * The entry point: run the program, map errors to exit codes, handle signals.
 * The only place that calls process.exit.
 */
import { readFileSync } from 'node:fs';
import { capErrorText, ConfigError, ExitCode, HandlerLoadError, MailpollError } from '../errors.js';
import { allowForcedCollection } from '../poll/memory.js';
import { messagesInHand } from '../poll/in-hand.js';
import { redact } from '../redact.js';
import { escapeControls } from '../report/sanitize.js';
import { limitYoungGeneration } from '../young-generation.js';
import { checkCommandName } from './command-name.js';
import { writeCommanderDiagnostic, writeDiagnostic as writeErr } from './diagnostic.js';
import { isoTime, outputClock } from './timestamps.js';

const verbose = process.argv.includes('-v') || process.argv.includes('--verbose');
const json = process.argv.includes('--json');
const controller = new AbortController();
let exitCode: number = ExitCode.ok;

// First signal: finish the message in hand, log out, exit normally. Second: leave at once.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    const what = messagesInHand() > 0 ? 'stopping after the message in hand' : 'stopping';
    writeErr(`mailpoll: ${signal}: ${what} (again to exit at once)`);
    controller.abort();
  });
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function reportError(error: unknown, CommanderError: typeof import('commander').CommanderError): number {
  if (error instanceof CommanderError) {
    // commander has printed its message already; help and --version exit 0.
    return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (json) writeErrorEvent(error);
  if (error instanceof ConfigError) {
    for (const problem of error.problems) writeErr(problem);
  } else if (error instanceof MailpollError) {
    writeErr(`mailpoll: ${verbose ? error.message : capErrorText(error.message)}`);
    // The offending line of a handler's syntax error: one escaped line each.
    if (error instanceof HandlerLoadError) for (const line of error.detail) writeErr(line);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    writeErr(`mailpoll: internal error: ${verbose ? message : capErrorText(message)}${verbose ? '' : ' (run with --verbose for details)'}`);
  }
  if (verbose) printStack(error);
  return error instanceof MailpollError ? error.exitCode : ExitCode.internal;
}

/**
 * Under --json, stdout says why the command ended too: one `error` event, so that a program
 * reading the NDJSON stream is not left with nothing. The problems are the lines stderr shows.
 */
function writeErrorEvent(error: unknown): void {
  const mailpollError = error instanceof MailpollError ? error : undefined;
  const problems = error instanceof ConfigError ? error.problems : [error instanceof Error ? error.message : String(error)];
  const event = {
    type: 'error',
    time: isoTime(outputClock()()),
    code: mailpollError?.code ?? 'E_INTERNAL',
    error: capErrorText(problems.join('; ')),
    problems: problems.map((problem) => capErrorText(problem)),
    exitCode: mailpollError?.exitCode ?? ExitCode.internal,
  };
  process.stdout.write(`${escapeControls(redact(JSON.stringify(event)))}\n`);
}

function printStack(error: unknown): void {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth += 1) {
    const text = depth === 0 ? (current.stack ?? current.message) : `caused by: ${current.stack ?? current.message}`;
    for (const line of text.split('\n')) writeErr(line);
    current = current.cause;
  }
}

async function main(): Promise<void> {
  // `mailpoll --version` alone: the same line commander would print, without loading it.
  if (process.argv.length === 3 && process.argv[2] === '--version') {
    process.stdout.write(`${version()}\n`, () => process.exit(ExitCode.ok));
    return;
  }
  // The process is ours: mailpoll may start V8 collections and keep V8's young generations
  // small, to bound a long run's memory.
  allowForcedCollection();
  limitYoungGeneration();
  const [{ CommanderError }, { createProgram }] = await Promise.all([import('commander'), import('./program.js')]);
  const program = createProgram({
    version: version(),
    signal: controller.signal,
    setExitCode: (code) => {
      exitCode = code;
    },
    cwd: process.cwd(),
  });
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  // commander's own errors (an unknown option) are diagnostics like ours: stamped the same way.
  for (const command of [program, ...program.commands]) command.configureOutput({ writeErr: writeCommanderDiagnostic });
  try {
    await checkCommandName(program, process.argv.slice(2));
    await program.parseAsync(process.argv);
  } catch (error) {
    exitCode = reportError(error, CommanderError);
  }
  // Exit explicitly: a library timer or socket must not keep a cron job alive. Flush stdout and
  // stderr first (a long --verbose text to a pipe is still being written).
  process.stdout.write('', () => process.stderr.write('', () => process.exit(exitCode)));
}

await main();
