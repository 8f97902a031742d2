/**
 * `npm run bench`: mailpoll against its floors and peers on a private Dovecot.
 * bench/README.md describes the method; `npm run bench -- --help` the options.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  floorCase,
  mailpollCase,
  useMailpoll,
  useWebhook,
  mailpollConfig,
  MODES,
  TRANSPORTS,
  nodeReferenceCase,
  peerCase,
  validateConfig,
  type Case,
  type Mode,
  type RunOutcome,
  type Verdict,
} from './lib/cases.js';
import { buildFloors, REPO, removeWorkDir } from './lib/floors.js';
import { loadThreshold, settleLoad } from './lib/load.js';
import { COMMON_OPTIONS, outputPaths, parseCounts, parseList, parseSize, positive, progress } from './lib/options.js';
import { checkPrerequisites, rewriteReport } from './lib/preflight.js';
import { GNU_TIME, haveGnuTime } from './lib/measure.js';
import { findPeers, type PeerTool } from './lib/peers.js';
import { renderReport, type ReportInput } from './lib/report.js';
import { runScenario, type ScenarioResult, type ScenarioSpec } from './lib/scenario.js';
import { BenchServer, type MailboxSpec, type SeededMailbox } from './lib/server.js';
import { snapshotMailpoll } from './lib/snapshot.js';
import { systemInfo } from './lib/system.js';
import { startWebhookServer } from './lib/webhook-server.js';

/** bench/ANALYSIS.md: the people-written explanation of the targets not met (appended to the report). */
async function readAnalysis(): Promise<string | undefined> {
  const file = path.join(REPO, 'bench', 'ANALYSIS.md');
  return existsSync(file) ? readFile(file, 'utf8') : undefined;
}

const USAGE = `usage: npm run bench -- [options]

  --sizes LIST        message counts of the main mailboxes, comma-separated (default
                      500,2000): every case runs on each, and the fixed cost per run and
                      the cost per message are fitted from them (two or more sizes)
  --message-size SIZE size of each message: 20KB, 512KB, 1MB or bytes (default 20KB)
  --transports LIST   plain, tls or both (default plain,tls): plain IMAP/POP3 (no TLS,
                      no STARTTLS) and implicit TLS (imaps/pop3s), side by side
  --modes LIST        what a run leaves on the server, comma-separated, or "all"
                      (default imap/markSeen,pop3/keep: each protocol's default \`after\`;
                      all: imap/markSeen, imap/delete, pop3/keep, pop3/delete)
  --runs N            runs of the JS-handler cases and the floors on each mailbox; the
                      median is reported (default 3)
  --slow-runs N       runs of the cases that start a process per message (command
                      handlers, fetchmail, getmail6, the shell handler) and of the webhook
                      cases (default 1)
  --cold-runs N       runs of each empty-mailbox case (default 5)
  --scale-sizes LIST  message counts of the memory scenario (default 1000,10000; one run
                      each, judged on peak RSS)
  --skip-scale        skip the memory scenario
  --with LIST         extra cases, comma-separated: webhook (the webhook handler against a
                      local server), getmail6, shell (a JS handler spawning sh per message),
                      big-message (one message with a 50 MB attachment, and maxMessageSize)
  --no-peers          skip fetchmail (and getmail6)
  --settle SECONDS    before each scenario, wait at most this long for the 1-minute load
                      average to come down to 0.5 per core (default 120); a scenario that
                      starts above it marks the whole run loaded: no target verdicts
  --only TEXT         only cases whose "<scenario> <case>" contains TEXT (repeatable),
                      e.g. --only main --only "imap/markSeen plain headers" --only cold
  --seed N            content seed (default 42)
  --out FILE          where the Markdown goes (default bench/RESULTS.md); the raw figures
                      go next to it (FILE with .json instead of .md)
  --build             run \`npm run build\` first (default: use dist/ as it is)
  --report-only       measure nothing: write --out again from its raw figures (.json),
                      e.g. after editing bench/ANALYSIS.md or the report code
  -h, --help          this text

A quiet run with the defaults takes about 15 minutes on a 2-core machine; bench/README.md
says which options trade time for precision.

Needs Dovecot (apt-get install dovecot-imapd dovecot-pop3d) and GNU time for peak RSS
(apt-get install time). fetchmail is compared when installed (apt-get install fetchmail),
getmail6 with --with getmail6 (apt-get install getmail6); each is reported missing otherwise.
Progress goes to stderr.`;

const DEFAULT_MODES: Mode[] = ['imap/markSeen', 'pop3/keep'];

const EXTRAS = ['webhook', 'getmail6', 'shell', 'big-message'] as const;
type Extra = (typeof EXTRAS)[number];

function parseOptions() {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' },
      'message-size': { type: 'string' },
      transports: { type: 'string' },
      modes: { type: 'string' },
      runs: { type: 'string' },
      'slow-runs': { type: 'string' },
      'cold-runs': { type: 'string' },
      'scale-sizes': { type: 'string' },
      'skip-scale': { type: 'boolean' },
      with: { type: 'string' },
      'no-peers': { type: 'boolean' },
      only: { type: 'string', multiple: true },
      ...COMMON_OPTIONS,
    },
    strict: true,
  });
  const { out, raw } = outputPaths(values.out, path.join(REPO, 'bench', 'RESULTS.md'));
  return {
    help: values.help ?? false,
    sizes: parseCounts('sizes', values.sizes, [500, 2000]),
    size: values['message-size'] === undefined ? 20 * 1024 : parseSize(values['message-size']),
    transports: parseList('transports', values.transports, TRANSPORTS, TRANSPORTS),
    modes: parseList('modes', values.modes, MODES, DEFAULT_MODES, true),
    runs: positive('runs', values.runs, 3),
    slowRuns: positive('slow-runs', values['slow-runs'], 1),
    coldRuns: positive('cold-runs', values['cold-runs'], 5),
    scaleSizes: parseCounts('scale-sizes', values['scale-sizes'], [1000, 10_000]),
    skipScale: values['skip-scale'] ?? false,
    extras: values.with === undefined ? [] : parseList<Extra>('with', values.with, EXTRAS, []),
    noPeers: values['no-peers'] ?? false,
    settleS: positive('settle', values.settle, 120, 0),
    only: values.only ?? [],
    seed: positive('seed', values.seed, 42, 0),
    out,
    raw,
    build: values.build ?? false,
    reportOnly: values['report-only'] ?? false,
  };
}

type Options = ReturnType<typeof parseOptions>;

/** The peers this run compares: fetchmail always (unless --no-peers), getmail6 on request. */
function comparedPeers(options: Options, peers: PeerTool[]): PeerTool[] {
  if (options.noPeers) return [];
  return peers.filter((peer) => peer.name === 'fetchmail' || options.extras.includes('getmail6'));
}

/**
 * The cases of the main scenario, by mode then transport (the order of the tables). The
 * JS handlers and the floors run `--runs` times; whatever starts a process per message
 * (command handlers, fetchmail) `--slow-runs` times: a 2x or 5x ratio settles in one run.
 */
function mainCases(options: Options, floors: Map<string, string>, peers: PeerTool[]): Case[] {
  const cases: Case[] = [];
  const cores = os.availableParallelism();
  const { runs, slowRuns } = options;
  for (const mode of options.modes) {
    const [protocol, semantics] = mode.split('/') as ['imap' | 'pop3', string];
    const keep = semantics !== 'delete';
    for (const transport of options.transports) {
      const base = { protocol, transport, keep };
      cases.push(mailpollCase({ ...base, handler: 'headers', runs }));
      cases.push(mailpollCase({ ...base, handler: 'full', runs }));
      // The full parse happens in the handler's worker threads: one per core lets it use them all.
      cases.push(mailpollCase({ ...base, handler: 'full', runs, concurrency: cores }));
      for (const handler of ['command-argv', 'command-sh'] as const) {
        cases.push(mailpollCase({ ...base, handler, runs: slowRuns }));
        cases.push(mailpollCase({ ...base, handler, runs: slowRuns, concurrency: cores }));
      }
      if (options.extras.includes('webhook')) {
        cases.push(mailpollCase({ ...base, handler: 'webhook', runs: slowRuns }));
        cases.push(mailpollCase({ ...base, handler: 'webhook', runs: slowRuns, concurrency: cores }));
      }
      if (options.extras.includes('shell')) cases.push(mailpollCase({ ...base, handler: 'shell', runs: slowRuns }));
      const [fetch, parse] = protocol === 'imap' ? (['imapflow-fetch', 'imapflow-parse'] as const) : (['pop3-bare', 'pop3-parse'] as const);
      cases.push(floorCase(floors, fetch, transport, keep, runs), floorCase(floors, parse, transport, keep, runs));
      for (const peer of peers) cases.push(peerCase(peer, protocol, transport, keep, slowRuns));
    }
  }
  return cases;
}

/**
 * The 1,000 and 10,000-message runs: what mailpoll's memory does as the mailbox grows, once
 * each (peak RSS varies little between runs; the floors' RSS is in the main tables).
 */
function scaleCases(options: Options): Case[] {
  const runs = 1;
  return options.transports.flatMap((transport) => [
    mailpollCase({ protocol: 'imap', transport, keep: true, handler: 'headers', runs }),
    mailpollCase({ protocol: 'imap', transport, keep: true, handler: 'full', runs }),
    mailpollCase({ protocol: 'pop3', transport, keep: true, handler: 'headers', runs }),
  ]);
}

/** A `maxMessageSize` the configured mailpoll accepts, or why there is none. */
async function probeMaxMessageSize(server: BenchServer, user: string): Promise<{ value?: string; error?: string }> {
  const value = '10MB';
  const error = await validateConfig(mailpollConfig(server, user, { protocol: 'imap', keep: true, handler: 'headers', account: { maxMessageSize: value } }));
  return error ? { error } : { value };
}

/** One message with a 50 MB attachment (implicit TLS, once each): peak RSS, and maxMessageSize. */
function largeCases(floors: Map<string, string>, maxSize: { value?: string; error?: string }): Case[] {
  const runs = 1;
  const oversize = mailpollCase({
    protocol: 'imap',
    keep: true,
    handler: 'headers',
    runs: 1,
    id: 'mailpoll imap/markSeen tls headers maxMessageSize',
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
    floorCase(floors, 'imapflow-fetch', 'tls', true, runs),
    floorCase(floors, 'pop3-bare', 'tls', false, runs),
  ];
  if (maxSize.value) cases.push(oversize);
  else cases.push({ ...oversize, skip: `this mailpoll does not accept maxMessageSize (${maxSize.error ?? 'validate failed'})` });
  return cases;
}

/** The every-minute cron case: an empty INBOX, in each transport. */
function coldCases(options: Options, floors: Map<string, string>, peers: PeerTool[]): Case[] {
  const runs = options.coldRuns;
  const cases: Case[] = options.transports.flatMap((transport) => [
    mailpollCase({ protocol: 'imap', transport, keep: true, handler: 'headers', runs }),
    mailpollCase({ protocol: 'pop3', transport, keep: true, handler: 'headers', runs }),
    floorCase(floors, 'imapflow-fetch', transport, true, runs),
    floorCase(floors, 'pop3-bare', transport, true, runs),
    ...peers.flatMap((peer) => (['imap', 'pop3'] as const).map((protocol) => peerCase(peer, protocol, transport, true, runs))),
  ]);
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
  if (options.reportOnly) return rewriteReport<ReportInput>('bench', options.raw, options.out, async (input) => renderReport(input, await readAnalysis()));
  if (!(await checkPrerequisites('bench', { build: options.build, dovecotPackages: 'dovecot-imapd dovecot-pop3d' }))) return 1;
  if (!haveGnuTime()) {
    const note = `GNU time (${GNU_TIME}) is not installed: no peak RSS figures. Install it with: apt-get install -y time`;
    progress(`bench: ${note}`);
    notes.push(note);
  }
  const peers = comparedPeers(options, await findPeers());
  for (const peer of peers) {
    if (!peer.binary) {
      const note = `**${peer.name} is not installed**: its cases are skipped and every comparison with it is n/a. Install it with: ${peer.install}`;
      progress(`bench: ${note.replace(/\*\*/g, '')}`);
      notes.push(note);
    }
  }
  if (options.noPeers) notes.push('fetchmail skipped (`--no-peers`): its comparisons are n/a.');
  // Everything below lives in this process's work folder (floors, the mailpoll copy).
  try {
    const floors = await buildFloors();
    // System facts and a copy of mailpoll as it is now: the whole bench measures this build.
    const snapshot = await snapshotMailpoll(progress);
    useMailpoll(snapshot.bin, snapshot.handlers);
    const system = { ...(await systemInfo(peers)), distBuilt: snapshot.distBuilt };

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
      const bigMessage = options.extras.includes('big-message');
      const maxSize = bigMessage ? await probeMaxMessageSize(server, 'probe') : {};
      if (maxSize.error) notes.push(`\`maxMessageSize\` is not accepted by this mailpoll (\`mailpoll validate\`: ${maxSize.error}): that target is n/a.`);
      notes.push(
        'mailpoll runs as `node bin/mailpoll.js -c <config> --json` with a fresh `XDG_STATE_HOME` and `HOME` per run (its own store), ' +
          'the handler modules in bench/handlers/ ((a) and (c) declare `export const parse = \'headers\'`); `plain` cases use `tls: none` on the ' +
          'plain port (no STARTTLS), `implicit TLS` cases `tls: implicit` with the test CA; the server log confirms each login\'s transport. ' +
          'Floors run as plain JS (transpiled, no tsx); every case is its own process.',
      );

      const seedSpec = (user: string, count: number, extra: Partial<MailboxSpec> = {}): MailboxSpec => ({ user, count, size: options.size, seed: options.seed, ...extra });
      const kb = `${Math.round(options.size / 1024)} KB`;
      const plans: Array<{ name: string; title: string; mailboxes: MailboxSpec[]; cases: Case[] }> = [
        {
          name: 'main',
          title: `${options.sizes.map((n) => n.toLocaleString('en-US')).join(' and ')} messages × ${kb}, side by side`,
          mailboxes: options.sizes.map((n) => seedSpec(`main${n}`, n)),
          cases: mainCases(options, floors, peers),
        },
        {
          name: 'cold',
          title: 'Empty mailbox, cold start',
          mailboxes: [seedSpec('empty', 0)],
          cases: coldCases(options, floors, peers),
        },
      ];
      if (!options.skipScale) {
        plans.push({
          name: 'scale',
          title: `Memory: ${options.scaleSizes.map((n) => n.toLocaleString('en-US')).join(' and ')} messages × ${kb}`,
          mailboxes: options.scaleSizes.map((n) => seedSpec(`scale${n}`, n)),
          cases: scaleCases(options),
        });
      } else {
        notes.push('`--skip-scale`: the memory scenario (1,000 and 10,000 messages) was not run; its targets are n/a.');
      }
      if (bigMessage) {
        plans.push({
          name: 'big-message',
          title: 'One message with a 50 MB attachment',
          mailboxes: [seedSpec('big', 1, { attachmentBytes: 50 * 1024 * 1024 })],
          cases: largeCases(floors, maxSize),
        });
      }

      const results: ScenarioResult[] = [];
      const cores = os.availableParallelism();
      const write = async (final: boolean) => {
        const input: ReportInput = {
          system,
          scenarios: results,
          command: ['npm run bench', ...(process.argv.slice(2).length > 0 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
          options,
          load: { cores, threshold: loadThreshold(cores) },
          notes: final ? notes : [...notes, '**Incomplete**: the bench was still running (or stopped) when this was written.'],
          durationS: (Date.now() - started) / 1000,
          complete: final,
        };
        await mkdir(path.dirname(options.out), { recursive: true });
        await writeFile(options.out, renderReport(input, await readAnalysis()));
        await writeFile(options.raw, `${JSON.stringify(input, null, 1)}\n`);
      };

      // Every mailbox is seeded first: seeding loads the machine, and the first scenario
      // waits for that load to settle like every other.
      const planned = plans
        .map((plan) => ({ ...plan, cases: plan.cases.filter((c) => matches(options, plan.name, c)) }))
        .filter((plan) => plan.cases.length > 0);
      const seeded = new Map<string, SeededMailbox>();
      for (const plan of planned) for (const mailbox of plan.mailboxes) seeded.set(mailbox.user, await server.seed(mailbox, progress));
      for (const plan of planned) {
        const load = await settleLoad(loadThreshold(cores), options.settleS, progress);
        progress(`bench: scenario ${plan.name}: ${plan.title} (${plan.cases.length} cases; load ${(load.loadavg[0] ?? 0).toFixed(2)})`);
        const mailboxes = plan.mailboxes.map((mailbox) => seeded.get(mailbox.user) as SeededMailbox);
        const spec: ScenarioSpec = { name: plan.name, title: plan.title, mailboxes, cases: plan.cases };
        results.push(await runScenario(server, spec, load, progress));
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

