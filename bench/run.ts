/**
 * `npm run bench`: mailpoll against its floors and peers on a private Dovecot.
 * bench/README.md describes the method; `npm run bench -- --help` the options.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import {
  floorCase,
  mailpollCase,
  useMailpoll,
  useWebhook,
  mailpollConfig,
  MODES,
  nodeReferenceCase,
  peerCase,
  validateConfig,
  type Case,
  type Mode,
  type RunOutcome,
  type Verdict,
} from './lib/cases.js';
import { buildFloors, CACHE, REPO, removeWorkDir } from './lib/floors.js';
import { GNU_TIME, haveGnuTime } from './lib/measure.js';
import { findPeers, type PeerTool } from './lib/peers.js';
import { renderReport, type ReportInput } from './lib/report.js';
import { runScenario, type ScenarioResult, type ScenarioSpec } from './lib/scenario.js';
import { BenchServer, type MailboxSpec, type SeededMailbox } from './lib/server.js';
import { snapshotMailpoll } from './lib/snapshot.js';
import { systemInfo } from './lib/system.js';
import { startWebhookServer } from './lib/webhook-server.js';

const execFileAsync = promisify(execFile);

/** bench/ANALYSIS.md: the people-written explanation of the targets not met (appended to the report). */
async function readAnalysis(): Promise<string | undefined> {
  const file = path.join(REPO, 'bench', 'ANALYSIS.md');
  return existsSync(file) ? readFile(file, 'utf8') : undefined;
}

const USAGE = `usage: npm run bench -- [options]

  --n N             messages in the main mailbox (default 2000)
  --size SIZE       size of each message: 20KB, 512KB, 1MB or bytes (default 20KB)
  --runs N          runs of each mailpoll and floor case; the median is reported (default 3)
  --slow-runs N     runs of the slow cases (default 1): fetchmail, getmail6 and the shell
                    handler (a process per message: 10-100x longer than the others, and one
                    run settles a 2x or 5x ratio), and every case of the 1,000/10,000-message
                    and 50 MB scenarios (judged on peak RSS)
  --peer-modes LIST modes in which getmail6, the shell handler and the command and webhook
                    handlers run, comma-separated, or
                    "all" (default imap/markSeen,pop3/delete; fetchmail runs in all four:
                    imap/markSeen, imap/delete, pop3/keep, pop3/delete)
  --only TEXT       only cases whose "<scenario> <case>" contains TEXT (repeatable),
                    e.g. --only main --only "imap/markSeen headers" --only cold
  --skip-large      skip the 1,000/10,000-message and the 50 MB-attachment runs
  --no-peers        skip fetchmail and getmail6
  --seed N          content seed (default 42)
  --out FILE        where the Markdown goes (default bench/RESULTS.md)
  --build           run \`npm run build\` first (default: use dist/ as it is)
  --report-only     measure nothing: write --out again from the figures of the last
                    bench (kept in node_modules/.cache/mailpoll-bench/last-run.json)
  -h, --help        this text

Needs Dovecot (apt-get install dovecot-imapd dovecot-pop3d) and GNU time for peak RSS
(apt-get install time). fetchmail and getmail6 are compared when installed
(apt-get install fetchmail getmail6) and skipped with a note otherwise.
Progress goes to stderr.`;

function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$/i.exec(text);
  if (!match) throw new Error(`--size: expected 20KB, 1MB or a number of bytes, got ${text}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

const DEFAULT_PEER_MODES: Mode[] = ['imap/markSeen', 'pop3/delete'];

function parseModes(text: string | undefined): Mode[] {
  if (text === undefined) return DEFAULT_PEER_MODES;
  if (text.trim() === 'all') return [...MODES];
  const modes = text.split(',').map((mode) => mode.trim()).filter(Boolean);
  for (const mode of modes) {
    if (!(MODES as readonly string[]).includes(mode)) throw new Error(`--peer-modes: unknown mode ${mode} (known: ${MODES.join(', ')}, all)`);
  }
  return modes as Mode[];
}

function positive(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name}: expected an integer >= ${min}, got ${text}`);
  return value;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      n: { type: 'string' },
      size: { type: 'string' },
      runs: { type: 'string' },
      'slow-runs': { type: 'string' },
      'peer-modes': { type: 'string' },
      only: { type: 'string', multiple: true },
      'skip-large': { type: 'boolean' },
      'no-peers': { type: 'boolean' },
      seed: { type: 'string' },
      out: { type: 'string' },
      build: { type: 'boolean' },
      'report-only': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  return {
    help: values.help ?? false,
    n: positive('n', values.n, 2000),
    size: values.size === undefined ? 20 * 1024 : parseSize(values.size),
    runs: positive('runs', values.runs, 3),
    slowRuns: positive('slow-runs', values['slow-runs'], 1),
    peerModes: parseModes(values['peer-modes']),
    only: values.only ?? [],
    skipLarge: values['skip-large'] ?? false,
    noPeers: values['no-peers'] ?? false,
    seed: positive('seed', values.seed, 42, 0),
    out: path.resolve(values.out ?? path.join(REPO, 'bench', 'RESULTS.md')),
    build: values.build ?? false,
    reportOnly: values['report-only'] ?? false,
  };
}

type Options = ReturnType<typeof parseOptions>;

const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/**
 * The handlers in other languages: two commands and the webhook, each with the default
 * `handlerConcurrency` (1) and with one handler per core.
 */
const OTHER_LANGUAGE_HANDLERS = ['command-argv', 'command-sh', 'webhook'] as const;

/** The cases of the main scenario, grouped by mode (the order of the tables). */
function mainCases(options: Options, floors: Map<string, string>, peers: PeerTool[]): Case[] {
  const cases: Case[] = [];
  const cores = os.availableParallelism();
  for (const mode of MODES) {
    const [protocol, semantics] = mode.split('/') as ['imap' | 'pop3', string];
    const keep = semantics !== 'delete';
    const everywhere = options.peerModes.includes(mode);
    cases.push(mailpollCase({ protocol, keep, handler: 'headers', runs: options.runs }));
    cases.push(mailpollCase({ protocol, keep, handler: 'full', runs: options.runs }));
    // The full parse happens in the handler's worker threads: one per core lets it use them all.
    cases.push(mailpollCase({ protocol, keep, handler: 'full', runs: options.runs, concurrency: cores }));
    if (everywhere) {
      cases.push(mailpollCase({ protocol, keep, handler: 'shell', runs: options.slowRuns }));
      for (const handler of OTHER_LANGUAGE_HANDLERS) {
        cases.push(mailpollCase({ protocol, keep, handler, runs: options.runs }));
        cases.push(mailpollCase({ protocol, keep, handler, runs: options.runs, concurrency: cores }));
      }
    }
    const [fetch, parse] = protocol === 'imap' ? (['imapflow-fetch', 'imapflow-parse'] as const) : (['pop3-bare', 'pop3-parse'] as const);
    cases.push(floorCase(floors, fetch, keep, options.runs), floorCase(floors, parse, keep, options.runs));
    if (!options.noPeers) {
      for (const peer of peers) if (peer.name === 'fetchmail' || everywhere) cases.push(peerCase(peer, protocol, keep, options.slowRuns));
    }
  }
  return cases;
}

/** The 1,000 and 10,000-message runs: what memory does as the mailbox grows. */
function scaleCases(options: Options, floors: Map<string, string>): Case[] {
  const runs = options.slowRuns;
  return [
    mailpollCase({ protocol: 'imap', keep: true, handler: 'headers', runs }),
    mailpollCase({ protocol: 'imap', keep: true, handler: 'full', runs }),
    mailpollCase({ protocol: 'pop3', keep: false, handler: 'headers', runs }),
    floorCase(floors, 'imapflow-fetch', true, runs),
    floorCase(floors, 'pop3-bare', false, runs),
  ];
}

/** A `maxMessageSize` the configured mailpoll accepts, or why there is none. */
async function probeMaxMessageSize(server: BenchServer, user: string): Promise<{ value?: string; error?: string }> {
  const value = '10MB';
  const error = await validateConfig(mailpollConfig(server, user, { protocol: 'imap', keep: true, handler: 'headers', account: { maxMessageSize: value } }));
  return error ? { error } : { value };
}

function largeCases(options: Options, floors: Map<string, string>, maxSize: { value?: string; error?: string }): Case[] {
  const runs = options.slowRuns;
  const oversize = mailpollCase({
    protocol: 'imap',
    keep: true,
    handler: 'headers',
    runs: 1,
    id: 'mailpoll imap/markSeen headers maxMessageSize',
    account: maxSize.value ? { maxMessageSize: maxSize.value } : {},
    // Judged on one thing: the server never sent the message. What mailpoll reports
    // (skipped, failed) and its exit code are shown, not judged.
    check(outcome: RunOutcome): Verdict {
      const { sessions, mailbox, state, measurement } = outcome;
      const note = `exit code ${measurement.code}; ${state.messages} message left, ${state.unseen} unseen`;
      if (sessions.sentBytes >= mailbox.largestWire) return { valid: false, note: `downloaded: server sent ${sessions.sentBytes} bytes (${note})` };
      if (state.messages !== 1) return { valid: false, note: `the message is gone (${note})` };
      return { valid: true, note };
    },
  });
  const cases = [
    mailpollCase({ protocol: 'imap', keep: true, handler: 'headers', runs }),
    mailpollCase({ protocol: 'imap', keep: true, handler: 'full', runs }),
    mailpollCase({ protocol: 'pop3', keep: false, handler: 'headers', runs }),
    floorCase(floors, 'imapflow-fetch', true, runs),
    floorCase(floors, 'pop3-bare', false, runs),
  ];
  if (maxSize.value) cases.push(oversize);
  else cases.push({ ...oversize, skip: `this mailpoll does not accept maxMessageSize (${maxSize.error ?? 'validate failed'})` });
  return cases;
}

function coldCases(options: Options, floors: Map<string, string>, peers: PeerTool[]): Case[] {
  const runs = Math.max(options.runs, 5);
  const cases: Case[] = [
    mailpollCase({ protocol: 'imap', keep: true, handler: 'headers', runs }),
    mailpollCase({ protocol: 'pop3', keep: true, handler: 'headers', runs }),
    floorCase(floors, 'imapflow-fetch', true, runs),
    floorCase(floors, 'pop3-bare', true, runs),
  ];
  if (!options.noPeers) {
    for (const peer of peers) for (const protocol of ['imap', 'pop3'] as const) cases.push(peerCase(peer, protocol, true, runs));
  }
  cases.push(nodeReferenceCase(runs));
  return cases;
}

function matches(options: Options, scenario: string, c: Case): boolean {
  if (options.only.length === 0) return true;
  const name = `${scenario} ${c.id}`.toLowerCase();
  return options.only.some((text) => name.includes(text.toLowerCase()));
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const started = Date.now();
  const notes: string[] = [];
  const lastRun = path.join(CACHE, 'last-run.json');
  if (options.reportOnly) {
    // The figures are plain data (a case's functions are not needed to render).
    const input = JSON.parse(await readFile(lastRun, 'utf8')) as ReportInput;
    await writeFile(options.out, renderReport(input, await readAnalysis()));
    progress(`bench: wrote ${options.out} from ${lastRun}`);
    return 0;
  }

  // Preflight: what is missing is said once, with the command that installs it.
  if (!existsSync('/usr/sbin/dovecot') && !existsSync('/usr/local/sbin/dovecot')) {
    progress('bench: Dovecot is not installed. Install it with: apt-get install -y dovecot-imapd dovecot-pop3d');
    return 1;
  }
  if (options.build) {
    progress('bench: npm run build');
    await execFileAsync('npm', ['run', 'build'], { cwd: REPO });
  }
  if (!existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) {
    progress('bench: dist/ is missing: run `npm run build` first (or pass --build)');
    return 1;
  }
  if (!haveGnuTime()) {
    const note = `GNU time (${GNU_TIME}) is not installed: no peak RSS figures. Install it with: apt-get install -y time`;
    progress(`bench: ${note}`);
    notes.push(note);
  }
  const peers = await findPeers();
  for (const peer of peers) {
    if (!peer.binary && !options.noPeers) {
      const note = `${peer.name} is not installed: its cases are skipped. Install it with: ${peer.install}`;
      progress(`bench: ${note}`);
      notes.push(note);
    }
  }
  if (options.noPeers) notes.push('fetchmail and getmail6 skipped (`--no-peers`).');
  if (options.peerModes.length < MODES.length) {
    notes.push(
      `To keep the bench short, getmail6, the shell-handler case and the command and webhook handlers run only in ${options.peerModes.map((m) => `\`${m}\``).join(', ')} ` +
        '(`--peer-modes all` for every mode); their other comparisons show as not run.',
    );
  }
  // Everything below lives in this process's work folder (floors, the mailpoll copy).
  try {
    const floors = await buildFloors();
    // System facts and a copy of mailpoll as it is now: the whole bench measures this build.
    const snapshot = await snapshotMailpoll(progress);
    useMailpoll(snapshot.bin, snapshot.handlers);
    const system = { ...(await systemInfo(options.noPeers ? [] : peers)), distBuilt: snapshot.distBuilt };

    progress('bench: starting a private Dovecot');
    const server = await BenchServer.start();
    const webhook = await startWebhookServer();
    useWebhook(webhook.url);
    let stopping = false;
    const stopOnSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      progress(`bench: ${signal}, stopping Dovecot`);
      void Promise.all([server.stop(), webhook.close()]).then(removeWorkDir).finally(() => process.exit(130));
    };
    process.once('SIGINT', stopOnSignal);
    process.once('SIGTERM', stopOnSignal);

    try {
      // The bench's config must be valid for this mailpoll, or nothing can be measured.
      await server.dovecot.addUser('probe', 'probe');
      const configError = await validateConfig(mailpollConfig(server, 'probe', { protocol: 'imap', keep: true, handler: 'headers' }));
      if (configError) {
        progress(`bench: mailpoll rejects the bench's config (mailpoll validate): ${configError}`);
        return 1;
      }
      const maxSize = await probeMaxMessageSize(server, 'probe');
      if (maxSize.error) notes.push(`\`maxMessageSize\` is not accepted by this mailpoll (\`mailpoll validate\`: ${maxSize.error}): that target is n/a.`);
      notes.push(
        'mailpoll runs as `node bin/mailpoll.js -c <config> --json` with a fresh `XDG_STATE_HOME` and `HOME` per run (its own store), ' +
          'the handler modules in bench/handlers/ ((a) and (c) declare `export const parse = \'headers\'`), `tls: implicit` and the test CA. ' +
        'Floors run as plain JS (transpiled, no tsx); every case is its own process.',
      );

      const seedSpec = (user: string, count: number, extra: Partial<MailboxSpec> = {}): MailboxSpec => ({ user, count, size: options.size, seed: options.seed, ...extra });
      const plans: Array<{ name: string; title: string; mailbox: MailboxSpec; cases: Case[]; notes?: string[] }> = [
        {
          name: 'main',
          title: `${options.n.toLocaleString('en-US')} messages × ${Math.round(options.size / 1024)} KB, side by side`,
          mailbox: seedSpec('main', options.n),
          cases: mainCases(options, floors, peers),
        },
        {
          name: 'cold',
          title: 'Empty mailbox, cold start',
          mailbox: seedSpec('empty', 0),
          cases: coldCases(options, floors, peers),
        },
      ];
      if (!options.skipLarge) {
        plans.push(
          { name: 'scale-1000', title: '1,000 messages', mailbox: seedSpec('s1000', 1000), cases: scaleCases(options, floors) },
          { name: 'scale-10000', title: '10,000 messages', mailbox: seedSpec('s10000', 10_000), cases: scaleCases(options, floors) },
          {
            name: 'big-message',
            title: 'One message with a 50 MB attachment',
            mailbox: seedSpec('big', 1, { attachmentBytes: 50 * 1024 * 1024 }),
            cases: largeCases(options, floors, maxSize),
          },
        );
      } else {
        notes.push('`--skip-large`: the 1,000/10,000-message and 50 MB runs were not made.');
      }

      const results: ScenarioResult[] = [];
      const write = async (final: boolean) => {
        const input: ReportInput = {
          system,
          scenarios: results,
          command: ['npm run bench', ...(process.argv.slice(2).length > 0 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
          options,
          notes: final ? notes : [...notes, '**Incomplete**: the bench was still running (or stopped) when this was written.'],
          durationS: (Date.now() - started) / 1000,
        };
        await mkdir(path.dirname(options.out), { recursive: true });
        await writeFile(options.out, renderReport(input, await readAnalysis()));
        await mkdir(path.dirname(lastRun), { recursive: true });
        await writeFile(lastRun, JSON.stringify(input));
      };

      for (const plan of plans) {
        const cases = plan.cases.filter((c) => matches(options, plan.name, c));
        if (cases.length === 0) continue;
        progress(`bench: scenario ${plan.name}: ${plan.title} (${cases.length} cases)`);
        const mailbox: SeededMailbox = await server.seed(plan.mailbox, progress);
        const spec: ScenarioSpec = { name: plan.name, title: plan.title, mailbox, cases, ...(plan.notes ? { notes: plan.notes } : {}) };
        results.push(await runScenario(server, spec, progress));
        await write(false);
      }
      const builtNow = await stat(path.join(REPO, 'dist', 'cli', 'main.js')).then((info) => info.mtime.toISOString().replace(/\.\d+Z$/, 'Z'), () => 'missing');
      if (builtNow !== snapshot.distBuilt) {
        notes.push(`dist/ was rebuilt during the bench (now ${builtNow}); every mailpoll run used the copy taken at the start (built ${snapshot.distBuilt}).`);
      }
      await write(true);
      progress(`bench: wrote ${path.relative(process.cwd(), options.out) || options.out} (${((Date.now() - started) / 60_000).toFixed(1)} min)`);
      return 0;
    } finally {
      await Promise.all([server.stop(), webhook.close()]);
    }
  } finally {
    await removeWorkDir();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);

