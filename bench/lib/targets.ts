/**
 * The targets: each one judged per protocol and transport on the figures of this run, with
 * the figure, the limit and met / NOT met. A run whose load was too high at a scenario start
 * is not judged (its figures do not hold). A missing or invalid measurement is `n/a`, never
 * `met`. Where bench/ANALYSIS.md explains a miss (an anchor `<a name="miss-KEY"></a>` before
 * its paragraph), the row links to it.
 */
import type { Mode, Transport } from './cases.js';
import { TRANSPORT_LABEL } from './cases.js';
import { caseId, figure, find, findAll, fitCase, isFit, missing } from './figures.js';
import { MB, escapeCell, fmtCount, fmtMb, fmtMs, fmtRatio, fmtS, fmtSize } from './format.js';
import type { ScenarioResult } from './scenario.js';

export type TargetVerdict = 'met' | 'NOT met' | 'n/a' | 'info';

export interface TargetRow {
  /** The target's key: `miss-<key>` is its anchor in ANALYSIS.md. */
  key: string;
  target: string;
  what: string;
  figure: string;
  limit: string;
  verdict: TargetVerdict;
}

export interface TargetContext {
  scenarios: ScenarioResult[];
  modes: Mode[];
  transports: Transport[];
  cores: number;
}

const where = (mode: Mode, transport: Transport) => `${mode.startsWith('imap') ? 'IMAP' : 'POP3'} ${mode.split('/')[1]}, ${TRANSPORT_LABEL[transport]}`;

/** A ratio against its limit (lower is better): the figure shows both sides. */
function ratioRow(
  base: Omit<TargetRow, 'figure' | 'verdict' | 'limit'>,
  mine: { value: number; text: string } | string,
  theirs: { value: number; text: string } | string,
  limit: number,
  limitText: string,
): TargetRow {
  if (typeof mine === 'string') return { ...base, figure: `n/a: ${mine}`, limit: limitText, verdict: 'n/a' };
  if (typeof theirs === 'string') return { ...base, figure: `n/a: the comparison ${theirs}`, limit: limitText, verdict: 'n/a' };
  // A cost per message at or below zero is noise between the sizes, not a figure.
  if (theirs.value <= 0 || mine.value <= 0) return { ...base, figure: `${mine.text} vs ${theirs.text}: no ratio (not above zero)`, limit: limitText, verdict: 'n/a' };
  const ratio = mine.value / theirs.value;
  let shown = ratio < 1 ? `${ratio.toFixed(3)}×` : fmtRatio(ratio);
  // Near the limit two decimals can round either way: show more.
  if (Number.parseFloat(shown) === limit && ratio !== limit) shown = `${ratio.toFixed(4)}×`;
  return { ...base, figure: `${mine.text} vs ${theirs.text} = ${shown}`, limit: limitText, verdict: ratio <= limit ? 'met' : 'NOT met' };
}

/** Cost per message of a main-scenario case, or why there is none. */
function slopeOf(main: ScenarioResult | undefined, id: string, label: string): { value: number; text: string } | string {
  const fitted = fitCase(main, id);
  if (!isFit(fitted)) return `${label}: ${fitted.missing}`;
  return { value: fitted.fit.slopeS, text: `${label} ${fmtMs(fitted.fit.slopeS)} ms/msg` };
}

/** Whole-run median of a case on the largest main mailbox. */
function wallOf(main: ScenarioResult | undefined, id: string, label: string): { value: number; text: string } | string {
  const result = find(main, id);
  const f = figure(result);
  if (!f) return `${label}: ${missing(result)}`;
  return { value: f.summary.median, text: `${label} ${fmtS(f.summary.median)} s` };
}

export function judgeTargets(context: TargetContext): TargetRow[] {
  const byName = new Map(context.scenarios.map((s) => [s.name, s]));
  const main = byName.get('main');
  const largest = main?.mailboxes.at(-1)?.count;
  const atLargest = largest === undefined ? '' : ` at ${fmtCount(largest)}`;
  const rows: TargetRow[] = [];
  const combos = context.modes.flatMap((mode) => context.transports.map((transport) => ({ mode, transport })));

  for (const { mode, transport } of combos) {
    rows.push(
      ratioRow(
        { key: 'headers-slope', target: 'Headers-only handler: cost per message ≤ 1.5× the bare fetch floor', what: where(mode, transport) },
        slopeOf(main, caseId.mailpoll(mode, transport, 'headers'), 'mailpoll'),
        slopeOf(main, caseId.fetchFloor(mode, transport), 'floor'),
        1.5,
        '≤ 1.50×',
      ),
    );
  }
  for (const { mode, transport } of combos) {
    const floor = wallOf(main, caseId.parseFloor(mode, transport), 'floor');
    rows.push(
      ratioRow(
        { key: 'full-parse', target: `Full parse: whole run${atLargest} no slower than fetch + simpleParser`, what: where(mode, transport) },
        wallOf(main, caseId.mailpoll(mode, transport, 'full'), 'mailpoll'),
        floor,
        1.0,
        '≤ 1.00×',
      ),
    );
    const perCore = ratioRow(
      { key: 'full-parse', target: `Full parse: whole run${atLargest} no slower than fetch + simpleParser`, what: `${where(mode, transport)}, \`handlerConcurrency: ${context.cores}\`` },
      wallOf(main, caseId.mailpoll(mode, transport, 'full', context.cores), 'mailpoll'),
      floor,
      1.0,
      '≤ 1.00× (shown, not judged)',
    );
    rows.push({ ...perCore, verdict: perCore.verdict === 'n/a' ? 'n/a' : 'info' });
  }
  for (const { mode, transport } of combos) {
    for (const handler of ['headers', 'full'] as const) {
      rows.push(
        ratioRow(
          { key: 'fetchmail-5x', target: `At least 5× faster than fetchmail${atLargest} (whole run)`, what: `${where(mode, transport)}, ${handler === 'headers' ? 'headers-only' : 'full parse'}` },
          wallOf(main, caseId.mailpoll(mode, transport, handler), 'mailpoll'),
          wallOf(main, caseId.peer('fetchmail', mode, transport), 'fetchmail'),
          0.2,
          '≤ 0.20×',
        ),
      );
    }
  }
  for (const [key, concurrency, limit, title] of [
    ['command-2x', context.cores, 0.5, `Command handler, \`handlerConcurrency: ${context.cores}\` (cores): per message at least 2× faster than fetchmail's MDA`],
    ['command-default', undefined, 1.0, "Command handler, default `handlerConcurrency`: per message no slower than fetchmail's MDA"],
  ] as const) {
    for (const { mode, transport } of combos) {
      for (const handler of ['command-argv', 'command-sh'] as const) {
        rows.push(
          ratioRow(
            { key, target: title, what: `${where(mode, transport)}, ${handler === 'command-sh' ? '`"cat > /dev/null"`' : '`["dd", …]`'}` },
            slopeOf(main, caseId.mailpoll(mode, transport, handler, concurrency), 'mailpoll'),
            slopeOf(main, caseId.peer('fetchmail', mode, transport), 'fetchmail'),
            limit,
            limit === 0.5 ? '≤ 0.50×' : '≤ 1.00×',
          ),
        );
      }
    }
  }
  rows.push(...memoryRows(byName.get('scale')));
  rows.push(...coldRows(byName.get('cold'), context.transports));
  rows.push(...otherRows(context, main));
  rows.push(...bigMessageRows(byName.get('big-message')));
  return rows;
}

function memoryRows(scale: ScenarioResult | undefined): TargetRow[] {
  const small = scale?.mailboxes[0]?.count ?? 1000;
  const big = scale?.mailboxes.at(-1)?.count ?? 10_000;
  const rssTarget = `Peak RSS under 150 MB at ${fmtCount(big)} messages`;
  const growthTarget = `Peak RSS at ${fmtCount(big)} messages ≤ 20 MB above the ${fmtCount(small)}-message run`;
  if (!scale) {
    return [
      { key: 'rss-10000', target: rssTarget, what: 'all', figure: 'n/a: not run (`--skip-scale` or `--only`)', limit: '< 150 MB', verdict: 'n/a' },
      { key: 'rss-growth', target: growthTarget, what: 'all', figure: 'n/a: not run', limit: '≤ +20 MB', verdict: 'n/a' },
    ];
  }
  const rows: TargetRow[] = [];
  const ids = [...new Set(scale.cases.filter((r) => r.case.group === 'mailpoll').map((r) => r.case.id))];
  const label = (id: string) => id.replace('mailpoll ', '').replace(' plain ', ', plain, ').replace(' tls ', ', implicit TLS, ');
  for (const id of ids) {
    const large = figure(find(scale, id, big));
    const rss = large?.summary.peakRss ?? null;
    rows.push(
      rss === null
        ? { key: 'rss-10000', target: rssTarget, what: label(id), figure: `n/a: ${large ? 'no RSS figure (install GNU time)' : missing(find(scale, id, big))}`, limit: '< 150 MB', verdict: 'n/a' }
        : { key: 'rss-10000', target: rssTarget, what: label(id), figure: `${fmtMb(rss)} at ${fmtCount(big)}`, limit: '< 150 MB', verdict: rss < 150 * MB ? 'met' : 'NOT met' },
    );
  }
  for (const id of ids) {
    const a = figure(find(scale, id, small))?.summary.peakRss ?? null;
    const b = figure(find(scale, id, big))?.summary.peakRss ?? null;
    if (a === null || b === null || small === big) {
      rows.push({ key: 'rss-growth', target: growthTarget, what: label(id), figure: `n/a: ${small === big ? 'one size only' : missing(find(scale, id, a === null ? small : big))}`, limit: '≤ +20 MB', verdict: 'n/a' });
      continue;
    }
    const growth = b - a;
    rows.push({
      key: 'rss-growth',
      target: growthTarget,
      what: label(id),
      figure: `${fmtMb(a)} at ${fmtCount(small)} → ${fmtMb(b)} at ${fmtCount(big)} (${growth >= 0 ? '+' : ''}${fmtMb(growth)})`,
      limit: '≤ +20 MB',
      verdict: growth <= 20 * MB ? 'met' : 'NOT met',
    });
  }
  return rows;
}

function coldRows(cold: ScenarioResult | undefined, transports: Transport[]): TargetRow[] {
  const target = 'Empty mailbox: whole run under 0.25 s';
  const rows: TargetRow[] = [];
  for (const transport of transports) {
    for (const [protocol, mode] of [['IMAP', 'imap/markSeen'], ['POP3', 'pop3/keep']] as const) {
      const result = find(cold, caseId.mailpoll(mode, transport, 'headers'));
      const f = figure(result);
      const what = `${protocol}, ${TRANSPORT_LABEL[transport]}`;
      rows.push(
        f
          ? { key: 'empty-mailbox', target, what, figure: `${fmtS(f.summary.median)} s (${fmtS(f.summary.min)}–${fmtS(f.summary.max)})`, limit: '< 0.25 s', verdict: f.summary.median < 0.25 ? 'met' : 'NOT met' }
          : { key: 'empty-mailbox', target, what, figure: `n/a: ${missing(result)}`, limit: '< 0.25 s', verdict: 'n/a' },
      );
    }
  }
  return rows;
}

/** getmail6, when it was run (`--with getmail6`): the earlier 10× target. */
function otherRows(context: TargetContext, main: ScenarioResult | undefined): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const { mode, transport } of context.modes.flatMap((mode) => context.transports.map((transport) => ({ mode, transport })))) {
    const getmail = caseId.peer('getmail6', mode, transport);
    if (findAll(main, getmail).length === 0) continue;
    for (const handler of ['headers', 'full'] as const) {
      rows.push(
        ratioRow(
          { key: 'getmail6-10x', target: 'At least 10× faster than getmail6 (whole run)', what: `${where(mode, transport)}, ${handler === 'headers' ? 'headers-only' : 'full parse'}` },
          wallOf(main, caseId.mailpoll(mode, transport, handler), 'mailpoll'),
          wallOf(main, getmail, 'getmail6'),
          0.1,
          '≤ 0.10×',
        ),
      );
    }
  }
  return rows;
}

/** The 50 MB message (`--with big-message`): peak RSS and maxMessageSize. */
function bigMessageRows(large: ScenarioResult | undefined): TargetRow[] {
  if (!large) return [];
  const size = large.mailboxes[0]?.largestWire ?? 0;
  const limit = 3 * size + 100 * MB;
  const rows: TargetRow[] = [];
  for (const result of large.cases.filter((r) => r.case.group === 'mailpoll')) {
    const what = result.case.id.replace('mailpoll ', '');
    const f = figure(result);
    if (result.case.id.endsWith('maxMessageSize')) {
      const target = 'A message over `maxMessageSize` is never downloaded';
      if (f) rows.push({ key: 'max-message-size', target, what, figure: `server sent ${fmtSize(f.summary.sentBytes)} for a ${fmtSize(size)} message`, limit: 'less than the message', verdict: 'met' });
      else if (result.runs.length > 0) rows.push({ key: 'max-message-size', target, what, figure: escapeCell(missing(result)), limit: 'less than the message', verdict: 'NOT met' });
      else rows.push({ key: 'max-message-size', target, what, figure: `n/a: ${missing(result)}`, limit: 'less than the message', verdict: 'n/a' });
      continue;
    }
    const target = 'Peak RSS under 3× the message size + 100 MB (50 MB attachment)';
    const rss = f?.summary.peakRss ?? null;
    rows.push(
      rss === null
        ? { key: 'big-message', target, what, figure: `n/a: ${f ? 'no RSS figure' : missing(result)}`, limit: `< ${fmtMb(limit)}`, verdict: 'n/a' }
        : { key: 'big-message', target, what, figure: fmtMb(rss), limit: `< ${fmtMb(limit)}`, verdict: rss < limit ? 'met' : 'NOT met' },
    );
  }
  return rows;
}

/** The Markdown of the verdict table. `judged` false: a loaded run, every verdict withheld. */
export function renderTargets(rows: TargetRow[], judged: boolean, analysis: string | undefined): string[] {
  const anchors = new Set([...(analysis ?? '').matchAll(/<a (?:name|id)="miss-([\w-]+)"/g)].map((match) => match[1]));
  const counted = rows.filter((row) => row.verdict !== 'info');
  const count = (verdict: TargetVerdict) => counted.filter((row) => row.verdict === verdict).length;
  const lines = ['## Targets', ''];
  lines.push(
    judged
      ? `${count('met')} met, ${count('NOT met')} not met, ${count('n/a')} not measured (of ${counted.length}). ` +
          'Per message = the cost per message fitted from the mailbox sizes (the fixed cost per run is in the tables below); whole run = the median at the largest size. ' +
          '`n/a` is never counted as met.'
      : '**Not judged: the run was loaded** (see the load check above). The figures are shown; a verdict needs a quiet run.',
    '',
  );
  lines.push('| target | case | figure | limit | verdict | why |', '|---|---|---|---|---|---|');
  let previous = '';
  for (const row of rows) {
    const verdict = !judged && row.verdict !== 'n/a' ? 'not judged' : row.verdict === 'NOT met' ? '**NOT met**' : row.verdict;
    const why = judged && row.verdict === 'NOT met' && anchors.has(row.key) ? `[ANALYSIS](#miss-${row.key})` : '';
    const target = row.target === previous ? '' : row.target;
    previous = row.target;
    lines.push(`| ${[target, row.what, row.figure, row.limit, verdict, why].map(escapeCell).join(' | ')} |`);
  }
  lines.push('');
  return lines;
}
