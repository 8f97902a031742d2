/**
 * RESULTS.md: at the top the commit, date, Node and the load check, then the verdict of
 * every target (targets.ts), then the figures: per mode a table of every case in both
 * transports with its wall time at each mailbox size, its fixed cost per run and its cost
 * per message, and the ratios the targets use; the memory, empty-mailbox and 50 MB
 * scenarios; and bench/ANALYSIS.md, written by people, appended. Rendered from plain data
 * (the raw figures saved next to it), so `--report-only` can write it again.
 */
import { HANDLER_LABEL, MODES, TRANSPORT_LABEL, type Handler, type Mode, type Transport } from './cases.js';
import { caseId, figure, find, fitCase, isFit, missing } from './figures.js';
import { MB, escapeCell, fmtCount, fmtMb, fmtMs, fmtRatio, fmtS, fmtSize } from './format.js';
import { loadBanner } from './load.js';
import { summarize, type CaseResult, type CaseSummary, type ScenarioResult } from './scenario.js';
import type { SystemInfo } from './system.js';
import { judgeTargets, renderTargets } from './targets.js';

export interface ReportInput {
  system: SystemInfo;
  scenarios: ScenarioResult[];
  command: string;
  options: {
    sizes: number[];
    size: number;
    transports: Transport[];
    modes: Mode[];
    runs: number;
    slowRuns: number;
    coldRuns: number;
    scaleSizes: number[];
    skipScale: boolean;
    extras: string[];
    settleS: number;
    seed: number;
    only: string[];
  };
  /** The load check: a scenario starting above `threshold` (0.5 per core) makes the run loaded. */
  load: { cores: number; threshold: number };
  notes: string[];
  durationS: number;
  /** False while the bench is still running (the file is rewritten after each scenario). */
  complete: boolean;
}

/** The scenarios that started above the threshold: any makes the run loaded. */
export function loadedScenarios(input: ReportInput): ScenarioResult[] {
  return input.scenarios.filter((scenario) => (scenario.loadStart.loadavg[0] ?? 0) > input.load.threshold);
}

const MODE_TITLE: Record<Mode, string> = {
  'imap/markSeen': 'IMAP, leave on server: mailpoll `after: markSeen`; floors STORE \\Seen; fetchmail `keep` (marks seen); getmail6 `delete = false`',
  'imap/delete': 'IMAP, delete: mailpoll `after: delete`; floors STORE \\Deleted + UID EXPUNGE; fetchmail `no keep`; getmail6 `delete = true`',
  'pop3/keep': 'POP3, leave on server: mailpoll `after: keep`; fetchmail `keep fetchall`; getmail6 `delete = false`',
  'pop3/delete': 'POP3, delete: mailpoll `after: delete`; floors DELE each; fetchmail `no keep`; getmail6 `delete = true`',
};

const TOOL_LABEL: Record<string, string> = {
  'imapflow-fetch': 'floor: imapflow, one `UID FETCH 1:*`',
  'imapflow-parse': 'floor: imapflow `UID FETCH 1:*` + `simpleParser` each',
  'pop3-bare': 'floor: bare POP3 (pipelined RETR)',
  'pop3-parse': 'floor: bare POP3 + `simpleParser` each',
  fetchmail: 'fetchmail, MDA `cat > /dev/null`',
  getmail6: "getmail6, MDA_external `sh -c 'cat > /dev/null'`",
  'node -e 0': 'reference: `node -e 0` (Node start-up alone)',
};

function rowLabel(result: CaseResult): string {
  const c = result.case;
  if (c.group === 'mailpoll') {
    const concurrency = c.concurrency === undefined ? '' : `, \`handlerConcurrency: ${c.concurrency}\``;
    const label = `mailpoll ${c.protocol.toUpperCase()} ${c.handler ? HANDLER_LABEL[c.handler as Handler] : ''}${concurrency}`;
    return c.id.endsWith('maxMessageSize') ? `${label}, \`maxMessageSize\` below the message` : label;
  }
  return TOOL_LABEL[c.tool] ?? c.tool;
}

function transportCell(result: CaseResult): string {
  return result.case.transport ? TRANSPORT_LABEL[result.case.transport] : '';
}

function statusCell(result: CaseResult, summary: CaseSummary | undefined): string {
  if (result.unsupported) return `n/a (error: ${escapeCell(result.unsupported)})`;
  if (result.skipped) return `skipped: ${escapeCell(result.skipped)}`;
  if (!summary) return 'not run';
  const parts: string[] = [];
  if (summary.validRuns < summary.runs) parts.push(`**INVALID** ${summary.runs - summary.validRuns} of ${summary.runs} runs`);
  parts.push(...summary.notes.map(escapeCell));
  return parts.join('; ');
}

function wallCell(result: CaseResult | undefined): string {
  if (!result) return '—';
  const summary = summarize(result);
  if (!summary) return result.unsupported ? 'n/a' : result.skipped ? 'skipped' : '—';
  const runs = summary.validRuns === summary.runs ? '' : ` (${summary.validRuns}/${summary.runs} valid)`;
  const spread = summary.min === summary.max ? '' : ` (${fmtS(summary.min)}–${fmtS(summary.max)})`;
  return summary.validRuns === 0 ? `**INVALID**${runs}` : `${fmtS(summary.median)}${spread}${runs}`;
}

function basicCells(result: CaseResult): { summary: CaseSummary | undefined; cells: string[] } {
  const summary = summarize(result);
  if (!summary) return { summary, cells: ['0', '—', '—', '—', '—'] };
  const runs = summary.validRuns === summary.runs ? `${summary.runs}` : `${summary.validRuns}/${summary.runs}`;
  return {
    summary,
    cells: [runs, fmtS(summary.median), `${fmtS(summary.min)}–${fmtS(summary.max)}`, summary.cpuS === null ? 'n/a' : fmtS(summary.cpuS), fmtMb(summary.peakRss)],
  };
}

/** mailpoll's figure ÷ another case's: per message (slopes), or whole run at the largest size. */
function slopeRatio(main: ScenarioResult, mine: string, other: string): string {
  const a = fitCase(main, mine);
  const b = fitCase(main, other);
  // A cost per message at or below zero is noise between the sizes: no ratio.
  if (!isFit(a) || !isFit(b) || b.fit.slopeS <= 0 || a.fit.slopeS <= 0) return '—';
  return fmtRatio(a.fit.slopeS / b.fit.slopeS);
}

function wallRatio(main: ScenarioResult, mine: string, other: string): string {
  const a = figure(find(main, mine));
  const b = figure(find(main, other));
  return a && b ? fmtRatio(a.summary.median / b.summary.median) : '—';
}

function mainScenario(scenario: ScenarioResult, cores: number): string[] {
  const lines: string[] = [];
  const sizes = scenario.mailboxes.map((m) => m.count);
  const largest = scenario.mailboxes.at(-1);
  lines.push(`## ${scenario.title}: fixed cost and cost per message`, '');
  for (const m of scenario.mailboxes) {
    lines.push(`- ${fmtCount(m.count)} messages: ${fmtSize(m.bytes)} in all (${fmtSize(m.wireBytes)} on the wire with CRLF), ${m.attachments} with a base64 attachment.`);
  }
  lines.push(
    '',
    'Wall seconds per whole process, median of the valid runs (min–max). **Fixed** = seconds per run whatever the mailbox holds, ' +
      '**per msg** = milliseconds per message: the line through the medians at each size; its range comes from the fastest and slowest runs ' +
      '(a wide range means the figure did not hold). Ratios are mailpoll ÷ the other case in the same mode and transport, same run: ' +
      'per message (÷ floor, ÷ fetchmail) and whole run at the largest size (÷ fetchmail, whole). Below 1 is faster. ' +
      `CPU (user + system of the process and the children it waited for) and peak RSS at ${largest ? fmtCount(largest.count) : 'the largest size'}.`,
    '',
  );
  for (const mode of MODES) {
    const ids = [...new Set(scenario.cases.filter((r) => r.case.mode === mode).map((r) => r.case.id))];
    if (ids.length === 0) continue;
    lines.push(`### ${MODE_TITLE[mode]}`, '');
    lines.push(
      `| case | transport | ${sizes.map((n) => `${fmtCount(n)}: wall (s)`).join(' | ')} | fixed (s) | per msg (ms) | range (ms) | ÷ fetch floor | ÷ fetch+parse floor | ÷ fetchmail | ÷ fetchmail, whole | CPU (s) | peak RSS | notes |`,
    );
    lines.push(`|---|---|${sizes.map(() => '---|').join('')}---|---|---|---|---|---|---|---|---|---|`);
    for (const id of ids) {
      const results = scenario.cases.filter((r) => r.case.id === id).sort((a, b) => a.mailbox.count - b.mailbox.count);
      const first = results[0] as CaseResult;
      const fitted = fitCase(scenario, id);
      const fitCells = isFit(fitted)
        ? [
            fmtS(fitted.fit.interceptS),
            fmtMs(fitted.fit.slopeS),
            fitted.fit.slopeMinS === fitted.fit.slopeMaxS ? 'one run per size' : `${fmtMs(fitted.fit.slopeMinS)} to ${fmtMs(fitted.fit.slopeMaxS)}`,
          ]
        : ['—', '—', '—'];
      const transport = first.case.transport as Transport;
      const ratios = first.case.group === 'mailpoll'
        ? [
            slopeRatio(scenario, id, caseId.fetchFloor(mode, transport)),
            slopeRatio(scenario, id, caseId.parseFloor(mode, transport)),
            slopeRatio(scenario, id, caseId.peer('fetchmail', mode, transport)),
            wallRatio(scenario, id, caseId.peer('fetchmail', mode, transport)),
          ]
        : ['', '', '', ''];
      const big = results.at(-1) as CaseResult;
      const bigSummary = summarize(big);
      const notes = [...new Set(results.map((r) => statusCell(r, summarize(r))).filter((text) => text !== ''))].join('; ');
      lines.push(
        `| ${[
          escapeCell(rowLabel(first)),
          transportCell(first),
          ...sizes.map((n) => wallCell(results.find((r) => r.mailbox.count === n))),
          ...fitCells,
          ...ratios,
          bigSummary?.cpuS == null ? 'n/a' : fmtS(bigSummary.cpuS),
          fmtMb(bigSummary?.peakRss),
          notes,
        ].join(' | ')} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    `_\`handlerConcurrency: ${cores}\` = one handler per core. The CPU column of the command cases leaves out the command launcher and the programs it started ` +
      '(mailpoll ends the launcher rather than waiting for it, so GNU time never sees that CPU): compare wall times._',
    '',
  );
  lines.push(...scenarioFooter(scenario), '');
  return lines;
}

function scenarioFooter(scenario: ScenarioResult): string[] {
  const load = (values: number[]) => values.map((v) => v.toFixed(2)).join(' ');
  const start = scenario.loadStart;
  const waited = start.waitedS >= 1 ? ` (after waiting ${Math.round(start.waitedS)} s for it to settle)` : '';
  const rounds = scenario.loadRounds.length > 1 ? `; 1-min load at each round's start ${scenario.loadRounds.map((v) => v.toFixed(2)).join(', ')}` : '';
  return [
    `_Load average (1/5/15 min) ${load(start.loadavg)} at the start${waited}${rounds}; ${load(scenario.loadEnd)} at the end. The scenario took ${fmtS(scenario.durationS)} s.${scenario.notes.length > 0 ? ` ${scenario.notes.join(' ')}` : ''}_`,
  ];
}

function scaleSection(scenario: ScenarioResult | undefined): string[] {
  if (!scenario) return [];
  const sizes = scenario.mailboxes.map((m) => m.count);
  const lines = [`## ${scenario.title}`, ''];
  lines.push('Peak RSS as the mailbox grows (one run each): the memory targets are judged on these rows.', '');
  lines.push(`| case | transport | ${sizes.map((n) => `${fmtCount(n)}: wall (s) | peak RSS`).join(' | ')} | RSS growth | notes |`);
  lines.push(`|---|---|${sizes.map(() => '---|---|').join('')}---|---|`);
  const ids = [...new Set(scenario.cases.map((r) => r.case.id))];
  for (const id of ids) {
    const results = sizes.map((n) => find(scenario, id, n));
    const figures = results.map(figure);
    const cells = figures.flatMap((f, i) => (f ? [fmtS(f.summary.median), fmtMb(f.summary.peakRss)] : [`n/a (${escapeCell(missing(results[i]))})`, '—']));
    const a = figures[0]?.summary.peakRss;
    const b = figures.at(-1)?.summary.peakRss;
    const growth = a != null && b != null && sizes.length > 1 ? `${b - a >= 0 ? '+' : ''}${fmtMb(b - a)}` : '—';
    const notes = [...new Set(results.flatMap((r) => (r ? summarize(r)?.notes ?? [] : [])))].map(escapeCell).join('; ');
    const first = results.find((r) => r !== undefined) as CaseResult;
    lines.push(`| ${[escapeCell(rowLabel(first)), transportCell(first), ...cells, growth, notes].join(' | ')} |`);
  }
  lines.push('', ...scenarioFooter(scenario), '');
  return lines;
}

function largeSection(scenario: ScenarioResult | undefined): string[] {
  if (!scenario) return [];
  const mailbox = scenario.mailboxes[0];
  if (!mailbox) return [];
  const size = mailbox.largestWire;
  const limit = 3 * size + 100 * MB;
  const lines = [`## ${scenario.title}`, ''];
  lines.push(
    `One message of ${fmtSize(size)} on the wire (a ${fmtSize(mailbox.attachmentBytes ?? 0)} attachment, base64), implicit TLS. ` +
      `RSS limit of the target: 3 × message size + 100 MB = ${fmtMb(limit)}.`,
    '',
  );
  lines.push('| case | runs | wall median (s) | min–max (s) | CPU (s) | peak RSS | within limit | server sent | notes |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const result of scenario.cases) {
    const { summary, cells } = basicCells(result);
    const within = summary?.peakRss != null && summary.validRuns > 0 ? (summary.peakRss < limit ? 'yes' : '**no**') : '—';
    lines.push(`| ${[escapeCell(rowLabel(result)), ...cells, within, summary ? fmtSize(summary.sentBytes) : '—', statusCell(result, summary)].join(' | ')} |`);
  }
  lines.push('', ...scenarioFooter(scenario), '');
  return lines;
}

function coldSection(scenario: ScenarioResult | undefined): string[] {
  if (!scenario) return [];
  const lines = [`## ${scenario.title}`, ''];
  lines.push('The every-minute cron case: an empty INBOX, from process start to exit.', '');
  lines.push('| case | transport | runs | wall median (s) | min–max (s) | CPU (s) | peak RSS | ÷ fetchmail (same protocol) | notes |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const result of scenario.cases) {
    const { summary, cells } = basicCells(result);
    const c = result.case;
    const ratio = c.group === 'mailpoll' && c.mode && c.transport ? wallRatio(scenario, c.id, caseId.peer('fetchmail', c.mode, c.transport)) : '';
    const label = c.group === 'mailpoll' ? `mailpoll ${c.protocol.toUpperCase()}` : `${rowLabel(result)}${c.protocol !== 'none' && c.group !== 'reference' ? ` (${c.protocol.toUpperCase()})` : ''}`;
    lines.push(`| ${[escapeCell(label), transportCell(result), ...cells, ratio, statusCell(result, summary)].join(' | ')} |`);
  }
  lines.push('', ...scenarioFooter(scenario), '');
  return lines;
}

/** The head of the file: what was measured, where, and whether the figures hold. */
function header(input: ReportInput): string[] {
  const { system, options } = input;
  const lines = ['# mailpoll benchmark results', ''];
  lines.push('Many accounts on one host (1,000 accounts, one and three `--watch` processes, SQLite and PostgreSQL): [RESULTS-accounts.md](RESULTS-accounts.md), `npm run bench:accounts`.', '');
  const starts = input.scenarios.map((s) => `${s.name} ${(s.loadStart.loadavg[0] ?? 0).toFixed(2)}`).join(', ');
  const limit = `${input.load.threshold.toFixed(2)} (0.5 per core × ${input.load.cores} cores)`;
  lines.push(
    ...loadBanner(
      input.scenarios.map((s) => ({ name: s.name, load: s.loadStart.loadavg[0] ?? 0 })),
      input.load,
      {
        unit: 'scenario',
        withheld: 'figures written, no target verdicts.',
        why: 'on a busy machine the process-per-message cases and the wall times spread most. Run the bench again on a quiet machine for verdicts.',
      },
    ),
  );
  if (!input.complete) lines.push('**Incomplete**: the bench was still running (or was stopped) when this was written.', '');
  if (options.only.length > 0) lines.push(`**Partial run**: only cases matching ${options.only.map((o) => `\`${o}\``).join(', ')}.`, '');
  lines.push('| | |', '|---|---|');
  lines.push(`| mailpoll | commit ${system.commit}; ${system.treeNote}; dist/ built ${system.distBuilt} |`);
  lines.push(`| date | ${system.date}; the bench took ${fmtS(input.durationS / 60)} min |`);
  lines.push(`| Node | ${system.node} |`);
  lines.push(`| load check | 1-minute load average at each scenario start: ${starts || 'no scenario ran'}; limit ${limit} |`);
  lines.push(`| machine | ${system.cpu}, ${system.cores} cores, ${system.ramGb} GB RAM |`);
  lines.push(`| OS | ${system.os}, kernel ${system.kernel} |`);
  lines.push(`| Dovecot | ${system.dovecot} (private instance on 127.0.0.1: plain and implicit-TLS ports) |`);
  lines.push(`| peers | ${system.peers.join(', ') || 'none'} |`);
  lines.push(`| libraries | ${system.libraries} |`);
  lines.push(
    `| parameters | \`${input.command}\`: sizes ${options.sizes.join(', ')} × ${fmtSize(options.size)}, transports ${options.transports.join(', ')}, ` +
      `modes ${options.modes.join(', ')}, runs ${options.runs} (slow cases ${options.slowRuns}, empty mailbox ${options.coldRuns}), ` +
      `${options.skipScale ? 'no memory scenario' : `memory scenario ${options.scaleSizes.join(', ')}`}${options.extras.length > 0 ? `, with ${options.extras.join(', ')}` : ''}, seed ${options.seed} |`,
  );
  lines.push('');
  if (input.notes.length > 0) lines.push('Notes:', '', ...input.notes.filter((note) => !note.startsWith('**Incomplete**')).map((note) => `- ${note}`), '');
  return lines;
}

/**
 * `analysis`: bench/ANALYSIS.md, written by people (what the profiles showed for each target
 * not met, and what would close it), appended after the figures; a target row not met links
 * to its paragraph when ANALYSIS.md has the anchor `<a name="miss-KEY"></a>`.
 */
export function renderReport(input: ReportInput, analysis?: string): string {
  const byName = new Map(input.scenarios.map((s) => [s.name, s]));
  const lines: string[] = [...header(input)];
  const rows = judgeTargets({ scenarios: input.scenarios, modes: input.options.modes, transports: input.options.transports, cores: input.load.cores });
  lines.push(...renderTargets(rows, loadedScenarios(input).length === 0, analysis));
  const main = byName.get('main');
  if (main) lines.push(...mainScenario(main, input.load.cores));
  lines.push(...scaleSection(byName.get('scale')));
  lines.push(...coldSection(byName.get('cold')));
  lines.push(...largeSection(byName.get('big-message')));
  if (analysis !== undefined && analysis.trim() !== '') lines.push('', analysis.trim(), '');
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
