/**
 * RESULTS.md: the machine, one table per scenario (mailpoll's figures as ratios to each
 * floor and peer of the same run), and the issue's targets, each met / NOT met with the
 * figure it was judged on. Nothing is claimed that a valid measurement does not show: a
 * missing, invalid or unsupported measurement makes a target `n/a`, never `met`.
 */
import { HANDLER_LABEL, MODES, type Handler, type Mode } from './cases.js';
import { summarize, type CaseResult, type CaseSummary, type ScenarioResult } from './scenario.js';
import type { SystemInfo } from './system.js';

export interface ReportInput {
  system: SystemInfo;
  scenarios: ScenarioResult[];
  command: string;
  options: { n: number; size: number; runs: number; slowRuns: number; peerModes: string[]; seed: number; only: string[]; skipLarge: boolean };
  notes: string[];
  durationS: number;
}

const MB = 1024 * 1024;

function fmtS(seconds: number): string {
  return seconds >= 10 ? seconds.toFixed(1) : seconds.toFixed(2);
}

function fmtMb(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined ? 'n/a' : `${(bytes / MB).toFixed(0)} MB`;
}

function fmtRatio(ratio: number): string {
  return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

function fmtSize(bytes: number): string {
  if (bytes >= MB) return `${(bytes / MB).toFixed(bytes >= 10 * MB ? 0 : 1)} MB`;
  return `${(bytes / 1024).toFixed(0)} KB`;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function find(scenario: ScenarioResult | undefined, id: string): CaseResult | undefined {
  return scenario?.cases.find((result) => result.case.id === id);
}

/** A usable figure: at least one valid run. */
interface Figure {
  summary: CaseSummary;
  result: CaseResult;
}

function figure(result: CaseResult | undefined): Figure | undefined {
  if (!result) return undefined;
  const summary = summarize(result);
  if (!summary || summary.validRuns === 0) return undefined;
  return { summary, result };
}

/** Why a case has no usable figure (for `n/a (...)`). */
function missing(result: CaseResult | undefined, what = 'not run'): string {
  if (!result) return what;
  if (result.unsupported) return `error: ${result.unsupported}`;
  if (result.skipped) return result.skipped;
  const summary = summarize(result);
  if (!summary) return 'not run';
  if (summary.validRuns === 0) {
    const more = summary.notes.length > 1 ? ` (and ${summary.notes.length - 1} more, see the table)` : '';
    return `invalid in ${summary.runs} of ${summary.runs} runs: ${summary.notes[0] ?? 'check failed'}${more}`;
  }
  return 'n/a';
}

function ratioCell(mine: Figure | undefined, other: CaseResult | undefined): string {
  const theirs = figure(other);
  if (!mine || !theirs) return '—';
  return fmtRatio(mine.summary.median / theirs.summary.median);
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

const FLOORS: Record<Mode, { fetch: string; parse: string }> = {
  'imap/markSeen': { fetch: 'floor imap/markSeen imapflow-fetch', parse: 'floor imap/markSeen imapflow-parse' },
  'imap/delete': { fetch: 'floor imap/delete imapflow-fetch', parse: 'floor imap/delete imapflow-parse' },
  'pop3/keep': { fetch: 'floor pop3/keep pop3-bare', parse: 'floor pop3/keep pop3-parse' },
  'pop3/delete': { fetch: 'floor pop3/delete pop3-bare', parse: 'floor pop3/delete pop3-parse' },
};

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
  fetchmail: "fetchmail, MDA `cat > /dev/null`",
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

function basicCells(result: CaseResult): { summary: CaseSummary | undefined; cells: string[] } {
  const summary = summarize(result);
  if (!summary) return { summary, cells: ['0', '—', '—', '—', '—'] };
  const runs = summary.validRuns === summary.runs ? `${summary.runs}` : `${summary.validRuns}/${summary.runs}`;
  return {
    summary,
    cells: [runs, fmtS(summary.median), `${fmtS(summary.min)}–${fmtS(summary.max)}`, summary.cpuS === null ? 'n/a' : fmtS(summary.cpuS), fmtMb(summary.peakRss)],
  };
}

function mainScenario(scenario: ScenarioResult): string[] {
  const lines: string[] = [];
  const m = scenario.mailbox;
  lines.push(`## ${scenario.title}`, '');
  lines.push(
    `${m.count} messages, ${fmtSize(m.bytes)} in all (${fmtSize(m.wireBytes)} on the wire with CRLF), ${m.attachments} with a base64 attachment; ` +
      `wall seconds per whole process (median of the valid runs); CPU = user + system seconds of the process and the children it waited for (median); peak RSS = largest of the runs. ` +
      `Ratios are mailpoll's median ÷ the other's median from this same bench run: below 1 is faster than it.`,
    '',
  );
  for (const mode of MODES) {
    const rows = scenario.cases.filter((result) => result.case.mode === mode);
    if (rows.length === 0) continue;
    lines.push(`### ${MODE_TITLE[mode]}`, '');
    lines.push('| case | runs | wall median (s) | min–max (s) | CPU (s) | peak RSS | ÷ fetch floor | ÷ fetch+parse floor | ÷ fetchmail | ÷ getmail6 | notes |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const result of rows) {
      const { summary, cells } = basicCells(result);
      const mine = result.case.group === 'mailpoll' ? figure(result) : undefined;
      const ratios = result.case.group === 'mailpoll'
        ? [
            ratioCell(mine, find(scenario, FLOORS[mode].fetch)),
            ratioCell(mine, find(scenario, FLOORS[mode].parse)),
            ratioCell(mine, find(scenario, `fetchmail ${mode}`)),
            ratioCell(mine, find(scenario, `getmail6 ${mode}`)),
          ]
        : ['', '', '', ''];
      lines.push(`| ${[escapeCell(rowLabel(result)), ...cells, ...ratios, statusCell(result, summary)].join(' | ')} |`);
    }
    lines.push('');
  }
  lines.push(...scenarioFooter(scenario), '');
  return lines;
}

function scenarioFooter(scenario: ScenarioResult): string[] {
  const load = (values: number[]) => values.map((v) => v.toFixed(2)).join(' ');
  return [
    `_Load average (1/5/15 min) ${load(scenario.loadStart)} at the start, ${load(scenario.loadEnd)} at the end; scenario took ${fmtS(scenario.durationS)} s.${scenario.notes.length > 0 ? ` ${scenario.notes.join(' ')}` : ''}_`,
  ];
}

function scaleSection(small: ScenarioResult | undefined, large: ScenarioResult | undefined): string[] {
  if (!small && !large) return [];
  const lines: string[] = [];
  const label = (s: ScenarioResult | undefined) => (s ? `${s.mailbox.count.toLocaleString('en-US')} msgs` : 'not run');
  lines.push(`## Scale: ${label(small)} vs ${label(large)} (${fmtSize((small ?? large)!.mailbox.size)} each)`, '');
  const runs = Math.max(0, ...[...(small?.cases ?? []), ...(large?.cases ?? [])].map((result) => result.runs.length));
  lines.push(
    `Peak RSS must stay flat as the mailbox grows: the targets are judged on these rows. Wall = median of ${runs} run${runs === 1 ? '' : 's'} (\`--slow-runs\`); RSS = the largest.`,
    '',
  );
  lines.push(`| case | ${label(small)}: wall (s) | peak RSS | ${label(large)}: wall (s) | peak RSS | RSS growth | notes |`);
  lines.push('|---|---|---|---|---|---|---|');
  const ids = [...new Set([...(small?.cases ?? []), ...(large?.cases ?? [])].map((result) => result.case.id))];
  for (const id of ids) {
    const a = find(small, id);
    const b = find(large, id);
    const fa = figure(a);
    const fb = figure(b);
    const cell = (f: Figure | undefined, r: CaseResult | undefined) =>
      f ? [fmtS(f.summary.median), fmtMb(f.summary.peakRss)] : [r ? `n/a (${escapeCell(missing(r))})` : '—', '—'];
    const growth = fa?.summary.peakRss != null && fb?.summary.peakRss != null ? `${fb.summary.peakRss - fa.summary.peakRss >= 0 ? '+' : ''}${fmtMb(fb.summary.peakRss - fa.summary.peakRss)}` : '—';
    const notes = [a, b].flatMap((r) => (r ? summarize(r)?.notes ?? [] : [])).map(escapeCell);
    const base = (a ?? b)!;
    lines.push(`| ${[escapeCell(rowLabel(base)), ...cell(fa, a), ...cell(fb, b), growth, [...new Set(notes)].join('; ')].join(' | ')} |`);
  }
  lines.push('');
  for (const s of [small, large]) if (s) lines.push(...scenarioFooter(s).map((line) => line.replace('_Load', `_${label(s)}: load`)), '');
  return lines;
}

function largeSection(scenario: ScenarioResult | undefined): string[] {
  if (!scenario) return [];
  const size = scenario.mailbox.largestWire;
  const limit = 3 * size + 100 * MB;
  const lines = [`## ${scenario.title}`, ''];
  lines.push(
    `One message of ${fmtSize(size)} on the wire (a ${fmtSize(scenario.mailbox.attachmentBytes ?? 0)} attachment, base64). ` +
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
  lines.push('| case | runs | wall median (s) | min–max (s) | CPU (s) | peak RSS | ÷ fetchmail (same protocol) | notes |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const result of scenario.cases) {
    const { summary, cells } = basicCells(result);
    const c = result.case;
    const ratio = c.group === 'mailpoll' && c.mode ? ratioCell(figure(result), find(scenario, `fetchmail ${c.mode}`)) : '';
    const label = c.group === 'mailpoll' ? `mailpoll ${c.protocol.toUpperCase()}` : `${rowLabel(result)}${c.protocol !== 'none' && c.group !== 'reference' ? ` (${c.protocol.toUpperCase()})` : ''}`;
    lines.push(`| ${[escapeCell(label), ...cells, ratio, statusCell(result, summary)].join(' | ')} |`);
  }
  lines.push('', ...scenarioFooter(scenario), '');
  return lines;
}

// ---------------------------------------------------------------------------------- targets

type Verdict = 'met' | 'NOT met' | 'n/a';

interface Check {
  verdict: Verdict;
  text: string;
}

function compare(label: string, mine: CaseResult | undefined, other: CaseResult | undefined, otherLabel: string, limit: number): Check {
  const a = figure(mine);
  const b = figure(other);
  if (!a) return { verdict: 'n/a', text: `${label}: ${missing(mine)}` };
  if (!b) return { verdict: 'n/a', text: `${label}: ${otherLabel} ${missing(other)}` };
  const ratio = a.summary.median / b.summary.median;
  // Near the limit two decimals can round either way: show three.
  let shown = ratio < 1 ? `${ratio.toFixed(3)}×` : fmtRatio(ratio);
  if (Number.parseFloat(shown) === limit && ratio !== limit) shown = `${ratio.toFixed(4)}×`;
  return {
    verdict: ratio <= limit ? 'met' : 'NOT met',
    text: `${label}: ${fmtS(a.summary.median)} s vs ${otherLabel} ${fmtS(b.summary.median)} s = ${shown} (limit ${fmtRatio(limit)})`,
  };
}

function overall(checks: Check[]): Verdict {
  if (checks.some((check) => check.verdict === 'NOT met')) return 'NOT met';
  if (checks.length > 0 && checks.every((check) => check.verdict === 'met')) return 'met';
  return 'n/a';
}

function verdictText(verdict: Verdict, checks: Check[]): string {
  if (verdict === 'n/a' && checks.some((check) => check.verdict === 'met')) return 'partly measured (all measured figures met)';
  return verdict === 'NOT met' ? '**NOT met**' : verdict;
}

function targets(input: ReportInput): string[] {
  const byName = new Map(input.scenarios.map((s) => [s.name, s]));
  const main = byName.get('main');
  const lines = ['## Targets', ''];
  lines.push(
    'Each target is judged on the figures above (medians of valid runs, same bench run). `n/a` means not measured, ' +
      'or not measurable with this mailpoll (the reason is given); it is never counted as met.',
    '',
  );
  const section = (title: string, checks: Check[]) => {
    const verdict = overall(checks);
    lines.push(`- **${title}**: ${verdictText(verdict, checks)}`);
    for (const check of checks) lines.push(`  - ${check.verdict === 'NOT met' ? '**NOT met**' : check.verdict}: ${check.text}`);
  };
  const mp = (mode: Mode, handler: Handler) => find(main, `mailpoll ${mode} ${handler}`);

  section(
    'Headers-only JS handler ≤ 1.5× the bare fetch floor (IMAP: imapflow `UID FETCH 1:*`; POP3: bare POP3 client)',
    MODES.map((mode) => compare(`${mode}`, mp(mode, 'headers'), find(main, FLOORS[mode].fetch), 'floor', 1.5)),
  );
  section(
    'Full-parse JS handler no slower than the "fetch + simpleParser" floor',
    MODES.map((mode) => compare(`${mode}`, mp(mode, 'full'), find(main, FLOORS[mode].parse), 'floor', 1.0)),
  );
  // The command handlers against fetchmail's MDA doing the same work, per message: one
  // handler per core must be 2x faster, the default (one at a time) no slower.
  const commandCases = (mode: Mode, concurrency: boolean) =>
    (main?.cases ?? []).filter((r) => r.case.mode === mode && (r.case.handler === 'command-argv' || r.case.handler === 'command-sh') && (r.case.concurrency !== undefined) === concurrency);
  const perMessage = (result: CaseResult) => {
    const f = figure(result);
    return f && main ? ` (${((f.summary.median / main.mailbox.count) * 1000).toFixed(2)} ms per message)` : '';
  };
  const commandChecks = (concurrency: boolean, limit: number) =>
    MODES.flatMap((mode) => {
      const rows = commandCases(mode, concurrency);
      if (rows.length === 0) return [compare(`${mode}`, undefined, undefined, 'fetchmail', limit)];
      return rows.map((r) => {
        const check = compare(`${mode} ${r.case.handler}${concurrency ? ` x${r.case.concurrency}` : ''}`, r, find(main, `fetchmail ${mode}`), 'fetchmail', limit);
        return { ...check, text: `${check.text}${perMessage(r)}` };
      });
    });
  section('Command handler with `handlerConcurrency` = cores at least 2× faster than fetchmail with the MDA `cat > /dev/null`', commandChecks(true, 0.5));
  section('Command handler with the default `handlerConcurrency` no slower than fetchmail with the MDA `cat > /dev/null`', commandChecks(false, 1.0));
  section(
    'Every JS-handler case (except the shell handler) at least 5× faster than fetchmail',
    MODES.flatMap((mode) => (['headers', 'full'] as const).map((h) => compare(`${mode} ${h}`, mp(mode, h), find(main, `fetchmail ${mode}`), 'fetchmail', 0.2))),
  );
  section(
    'Every JS-handler case (except the shell handler) at least 10× faster than getmail6',
    MODES.flatMap((mode) => (['headers', 'full'] as const).map((h) => compare(`${mode} ${h}`, mp(mode, h), find(main, `getmail6 ${mode}`), 'getmail6', 0.1))),
  );

  // Memory.
  const small = byName.get('scale-1000');
  const big = byName.get('scale-10000');
  const rssChecks: Check[] = [];
  const growthChecks: Check[] = [];
  for (const result of big?.cases.filter((r) => r.case.group === 'mailpoll') ?? []) {
    const label = `${big!.mailbox.count.toLocaleString('en-US')} msgs, ${result.case.id.replace('mailpoll ', '')}`;
    const f = figure(result);
    if (!f || f.summary.peakRss === null) {
      rssChecks.push({ verdict: 'n/a', text: `${label}: ${f ? 'no RSS figure (install GNU time)' : missing(result)}` });
      growthChecks.push({ verdict: 'n/a', text: `${label}: ${f ? 'no RSS figure (install GNU time)' : missing(result)}` });
      continue;
    }
    rssChecks.push({ verdict: f.summary.peakRss < 150 * MB ? 'met' : 'NOT met', text: `${label}: peak RSS ${fmtMb(f.summary.peakRss)} (limit 150 MB)` });
    const base = figure(find(small, result.case.id));
    if (!base || base.summary.peakRss === null) {
      growthChecks.push({ verdict: 'n/a', text: `${label}: the 1,000-message run: ${missing(find(small, result.case.id))}` });
    } else {
      const growth = f.summary.peakRss - base.summary.peakRss;
      growthChecks.push({
        verdict: growth <= 20 * MB ? 'met' : 'NOT met',
        text: `${result.case.id.replace('mailpoll ', '')}: ${fmtMb(base.summary.peakRss)} at ${small!.mailbox.count.toLocaleString('en-US')} → ${fmtMb(f.summary.peakRss)} at ${big!.mailbox.count.toLocaleString('en-US')} (+${fmtMb(growth)}, limit +20 MB)`,
      });
    }
  }
  section('Peak RSS under 150 MB at 10,000 messages', rssChecks.length > 0 ? rssChecks : [{ verdict: 'n/a', text: 'not run (`--skip-large` or `--only`)' }]);
  section('Peak RSS at 10,000 messages no more than 20 MB above the 1,000-message run', growthChecks.length > 0 ? growthChecks : [{ verdict: 'n/a', text: 'not run' }]);

  const large = byName.get('big-message');
  const largeChecks: Check[] = [];
  let sizeCheck: Check = { verdict: 'n/a', text: 'not run (`--skip-large` or `--only`)' };
  if (large) {
    const size = large.mailbox.largestWire;
    const limit = 3 * size + 100 * MB;
    for (const result of large.cases.filter((r) => r.case.group === 'mailpoll')) {
      const label = result.case.id.replace('mailpoll ', '');
      if (result.case.id.endsWith('maxMessageSize')) {
        const f = figure(result);
        const summary = summarize(result);
        if (result.unsupported || result.skipped || !summary) sizeCheck = { verdict: 'n/a', text: missing(result) };
        else if (f) sizeCheck = { verdict: 'met', text: `server sent ${fmtSize(f.summary.sentBytes)} for a ${fmtSize(size)} message` };
        else sizeCheck = { verdict: 'NOT met', text: summary.notes.join('; ') || 'check failed' };
        continue;
      }
      const f = figure(result);
      if (!f || f.summary.peakRss === null) {
        largeChecks.push({ verdict: 'n/a', text: `${label}: ${f ? 'no RSS figure (install GNU time)' : missing(result)}` });
        continue;
      }
      largeChecks.push({
        verdict: f.summary.peakRss < limit ? 'met' : 'NOT met',
        text: `${label}: peak RSS ${fmtMb(f.summary.peakRss)} for a ${fmtSize(size)} message (limit ${fmtMb(limit)})`,
      });
    }
  }
  section('Peak RSS under 3× the message size + 100 MB for the 50 MB-attachment message', largeChecks.length > 0 ? largeChecks : [{ verdict: 'n/a', text: 'not run (`--skip-large` or `--only`)' }]);
  section('A message over `maxMessageSize` is never downloaded', [sizeCheck]);

  const cold = byName.get('cold');
  const coldChecks: Check[] = [];
  const fetchmailChecks: Check[] = [];
  for (const result of cold?.cases.filter((r) => r.case.group === 'mailpoll') ?? []) {
    const label = `${result.case.protocol.toUpperCase()}`;
    const f = figure(result);
    coldChecks.push(
      f
        ? { verdict: f.summary.median < 0.5 ? 'met' : 'NOT met', text: `${label}: ${fmtS(f.summary.median)} s (limit 0.50 s)` }
        : { verdict: 'n/a', text: `${label}: ${missing(result)}` },
    );
    fetchmailChecks.push(compare(label, result, find(cold, `fetchmail ${result.case.mode}`), 'fetchmail', 1.0));
  }
  section('Empty-mailbox cold run under 0.5 s wall', coldChecks.length > 0 ? coldChecks : [{ verdict: 'n/a', text: 'not run' }]);
  section("Empty-mailbox cold run no slower than fetchmail's", fetchmailChecks.length > 0 ? fetchmailChecks : [{ verdict: 'n/a', text: 'not run' }]);
  lines.push('');
  return lines;
}

/**
 * `analysis`: bench/ANALYSIS.md, written by people (what the profiles showed for each target
 * not met, and what would close it), appended after the targets so the figures and their
 * explanation are read together.
 */
export function renderReport(input: ReportInput, analysis?: string): string {
  const { system, options } = input;
  const byName = new Map(input.scenarios.map((s) => [s.name, s]));
  const lines: string[] = [];
  lines.push('# mailpoll benchmark results', '');
  lines.push(`Written by \`${input.command}\` (bench/run.ts) on ${system.date}; the whole bench took ${fmtS(input.durationS / 60)} min. See bench/README.md for the method.`, '');
  if (options.only.length > 0) lines.push(`**Partial run**: only cases matching ${options.only.map((o) => `\`${o}\``).join(', ')}.`, '');
  lines.push('| | |', '|---|---|');
  lines.push(`| machine | ${system.cpu}, ${system.cores} cores, ${system.ramGb} GB RAM |`);
  lines.push(`| OS | ${system.os}, kernel ${system.kernel} |`);
  lines.push(`| Node | ${system.node} |`);
  lines.push(`| Dovecot | ${system.dovecot} (private instance, implicit TLS on 127.0.0.1) |`);
  lines.push(`| peers | ${system.peers.join(', ')} |`);
  lines.push(`| libraries | ${system.libraries} |`);
  lines.push(`| mailpoll | commit ${system.commit}; ${system.treeNote}; dist/ built ${system.distBuilt} |`);
  lines.push(
    `| parameters | \`--n ${options.n} --size ${options.size} --runs ${options.runs} --slow-runs ${options.slowRuns} --peer-modes ${options.peerModes.join(',')}\`, seed ${options.seed}${options.skipLarge ? ', `--skip-large`' : ''} |`,
  );
  lines.push('');
  const notes = [...input.notes];
  const getmailStalled = input.scenarios.some((scenario) =>
    scenario.cases.some((result) => result.case.tool === 'getmail6' && result.runs.some((run) => /waiting child pid \d+ timed out/.test(run.note ?? ''))),
  );
  if (getmailStalled) {
    notes.push(
      'getmail6 aborted with "waiting child pid N timed out": it installs its SIGCHLD handler only after fork(), so when the MDA ' +
        'child exits before the parent gets there (likely on a busy 2-core machine), the signal is lost, getmail waits for its ' +
        '`timeout` (set to 30 s here) and gives up. Those runs are INVALID (not every message was fetched) and the getmail6 ' +
        'comparisons they feed are n/a; the table shows how far each got.',
    );
  }
  if (notes.length > 0) {
    lines.push('Notes:', '', ...notes.map((note) => `- ${note}`), '');
  }
  const main = byName.get('main');
  if (main) lines.push(...mainScenario(main));
  lines.push(...scaleSection(byName.get('scale-1000'), byName.get('scale-10000')));
  lines.push(...largeSection(byName.get('big-message')));
  lines.push(...coldSection(byName.get('cold')));
  lines.push(...targets(input));
  if (analysis !== undefined && analysis.trim() !== '') lines.push('', analysis.trim(), '');
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
