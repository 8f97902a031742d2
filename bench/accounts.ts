/**
 * `npm run bench:accounts`: many accounts on one host. 1,000 Dovecot users of 5 messages
 * each, polled by `mailpoll --watch` (one process, and several sharing one store) on the
 * SQLite and the PostgreSQL store: wall time until every message is handled, messages per
 * second, database cost per message, peak RSS per process; then, in the single process, an
 * idle window: memory, connections to Dovecot against `maxConnections`, and how late each
 * account's polls start against its schedule. bench/README.md describes the method;
 * `npm run bench:accounts -- --help` the options.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import { lateness, peakConnections, windowMemory } from './lib/accounts-figures.js';
import { AccountMail, type SeededAccounts } from './lib/accounts-mail.js';
import { BenchPostgres, type DatabaseCost } from './lib/accounts-postgres.js';
import { renderAccountsReport, type AccountsReportInput, type CaseResult, type Store } from './lib/accounts-report.js';
import { Fleet } from './lib/accounts-watch.js';
import { REPO, WORK, removeWorkDir } from './lib/floors.js';
import { loadThreshold, settleLoad } from './lib/load.js';
import { COMMON_OPTIONS, outputPaths, parseCounts, parseList, parseSize, positive, progress } from './lib/options.js';
import { checkPrerequisites, rewriteReport } from './lib/preflight.js';
import { BenchServer, PASSWORD } from './lib/server.js';
import { snapshotMailpoll } from './lib/snapshot.js';
import { systemInfo } from './lib/system.js';
import { isPostgresUrl } from '../src/store/postgres/store-url.js';

const execFileAsync = promisify(execFile);

const USAGE = `usage: npm run bench:accounts -- [options]

  --accounts N          Dovecot users, one mailpoll account each (default 1000)
  --messages N          messages per account (default 5)
  --message-size SIZE   size of each message: 2KB, 20KB or bytes (default 20KB)
  --workers LIST        mailpoll --watch processes per case, comma-separated (default 1,3);
                        a SQLite store's processes get workers: true
  --stores LIST         sqlite, postgres or both (default sqlite,postgres)
  --idle-window SECONDS after every message of the single process is handled, keep it running
                        this long and measure memory, connections and schedule lateness
                        (default 90, after one interval to settle; 0 skips it)
  --interval DURATION   every account's poll interval (default 30s)
  --max-connections N   maxConnections: connections to the host at once, per process (default 64)
  --concurrency N       concurrency: accounts polled at once, per process (default 64)
  --lease-ttl DURATION  leaseTtl of the workers (default 6s: a heartbeat every 2 s)
  --transport NAME      plain (tls: none) or tls (implicit TLS) (default plain)
  --timeout SECONDS     the longest a case may take to handle every message (default 600)
  --settle SECONDS      before each case, wait at most this long for the 1-minute load average
                        to come down to 0.5 per core (default 120); a case that starts above it
                        marks the run loaded
  --seed N              content seed (default 42)
  --out FILE            where the Markdown goes (default bench/RESULTS-accounts.md); the raw
                        figures go next to it (.json)
  --build               run \`npm run build\` first
  --report-only         measure nothing: write --out again from its .json
  -h, --help            this text

Needs Dovecot (apt-get install dovecot-imapd), PostgreSQL 13 or newer for the postgres store
(apt-get install postgresql) and strace for the SQLite sync count (apt-get install strace).
A quiet run with the defaults takes about 10 minutes on a 2-core machine. Progress goes to stderr.`;

const STORES: readonly Store[] = ['sqlite', 'postgres'];
const TRANSPORTS = ['plain', 'tls'] as const;

/** `30s`, `2m`, `500ms` or seconds. */
function parseDuration(name: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(text);
  if (!match) throw new Error(`--${name}: expected a duration such as 30s, 2m or 500ms, got ${text}`);
  const value = Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm'];
  if (value < 100) throw new Error(`--${name}: expected at least 100ms, got ${text}`);
  return Math.round(value);
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      accounts: { type: 'string' },
      messages: { type: 'string' },
      'message-size': { type: 'string' },
      workers: { type: 'string' },
      stores: { type: 'string' },
      'idle-window': { type: 'string' },
      interval: { type: 'string' },
      'max-connections': { type: 'string' },
      concurrency: { type: 'string' },
      'lease-ttl': { type: 'string' },
      transport: { type: 'string' },
      timeout: { type: 'string' },
      ...COMMON_OPTIONS,
    },
    strict: true,
  });
  const { out, raw } = outputPaths(values.out, path.join(REPO, 'bench', 'RESULTS-accounts.md'));
  const [transport] = parseList('transport', values.transport, TRANSPORTS, ['plain']);
  return {
    help: values.help ?? false,
    accounts: positive('accounts', values.accounts, 1000),
    messages: positive('messages', values.messages, 5),
    size: values['message-size'] === undefined ? 20 * 1024 : parseSize(values['message-size']),
    workers: parseCounts('workers', values.workers, [1, 3]),
    stores: parseList('stores', values.stores, STORES, STORES),
    idleWindowS: positive('idle-window', values['idle-window'], 90, 0),
    intervalMs: parseDuration('interval', values.interval, 30_000),
    maxConnections: positive('max-connections', values['max-connections'], 64),
    concurrency: positive('concurrency', values.concurrency, 64),
    leaseTtlMs: parseDuration('lease-ttl', values['lease-ttl'], 6_000),
    transport: transport ?? 'plain',
    timeoutS: positive('timeout', values.timeout, 600),
    settleS: positive('settle', values.settle, 120, 0),
    seed: positive('seed', values.seed, 42, 0),
    out,
    raw,
    build: values.build ?? false,
    reportOnly: values['report-only'] ?? false,
  };
}

export type AccountsOptions = ReturnType<typeof parseOptions>;

/**
 * The processes the Dovecot of this bench must serve at once: every process's
 * `maxConnections`, plus the login processes. Its defaults (100 processes per service)
 * would refuse the third process's connections and measure Dovecot instead.
 */
function dovecotLimits(options: AccountsOptions): string {
  const processes = Math.max(256, 2 * options.maxConnections * Math.max(...options.workers));
  return `default_process_limit = ${processes}\ndefault_client_limit = ${processes * 4}\n`;
}

interface Setup {
  server: BenchServer;
  mail: AccountMail;
  seeded: SeededAccounts;
  postgres: BenchPostgres | undefined;
  bin: string;
  handlers: string;
}

/** The config of one case: every account on the one Dovecot, the case's store. */
function caseConfig(setup: Setup, options: AccountsOptions, store: string): object {
  const { server, seeded, handlers } = setup;
  const tls = options.transport === 'tls';
  return {
    store,
    // A SQLite file's watches are workers only when asked (a PostgreSQL store's always are):
    // one worker and three are then the same mode on both stores.
    ...(isPostgresUrl(store) ? {} : { workers: true }),
    concurrency: options.concurrency,
    maxConnections: options.maxConnections,
    leaseTtl: `${options.leaseTtlMs}ms`,
    defaults: {
      protocol: 'imap',
      host: server.host,
      port: tls ? server.ports.imaps : server.ports.imap,
      ...(tls ? { tls: 'implicit', ca: server.caFile } : { tls: 'none' }),
      password: PASSWORD,
      script: path.join(handlers, 'headers.mjs'),
      after: 'markSeen',
      interval: `${options.intervalMs}ms`,
    },
    accounts: seeded.users.map((user) => ({ name: user, user })),
  };
}

/** Calls in `times` (epoch ms) within [from, to]. */
function countBetween(times: number[], from: number, to: number): number {
  return times.filter((time) => time >= from && time <= to).length;
}

function costBetween(before: DatabaseCost, after: DatabaseCost): DatabaseCost {
  return { statements: after.statements - before.statements, commits: after.commits - before.commits };
}

async function runCase(setup: Setup, options: AccountsOptions, store: Store, workers: number, withIdle: boolean): Promise<CaseResult> {
  const id = `${store} × ${workers}`;
  const load = await settleLoad(loadThreshold(os.availableParallelism()), options.settleS, progress);
  progress(`bench: case ${id}${withIdle ? ` + idle window ${options.idleWindowS} s` : ''} (load ${(load.loadavg[0] ?? 0).toFixed(2)})`);
  const result: CaseResult = { id, store, workers, status: 'ok', load, expected: setup.seeded.accounts * setup.seeded.messages, handled: 0, duplicates: 0, peakRss: [], perWorker: [], maxConnections: 0, maxServerConnections: 0 };
  if (store === 'postgres' && !setup.postgres) return { ...result, status: 'n/a', reason: 'PostgreSQL 13 or newer is not installed (apt-get install postgresql)' };
  await setup.mail.restore(setup.seeded.users);
  const dir = await mkdtemp(path.join(WORK, 'case-'));
  const postgres = store === 'postgres' ? (setup.postgres as BenchPostgres) : undefined;
  const database = postgres ? await postgres.createDatabase() : undefined;
  const configFile = path.join(dir, 'mailpoll.config.json');
  await writeFile(configFile, JSON.stringify(caseConfig(setup, options, database?.url ?? path.join(dir, 'mailpoll.db')), null, 1), { mode: 0o600 });
  const strace = store === 'sqlite' && (await haveStrace());
  const fleet = new Fleet({
    processes: workers,
    command: [process.execPath, setup.bin, '--watch', '--json', '-c', configFile],
    env: { HOME: dir, XDG_STATE_HOME: path.join(dir, 'state'), NO_COLOR: '1', FORCE_COLOR: undefined, MAILPOLL_BENCH_ACTION: 'markSeen' },
    cwd: dir,
    port: options.transport === 'tls' ? setup.server.ports.imaps : setup.server.ports.imap,
    ...(strace ? { straceDir: dir } : {}),
    sampleMs: 200,
  });
  const cost = async () => (postgres && database ? postgres.cost(database.name) : undefined);
  let handledAt = 0;
  let window: { from: number; to: number; before: DatabaseCost | undefined; after: DatabaseCost | undefined } | undefined;
  try {
    await fleet.start();
    const startedAt = Date.now();
    // Several processes on a store without workers each poll every account: not this case.
    const notWorkers = () => workers > 1 && fleet.notAWorker;
    const done = await fleet.until(() => fleet.handled >= result.expected || notWorkers(), options.timeoutS * 1000);
    handledAt = Date.now();
    if (notWorkers()) {
      result.status = 'n/a';
      result.reason =
        `this mailpoll's ${store === 'sqlite' ? 'SQLite' : store} store has no workers (no \`worker\` events): ${workers} \`--watch\` processes on one store ` +
        'do not split the accounts, each polls all of them (an account another process holds is `busy`)';
    } else if (!done) {
      result.status = 'incomplete';
      result.reason = `${fleet.handled} of ${result.expected} messages handled when the case stopped (${handledAt - startedAt >= options.timeoutS * 1000 ? `--timeout ${options.timeoutS} s` : 'a process ended'})`;
    } else {
      result.wallS = (handledAt - startedAt) / 1000;
      result.peakRss = fleet.peakRssNow();
      result.database = await cost();
      progress(`  every message handled in ${result.wallS.toFixed(1)} s`);
    }
    if (withIdle && result.status === 'ok') {
      // One interval first: the last handler threads end, and every account has polled its
      // empty INBOX once; the window measures what stays.
      progress(`  idle: ${options.intervalMs / 1000} s to settle, then a window of ${options.idleWindowS} s`);
      await sleep(options.intervalMs);
      const from = Date.now();
      const before = await cost();
      await sleep(options.idleWindowS * 1000);
      window = { from, to: Date.now(), before, after: await cost() };
    }
  } finally {
    result.perWorker = await fleet.stop();
  }
  const startedAt = Date.now() - fleet.elapsedMs();
  const syncTimes = strace ? result.perWorker.flatMap((worker) => worker.syncTimes ?? []) : undefined;
  if (syncTimes && result.wallS !== undefined) result.syncs = countBetween(syncTimes, 0, handledAt);
  if (window) {
    const fromMs = window.from - startedAt;
    const toMs = window.to - startedAt;
    const cycles = fleet.cycles.filter((cycle) => cycle.startedAt >= window!.from && cycle.startedAt <= window!.to);
    result.idle = {
      windowS: (window.to - window.from) / 1000,
      intervalMs: options.intervalMs,
      cycles: cycles.length,
      memory: windowMemory(fleet.samples, 0, fromMs, toMs),
      lateness: lateness(fleet.cycles, window.from, window.to, options.intervalMs),
      cycleErrors: cycles.filter((cycle) => cycle.status === 'error').length,
      ...(window.before && window.after ? { database: costBetween(window.before, window.after) } : {}),
      ...(syncTimes ? { syncs: countBetween(syncTimes, window.from, window.to) } : {}),
      loadEnd: os.loadavg(),
    };
  }
  result.handled = fleet.handled;
  result.duplicates = fleet.duplicates;
  const peak = peakConnections(fleet.samples);
  result.maxConnections = peak.maxConnections;
  result.maxServerConnections = peak.maxServerConnections;
  result.failures = [...fleet.failures, ...result.perWorker.filter((w) => w.exitCode !== 0).map((w) => `pid ${w.pid} exited ${w.exitCode ?? w.signal}: ${w.stderrTail}`)];
  result.warnings = [...new Set(result.perWorker.flatMap((w) => w.warnings))];
  if (result.status === 'ok') {
    const state = await setup.mail.state(setup.seeded.users);
    result.serverState = state;
    if (state.unseen !== 0 || state.messages !== result.expected) {
      result.status = 'invalid';
      result.reason = `the server holds ${state.messages} of ${result.expected} messages, ${state.unseen} still unseen after markSeen`;
    }
  }
  result.loadEnd = os.loadavg();
  await rm(dir, { recursive: true, force: true });
  return result;
}

async function haveStrace(): Promise<boolean> {
  return execFileAsync('strace', ['-V']).then(
    () => true,
    () => false,
  );
}

async function main(): Promise<number> {
  let options: AccountsOptions;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`bench:accounts: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const started = Date.now();
  if (options.reportOnly) return rewriteReport<AccountsReportInput>('bench:accounts', options.raw, options.out, renderAccountsReport);
  if (!(await checkPrerequisites('bench:accounts', { build: options.build, dovecotPackages: 'dovecot-imapd' }))) return 1;
  const notes: string[] = [];
  if (!(await haveStrace()) && options.stores.includes('sqlite')) {
    const note = 'strace is not installed: no fsync count for the SQLite store. Install it with: apt-get install -y strace';
    progress(`bench:accounts: ${note}`);
    notes.push(note);
  }
  if (options.stores.includes('postgres') && !BenchPostgres.installed()) {
    notes.push('PostgreSQL 13 or newer is not installed: the postgres cases are n/a. Install it with: apt-get install -y postgresql');
  }
  try {
    await mkdir(WORK, { recursive: true });
    const snapshot = await snapshotMailpoll(progress);
    const system = { ...(await systemInfo([])), distBuilt: snapshot.distBuilt };
    progress('bench:accounts: starting a private Dovecot');
    const server = await BenchServer.start({ extraConfig: dovecotLimits(options) });
    let postgres: BenchPostgres | undefined;
    let stopping = false;
    const stopOnSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      progress(`bench:accounts: ${signal}, stopping Dovecot and PostgreSQL`);
      void Promise.all([server.stop(), postgres?.stop()]).then(removeWorkDir).finally(() => process.exit(130));
    };
    process.once('SIGINT', stopOnSignal);
    process.once('SIGTERM', stopOnSignal);
    try {
      if (options.stores.includes('postgres') && BenchPostgres.installed()) {
        progress('bench:accounts: starting a private PostgreSQL cluster (pg_stat_statements loaded)');
        postgres = await BenchPostgres.start();
      }
      const mail = new AccountMail(server.dovecot);
      progress(`bench:accounts: seeding ${options.accounts} accounts`);
      const seeded = await mail.seed({ accounts: options.accounts, messages: options.messages, size: options.size, seed: options.seed }, progress);
      const setup: Setup = { server, mail, seeded, postgres, bin: snapshot.bin, handlers: snapshot.handlers };
      const cases: CaseResult[] = [];
      const write = async (final: boolean) => {
        const input: AccountsReportInput = {
          system,
          postgres: postgres?.version ?? null,
          command: ['npm run bench:accounts', ...(process.argv.slice(2).length > 0 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
          options,
          seeded: { accounts: seeded.accounts, messages: seeded.messages, size: seeded.size, bytes: seeded.bytes, seedS: seeded.seedS },
          load: { cores: os.availableParallelism(), threshold: loadThreshold(os.availableParallelism()) },
          cases,
          notes,
          durationS: (Date.now() - started) / 1000,
          complete: final,
        };
        await mkdir(path.dirname(options.out), { recursive: true });
        await writeFile(options.out, renderAccountsReport(input));
        await writeFile(options.raw, `${JSON.stringify(input, null, 1)}\n`);
      };
      for (const store of options.stores) {
        for (const workers of options.workers) {
          cases.push(await runCase(setup, options, store, workers, workers === 1 && options.idleWindowS > 0));
          await write(false);
        }
      }
      await write(true);
      progress(`bench:accounts: wrote ${path.relative(process.cwd(), options.out) || options.out} (${((Date.now() - started) / 60_000).toFixed(1)} min)`);
      return 0;
    } finally {
      await Promise.all([server.stop(), postgres?.stop()]);
    }
  } finally {
    await removeWorkDir();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:accounts: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
