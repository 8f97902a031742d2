/**
 * commander declarations only: options in, an options object out, a call into commands/.
 * Each action returns an exit code; main.ts is the only place that exits.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { type ExitCode, UsageError } from '../errors.js';

export interface ProgramContext {
  version: string;
  /** Aborted on the first SIGINT/SIGTERM: finish the message in hand, then stop. */
  signal: AbortSignal;
  /** Receives the exit code of the action that ran. */
  setExitCode: (code: ExitCode) => void;
  cwd: string;
}

const EXAMPLES = `
Examples:
  $ mailpoll                           one cycle over every enabled account
  $ mailpoll -c /etc/mailpoll.yaml --json
  $ mailpoll --dry-run -a support      run the handler, change nothing on the server
  $ mailpoll --first                   stop after the first processed message
  $ mailpoll --watch --interval 30s    keep running (systemd, a container); SIGTERM stops cleanly
  $ mailpoll check                     log in to each account and show its counts
  $ mailpoll history --status failed   what failed, newest first
  $ mailpoll show 42 --raw > msg.eml   the exact source of the message with ref 42
  $ mailpoll init --dir /etc/mailpoll  write an example config and handler there
  $ mailpoll purge --dry-run           what retention would delete now, deleting nothing
  $ mailpoll schema > schema.json      the config's JSON Schema, for editors

  cron, every minute (each line in the log starts with its time):
  * * * * *  cd /srv/mail && mailpoll -q >> /var/log/mailpoll.log 2>&1

Exit codes: 0 ok (also: nothing to do), 1 a message failed, 2 usage or config error,
3 an account was unreachable, refused the login, failed TLS or timed out (3 wins over 1),
70 a bug in mailpoll, 130 interrupted by a second signal.`;

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const configOption = (): Option => new Option('-c, --config <file>', 'config file (default: searched from the current folder)');
const accountOption = (): Option =>
  new Option('-a, --account <name>', 'only this account (repeatable; also runs disabled accounts)').argParser(collect);
const storeOption = (): Option =>
  new Option('--store <path|url>', 'the store: a SQLite file or postgres://user@host:5432/db (default: $MAILPOLL_STORE, else store: in the config, else $XDG_STATE_HOME/mailpoll/mailpoll.db)');
const jsonOption = (): Option => new Option('--json', 'NDJSON events on stdout (schema in the README)');
const verboseOption = (): Option => new Option('-v, --verbose', 'protocol log, stack traces and each message\'s server uid');

/** Every command: the ISO time prefix of log lines (default: when the stream is not a terminal). */
function addTimestampOptions(command: Command): void {
  command
    .addOption(new Option('--timestamps', 'prefix every log line with its ISO time (default when stdout/stderr is not a terminal)'))
    .addOption(new Option('--no-timestamps', 'no time prefix, even in a pipe or a file'));
}

/**
 * The top-level help lists the default command's options too: `mailpoll -c FILE --json` is
 * what most people type, and `mailpoll --help` is where they look for it.
 */
function defaultCommandHelp(program: Command, run: Command): string {
  const help = program.createHelp();
  const options = help.visibleOptions(run).filter((option) => option.long !== '--help');
  const width = Math.max(...options.map((option) => help.optionTerm(option).length));
  const rows = options.map((option) => `  ${help.optionTerm(option).padEnd(width)}  ${help.optionDescription(option)}`);
  return `\nOptions of the default command (mailpoll [run] [options]):\n${rows.join('\n')}\n`;
}

export function createProgram(context: ProgramContext): Command {
  const program = new Command('mailpoll')
    .description('Poll IMAP, POP3 and Maildir mailboxes and hand every new message to your handler script.')
    .version(context.version, '--version')
    .showSuggestionAfterError();

  const run = program
    .command('run', { isDefault: true })
    .description('poll every enabled account once (the default command)')
    .addOption(configOption())
    .addOption(accountOption())
    .option('-s, --script <file>', 'handler module for every account (overrides script:)')
    .addOption(storeOption())
    .addOption(jsonOption())
    .option('--dry-run', 'run the handler but change nothing on the server; report what would have happened')
    .option('--limit <n>', 'at most N messages per account this run', positiveInteger)
    .option('--first', 'stop after the first successfully processed message')
    .option('-q, --quiet', 'report only failures and errors')
    .addOption(verboseOption())
    .option('-w, --watch', 'keep running: a cycle every interval (see the watch command)')
    .option('--interval <duration>', 'with --watch: cycle every DURATION (default: interval: of each account, 60s)')
    .option('--until <time>', 'with --watch: stop cleanly at an ISO time or after a duration (3h)')
    .option('--listen <address>', 'with --watch: serve /healthz, /readyz and /metrics at HOST:PORT (or a port, on 127.0.0.1)')
    .addHelpText('after', EXAMPLES)
    .action(async (options) => {
      if (options.watch) {
        if (options.dryRun || options.first || options.limit !== undefined) {
          throw new UsageError('--watch cannot be combined with --dry-run, --first or --limit');
        }
        const { watchCommand } = await import('./commands/watch.js');
        context.setExitCode(await watchCommand(options, context.signal));
        return;
      }
      if (options.interval !== undefined || options.until !== undefined || options.listen !== undefined) {
        throw new UsageError('--interval, --until and --listen need --watch');
      }
      const { runCommand } = await import('./commands/run.js');
      context.setExitCode(await runCommand(options, context.signal));
    });

  program
    .command('watch')
    .description('keep running: cycles on each account\'s interval or schedule, IMAP IDLE where idle: true, reconnect backoff; SIGHUP reloads the config')
    .addOption(configOption())
    .addOption(accountOption())
    .option('-s, --script <file>', 'handler module for every account (overrides script:)')
    .addOption(storeOption())
    .addOption(jsonOption())
    .option('--interval <duration>', 'cycle every DURATION, for every account (default: interval: of each account, 60s)')
    .option('--until <time>', 'stop cleanly at an ISO time (2026-12-01T18:00:00Z) or after a duration (3h)')
    .option('--listen <address>', 'serve /healthz, /readyz and /metrics at HOST:PORT (or a port, on 127.0.0.1); overrides listen:')
    .option('-q, --quiet', 'report only failures and errors')
    .addOption(verboseOption())
    .action(async (options) => {
      const { watchCommand } = await import('./commands/watch.js');
      context.setExitCode(await watchCommand(options, context.signal));
    });

  program
    .command('check')
    .description('connect and log in to each account, show folder, total and unseen counts and quarantined messages; exit 3 if any fails')
    .addOption(configOption())
    .addOption(accountOption())
    .addOption(storeOption())
    .addOption(jsonOption())
    .addOption(verboseOption())
    .action(async (options) => {
      const { checkCommand } = await import('./commands/check.js');
      context.setExitCode(await checkCommand(options));
    });

  program
    .command('validate')
    .description('check the config and print it resolved, secrets shown as ***; contacts no server')
    .addOption(configOption())
    .addOption(accountOption())
    .option('-s, --script <file>', 'handler module for every account (overrides script:)')
    .addOption(verboseOption())
    .action(async (options) => {
      const { validateCommand } = await import('./commands/validate.js');
      context.setExitCode(await validateCommand(options));
    });

  program
    .command('try')
    .description('run one handler on one saved message as a dry run: the fields it saw, its decision, what that would do; no server, no ledger change')
    .argument('<message>', 'an .eml file, - for stdin, or a ref whose raw copy is in the store\'s archive')
    .option('-s, --script <file>', 'handler module (no config needed)')
    .option('--command <line>', 'command handler, run by /bin/sh -c in the current folder (no config needed)')
    .option('--webhook <url>', 'webhook handler (no config needed)')
    .addOption(new Option('--webhook-body <kind>', 'with --webhook: what is sent').choices(['raw', 'json']))
    .option('-a, --account <name>', "this account's handler, after, moveTo and handlerTimeout (a handler given above replaces its handler)")
    .addOption(configOption())
    .addOption(storeOption())
    .option('--json', 'one JSON document on stdout')
    .addOption(verboseOption())
    .addHelpText('after', `
Examples:
  $ mailpoll try message.eml -s ./handler.mjs
  $ mailpoll try - --command ./handle.py < message.eml
  $ mailpoll try 42 -a support            the archived copy of ref 42, with support's handler

Exit codes: 0 a valid decision, 1 the handler failed (its stack is shown), 2 usage, or a handler that cannot be loaded.`)
    .action(async (message: string, options) => {
      const { tryCommand } = await import('./commands/try.js');
      context.setExitCode(await tryCommand(message, options));
    });

  program
    .command('history')
    .description('runs and per-message outcomes from the store, newest first')
    .addOption(configOption())
    .addOption(storeOption())
    .option('-a, --account <name>', 'only this account')
    .option('--since <duration>', 'only what happened within this long (1h, 1d, 7d)')
    .option('--status <state>', 'only messages in this state: received, handled, done, failed, quarantined')
    .option('--limit <n>', 'at most N runs and N messages (default 50)', positiveInteger)
    .addOption(jsonOption())
    .action(async (options) => {
      const { historyCommand } = await import('./commands/history.js');
      context.setExitCode(await historyCommand(options));
    });

  program
    .command('show')
    .description("one message's record: headers, decision, attempts, errors; --raw writes its archived source")
    .argument('<ref>', 'the ref from the report (ref:42) or from history')
    .option('--raw', 'write the archived RFC 822 source to stdout (mailpoll show 42 --raw > msg.eml)')
    .addOption(configOption())
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (ref: string, options) => {
      const { showCommand } = await import('./commands/show.js');
      context.setExitCode(await showCommand(ref, options));
    });

  program
    .command('baseline')
    .description('record the mail already in each account as skipped, without calling the handler or touching it on the server: later runs hand over only new mail')
    .addOption(configOption())
    .addOption(accountOption())
    .addOption(storeOption())
    .addOption(jsonOption())
    .option('--dry-run', 'count what would be recorded; record nothing')
    .addOption(verboseOption())
    .action(async (options) => {
      const { runCommand } = await import('./commands/run.js');
      context.setExitCode(await runCommand({ ...options, baseline: true }, context.signal));
    });

  program
    .command('retry')
    .description('release quarantined (or failed) messages: the next run hands them to the handler again (moved back from quarantineFolder first)')
    .argument('[refs...]', 'refs from the report or from history')
    .option('-a, --account <name>', 'every quarantined message of this account (repeatable)', collect)
    .option('--all', 'every quarantined message in the store')
    .addOption(configOption())
    .addOption(storeOption())
    .addOption(verboseOption())
    .action(async (refs: string[], options) => {
      const { retryCommand } = await import('./commands/retry.js');
      context.setExitCode(await retryCommand(refs, options));
    });

  program
    .command('purge')
    .description('delete raw copies older than retentionDays and ledger rows older than ledgerDays (runs also do this)')
    .addOption(configOption())
    .addOption(storeOption())
    .addOption(jsonOption())
    .option('--dry-run', 'count what would be deleted; delete nothing')
    .action(async (options) => {
      const { purgeCommand } = await import('./commands/purge.js');
      context.setExitCode(await purgeCommand(options));
    });

  program
    .command('workers')
    .description('the live workers on the store (every --watch process on it) and the accounts each holds')
    .addOption(configOption())
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (options) => {
      const { workersCommand } = await import('./commands/workers.js');
      context.setExitCode(await workersCommand(options));
    });

  const secret = program.command('secret').description('stored secrets (passwordSecret, clientSecretSecret, OAuth2 refresh tokens): encrypted beside the store; no command prints a value');
  secret
    .command('set')
    .description('store a secret: read from a prompt that does not echo, or from stdin (first line)')
    .argument('<name>', 'the name accounts use (passwordSecret: NAME)')
    .addOption(configOption())
    .addOption(storeOption())
    .action(async (name: string, options) => {
      const { secretSetCommand } = await import('./commands/secret.js');
      context.setExitCode(await secretSetCommand(name, options));
    });
  secret
    .command('list')
    .description('names and dates of the stored secrets, never values')
    .addOption(configOption())
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (options) => {
      const { secretListCommand } = await import('./commands/secret.js');
      context.setExitCode(await secretListCommand(options));
    });
  secret
    .command('delete')
    .description('remove a stored secret')
    .argument('<name>')
    .addOption(configOption())
    .addOption(storeOption())
    .action(async (name: string, options) => {
      const { secretDeleteCommand } = await import('./commands/secret.js');
      context.setExitCode(await secretDeleteCommand(name, options));
    });

  const auth = program.command('auth').description('OAuth2 sign-in of auth: oauth2 accounts');
  auth
    .command('login')
    .description('sign an account in and store its refresh token: the device-code flow where the provider has one, else the browser (loopback redirect, PKCE)')
    .argument('<account>')
    .option('--browser', 'the browser flow even when a device endpoint exists')
    .addOption(configOption())
    .addOption(storeOption())
    .action(async (name: string, options) => {
      const { authLoginCommand } = await import('./commands/auth.js');
      context.setExitCode(await authLoginCommand(name, options, context.signal));
    });
  auth
    .command('status')
    .description('per oauth2 account: grant, access token expiry, last refresh (never a token); exit 3 if one is not signed in')
    .argument('[account]')
    .addOption(configOption())
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (name: string | undefined, options) => {
      const { authStatusCommand } = await import('./commands/auth.js');
      context.setExitCode(await authStatusCommand(name, options));
    });

  program
    .command('init')
    .description('write an annotated example config and handler (an existing file is kept unless --force)')
    .option('--dir <folder>', 'write into this folder (created if missing) instead of the current one')
    .option('--force', 'overwrite the config and handler if they exist')
    .action(async (options) => {
      const { initCommand } = await import('./commands/init.js');
      context.setExitCode(await initCommand({ ...options, cwd: context.cwd }));
    });

  program
    .command('schema')
    .description("print the config file's JSON Schema (editors complete and check the config with it)")
    .action(async () => {
      const { schemaCommand } = await import('./commands/schema.js');
      context.setExitCode(await schemaCommand());
    });

  for (const command of program.commands) addTimestampOptions(command);
  program.addHelpText('after', () => defaultCommandHelp(program, run) + EXAMPLES);
  return program;
}
