/** bench/RESULTS-accounts.md from the accounts bench's raw figures (also `--report-only`). */
import type { AccountsOptions } from '../accounts.js';
import type { DatabaseCost } from './accounts-postgres.js';
import type { Lateness, WindowMemory } from './accounts-figures.js';
import type { WorkerFigures } from './accounts-watch.js';
import { escapeCell, fmtCount, fmtMb, fmtS, fmtSize, MB } from './format.js';
import { loadBanner, type LoadSample } from './load.js';
import type { SystemInfo } from './system.js';

export type Store = 'sqlite' | 'postgres';

/** The idle scenario's limit on memory. */
export const IDLE_RSS_LIMIT = 300 * MB;

export interface IdleResult {
  windowS: number;
  intervalMs: number;
  /** Cycles that started in the window. */
  cycles: number;
  memory: WindowMemory;
  /** PostgreSQL: statements and COMMITs in the window. */
  database?: DatabaseCost;
  /** SQLite: fsync + fdatasync calls in the window. */
  syncs?: number;
  lateness: Lateness;
  cycleErrors: number;
  loadEnd: number[];
}

export interface CaseResult {
  id: string;
  store: Store;
  workers: number;
  /** ok; n/a (cannot run with this build); incomplete (timed out); invalid (server state wrong). */
  status: 'ok' | 'n/a' | 'incomplete' | 'invalid';
  reason?: string;
  load: LoadSample;
  loadEnd?: number[];
  expected: number;
  handled: number;
  duplicates: number;
  wallS?: number;
  /** Each process's peak RSS (VmHWM) when every message had been handled, bytes. */
  peakRss: number[];
  perWorker: WorkerFigures[];
  /** Most connections to Dovecot one process held at once (sampled). */
  maxConnections: number;
  /** Most connections the server side had at once (sampled). */
  maxServerConnections: number;
  /** PostgreSQL: statements and COMMITs until every message was handled. */
  database?: DatabaseCost;
  /** SQLite: fsync + fdatasync calls of every process until every message was handled (strace). */
  syncs?: number;
  /** Node warnings the processes wrote. */
  warnings?: string[];
  serverState?: { messages: number; unseen: number };
  failures?: string[];
  idle?: IdleResult;
}

export interface AccountsReportInput {
  system: SystemInfo;
  postgres: string | null;
  command: string;
  options: AccountsOptions;
  seeded: { accounts: number; messages: number; size: number; bytes: number; seedS: number };
  load: { cores: number; threshold: number };
  cases: CaseResult[];
  notes: string[];
  durationS: number;
  complete: boolean;
}

const STORE_LABEL: Record<Store, string> = { sqlite: 'SQLite (one file)', postgres: 'PostgreSQL' };

function loaded(input: AccountsReportInput): CaseResult[] {
  return input.cases.filter((c) => (c.load.loadavg[0] ?? 0) > input.load.threshold);
}

function perMessage(count: number | undefined, c: CaseResult): string {
  return count === undefined || c.handled === 0 ? '—' : (count / c.handled).toFixed(2);
}

function ms(value: number | null): string {
  return value === null ? '—' : `${Math.round(value)}`;
}

function throughputTable(input: AccountsReportInput): string[] {
  const lines = [
    '## Throughput across accounts',
    '',
    `${fmtCount(input.seeded.accounts)} accounts × ${input.seeded.messages} messages (${fmtCount(input.seeded.accounts * input.seeded.messages)} messages, ${fmtSize(input.seeded.bytes)}), ` +
      `IMAP ${input.options.transport === 'tls' ? 'implicit TLS' : 'plain'}, \`after: markSeen\`, the headers-only JS handler. **Wall** = from starting the processes to the last ` +
      'message event (Node start-up, login of every account included); then SIGTERM. **DB per message**: PostgreSQL: statements executed (pg_stat_statements `calls`, ' +
      'BEGIN/COMMIT included: each a round trip) and COMMITs in the case\'s database until the last message, heartbeats and claims included; SQLite: ' +
      'fsync + fdatasync calls (strace), i.e. durable syncs, not commits (see bench/README.md). **Peak RSS**: each process\'s VmHWM when the last message was handled, and the most threads it had (Node\'s own and the handlers\' worker threads). ' +
      '**Connections**: established to Dovecot\'s port, sampled every 200 ms: the most one process held (its sockets), and the most on the server\'s side.',
    '',
    '| store | processes | wall (s) | messages/s | handled | duplicates | DB per message | peak RSS per process | max connections | load at start | notes |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of input.cases) {
    const db =
      c.store === 'postgres'
        ? c.database
          ? `${perMessage(c.database.statements, c)} statements, ${perMessage(c.database.commits, c)} commits`
          : '—'
        : c.syncs === undefined
          ? 'n/a (no strace)'
          : `${perMessage(c.syncs, c)} fsyncs`;
    const notes = [c.status === 'ok' ? '' : `**${c.status}**${c.reason ? `: ${c.reason}` : ''}`, ...(c.failures ?? []), ...(c.warnings ?? []).map((w) => `stderr: ${w}`)]
      .filter(Boolean)
      .map(escapeCell)
      .join('; ');
    const na = c.status === 'n/a';
    lines.push(
      `| ${[
        STORE_LABEL[c.store],
        String(c.workers),
        c.wallS === undefined ? '—' : fmtS(c.wallS),
        c.wallS === undefined ? '—' : Math.round(c.handled / c.wallS).toLocaleString('en-US'),
        na ? '—' : `${fmtCount(c.handled)} of ${fmtCount(c.expected)}`,
        na ? '—' : String(c.duplicates),
        na ? '—' : db,
        na || c.peakRss.length === 0 ? '—' : c.peakRss.map((rss, index) => `${fmtMb(rss)} (${c.perWorker[index]?.maxThreads ?? '?'} threads)`).join(', '),
        na ? '—' : `${c.maxConnections} per process (cap ${input.options.maxConnections}); server side ${c.maxServerConnections}`,
        (c.load.loadavg[0] ?? 0).toFixed(2),
        notes,
      ].join(' | ')} |`,
    );
  }
  lines.push('');
  return lines;
}

function dbPerPoll(i: IdleResult): string {
  if (i.cycles === 0) return '—';
  if (i.database) return `${(i.database.statements / i.cycles).toFixed(1)} statements, ${(i.database.commits / i.cycles).toFixed(1)} commits`;
  if (i.syncs !== undefined) return `${(i.syncs / i.cycles).toFixed(2)} fsyncs`;
  return '—';
}

function verdict(ok: boolean, judged: boolean): string {
  if (!judged) return 'not judged (loaded)';
  return ok ? 'met' : '**NOT met**';
}

function idleTable(input: AccountsReportInput): string[] {
  const idle = input.cases.filter((c) => c.idle !== undefined);
  if (idle.length === 0) return [];
  const limit = input.options.maxConnections;
  const lines = [
    `## ${fmtCount(input.seeded.accounts)} idle accounts in one \`--watch\``,
    '',
    'The single process of each store, kept running after every message was handled: every account polls an empty INBOX every ' +
      `${(input.options.intervalMs / 1000).toFixed(0)} s. The window starts one interval after the last message was handled (the last handler threads end, every account has polled once more). Memory: VmRSS sampled every 200 ms (peak: the largest sample; steady: the median of the window's second half; ` +
      'start → end: medians of its first and last fifth). Connections: as above. **Lateness**: a ' +
      'cycle\'s start (its `cycle` event\'s time minus `durationMs`) minus the `nextAt` of the account\'s previous cycle; **period excess**: start-to-start time ' +
      'minus the interval (what each cycle adds to the account\'s phase shift, since an interval runs from one start to the next); **phase shift**: the largest ' +
      'shift of one account\'s starts over the window against its first start + k × interval.',
    '',
    '| store | window (s) | cycles | DB per empty poll | peak RSS | steady RSS | RSS start → end | max connections: process / server side | lateness max / p95 (ms) | p95 first → second half (ms) | period excess p95 / max (ms) | phase shift max (ms) | cycle errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of idle) {
    const i = c.idle as IdleResult;
    const l = i.lateness;
    lines.push(
      `| ${[
        STORE_LABEL[c.store],
        fmtS(i.windowS),
        fmtCount(i.cycles),
        dbPerPoll(i),
        fmtMb(i.memory.peakRss),
        fmtMb(i.memory.steadyRss),
        `${fmtMb(i.memory.startRss)} → ${fmtMb(i.memory.endRss)}`,
        `${i.memory.maxConnections} / ${i.memory.maxServerConnections} (cap ${limit})`,
        `${ms(l.maxMs)} / ${ms(l.p95Ms)}`,
        `${ms(l.p95FirstHalfMs)} → ${ms(l.p95SecondHalfMs)}`,
        `${ms(l.periodExcessP95Ms)} / ${ms(l.periodExcessMaxMs)}`,
        ms(l.phaseShiftMaxMs),
        String(i.cycleErrors),
      ].join(' | ')} |`,
    );
  }
  lines.push('', '| target | ' + idle.map((c) => STORE_LABEL[c.store]).join(' | ') + ' |', '|---|' + idle.map(() => '---|').join(''));
  const quiet = (c: CaseResult) => (c.load.loadavg[0] ?? 0) <= input.load.threshold;
  const row = (name: string, cell: (c: CaseResult, i: IdleResult) => string) => lines.push(`| ${name} | ${idle.map((c) => cell(c, c.idle as IdleResult)).join(' | ')} |`);
  row('peak RSS under 300 MB (memory is judged on a loaded run too)', (_c, i) => `${fmtMb(i.memory.peakRss)}: ${verdict((i.memory.peakRss ?? Infinity) < IDLE_RSS_LIMIT, true)}`);
  row(`connections the process holds within maxConnections (${limit}), whole case`, (c) => `${c.maxConnections}: ${verdict(c.maxConnections <= limit, true)}`);
  row(
    'lateness does not grow (p95 of the second half ≤ first half + 100 ms, and under 10 % of the interval)',
    (c, i) => {
      const a = i.lateness.p95FirstHalfMs;
      const b = i.lateness.p95SecondHalfMs;
      if (a === null || b === null) return 'n/a (too few cycles)';
      return `${ms(a)} → ${ms(b)} ms: ${verdict(b <= a + 100 && b < i.intervalMs / 10, quiet(c))}`;
    },
  );
  lines.push('');
  return lines;
}

function header(input: AccountsReportInput): string[] {
  const { system, options } = input;
  const limit = `${input.load.threshold.toFixed(2)} (0.5 per core × ${input.load.cores} cores)`;
  const lines = ['# mailpoll benchmark: many accounts on one host', ''];
  lines.push(
    ...loadBanner(
      input.cases.map((c) => ({ name: c.id, load: c.load.loadavg[0] ?? 0 })),
      input.load,
      { unit: 'case', withheld: 'figures written, timing not judged.', why: 'wall times, messages per second and lateness do not hold. Run it again on a quiet machine.' },
    ),
  );
  if (options.accounts < 1000) {
    lines.push(`**Small run**: ${fmtCount(options.accounts)} accounts, not the 1,000 the targets speak of: a check of the bench, not its result.`, '');
  }
  if (!input.complete) lines.push('**Incomplete**: the bench was still running (or was stopped) when this was written.', '');
  lines.push('| | |', '|---|---|');
  lines.push(`| mailpoll | commit ${system.commit}; ${system.treeNote}; dist/ built ${system.distBuilt} |`);
  lines.push(`| date | ${system.date}; the bench took ${fmtS(input.durationS / 60)} min |`);
  lines.push(`| Node | ${system.node} |`);
  lines.push(`| load check | 1-minute load average at each case start: ${input.cases.map((c) => `${c.id} ${(c.load.loadavg[0] ?? 0).toFixed(2)}`).join(', ') || 'no case ran'}; limit ${limit} |`);
  lines.push(`| machine | ${system.cpu}, ${system.cores} cores, ${system.ramGb} GB RAM; ${system.os}, kernel ${system.kernel} |`);
  lines.push(`| Dovecot | ${system.dovecot} (private instance on 127.0.0.1, one passwd-file entry per user, process limits raised for many sessions) |`);
  lines.push(`| PostgreSQL | ${input.postgres ?? 'not run'}${input.postgres ? ' (private cluster; fsync, synchronous_commit and full_page_writes **off**: commits cost no disk wait, so the figures show the round trips, not a durable server)' : ''} |`);
  lines.push(
    `| parameters | \`${input.command}\`: ${fmtCount(options.accounts)} accounts × ${options.messages} messages of ${fmtSize(options.size)}; processes ${options.workers.join(', ')}; ` +
      `stores ${options.stores.join(', ')}; \`maxConnections: ${options.maxConnections}\`, \`concurrency: ${options.concurrency}\`, \`interval: ${options.intervalMs / 1000}s\`, ` +
      `\`leaseTtl: ${options.leaseTtlMs / 1000}s\`; idle window ${options.idleWindowS} s; seeding took ${fmtS(input.seeded.seedS)} s |`,
  );
  lines.push('');
  if (input.notes.length > 0) lines.push('Notes:', '', ...input.notes.map((note) => `- ${note}`), '');
  return lines;
}

export function renderAccountsReport(input: AccountsReportInput): string {
  const lines = [...header(input), ...throughputTable(input), ...idleTable(input)];
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
