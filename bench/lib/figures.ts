/**
 * Reading a scenario's results: a case's figures on one mailbox (median of its valid runs),
 * and its fixed cost and cost per message over the mailbox sizes. A missing, invalid or
 * unsupported measurement has no figure, and `missing` says why.
 */
import type { Mode, Transport } from './cases.js';
import { fitLine, type LinearFit } from './fit.js';
import { fmtCount } from './format.js';
import { summarize, type CaseResult, type CaseSummary, type ScenarioResult } from './scenario.js';

/** The ids of a main-scenario case: what the targets look up. */
export const caseId = {
  mailpoll: (mode: Mode, transport: Transport, handler: string, concurrency?: number) =>
    `mailpoll ${mode} ${transport} ${handler}${concurrency === undefined ? '' : ` x${concurrency}`}`,
  fetchFloor: (mode: Mode, transport: Transport) => `floor ${mode} ${transport} ${mode.startsWith('imap') ? 'imapflow-fetch' : 'pop3-bare'}`,
  parseFloor: (mode: Mode, transport: Transport) => `floor ${mode} ${transport} ${mode.startsWith('imap') ? 'imapflow-parse' : 'pop3-parse'}`,
  peer: (tool: string, mode: Mode, transport: Transport) => `${tool} ${mode} ${transport}`,
};

/** The result of case `id` on the mailbox of `count` messages (the largest when unset). */
export function find(scenario: ScenarioResult | undefined, id: string, count?: number): CaseResult | undefined {
  const matching = scenario?.cases.filter((result) => result.case.id === id) ?? [];
  if (count !== undefined) return matching.find((result) => result.mailbox.count === count);
  return matching.sort((a, b) => b.mailbox.count - a.mailbox.count)[0];
}

/** Every result of case `id`, smallest mailbox first. */
export function findAll(scenario: ScenarioResult | undefined, id: string): CaseResult[] {
  return (scenario?.cases.filter((result) => result.case.id === id) ?? []).sort((a, b) => a.mailbox.count - b.mailbox.count);
}

/** A usable figure: at least one valid run. */
export interface Figure {
  summary: CaseSummary;
  result: CaseResult;
}

export function figure(result: CaseResult | undefined): Figure | undefined {
  if (!result) return undefined;
  const summary = summarize(result);
  if (!summary || summary.validRuns === 0) return undefined;
  return { summary, result };
}

/** Why a case has no usable figure (for `n/a (...)`). */
export function missing(result: CaseResult | undefined, what = 'not run'): string {
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

/** Fixed cost and cost per message of a case: needs valid runs at two sizes or more. */
export interface CaseFit {
  fit: LinearFit;
  results: CaseResult[];
}

export function fitCase(scenario: ScenarioResult | undefined, id: string): CaseFit | { missing: string } {
  const results = findAll(scenario, id);
  const points = results.flatMap((result) => {
    const f = figure(result);
    return f ? [{ messages: result.mailbox.count, median: f.summary.median, min: f.summary.min, max: f.summary.max }] : [];
  });
  const fit = fitLine(points);
  if (fit) return { fit, results };
  const bad = results.find((result) => !figure(result));
  if (bad) return { missing: `${missing(bad)} at ${fmtCount(bad.mailbox.count)} messages` };
  return { missing: results.length === 0 ? 'not run' : 'one mailbox size only (`--sizes` needs two)' };
}

export function isFit(value: CaseFit | { missing: string }): value is CaseFit {
  return 'fit' in value;
}
