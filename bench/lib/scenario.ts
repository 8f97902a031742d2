/**
 * Running a scenario: one or more seeded mailboxes (e.g. 500 and 2,000 messages), a list
 * of cases, each run `case.runs` times on every mailbox. Runs are interleaved (run 1 of
 * every case on every mailbox, then run 2, ...) so that a burst of load from elsewhere on
 * the machine spreads over all cases and sizes instead of landing on one. Before every run
 * the mailbox is restored and checked (STATUS: all messages there, all unseen); after it,
 * the server's log and state are checked by the case.
 */
import { rm } from 'node:fs/promises';
import os from 'node:os';
import { runDir, type Case, type Verdict } from './cases.js';
import type { LoadSample } from './load.js';
import { measure } from './measure.js';
import type { BenchServer, SeededMailbox } from './server.js';

export interface RunRecord {
  wallS: number;
  /** Bytes; null without GNU time. */
  peakRss: number | null;
  /** User + system CPU seconds (with waited-for children); null without GNU time. */
  cpuS: number | null;
  valid: boolean;
  note?: string;
  /** What the server log says it sent (IMAP out=, POP3 retr bytes). */
  sentBytes: number;
  exitCode: number | null;
}

export interface CaseResult {
  case: Case;
  /** The mailbox of these runs (a scenario may have several sizes). */
  mailbox: SeededMailbox;
  runs: RunRecord[];
  /** The case cannot run with this mailpoll (or tool): `n/a (error: ...)`. */
  unsupported?: string;
  skipped?: string;
}

export interface ScenarioResult {
  name: string;
  title: string;
  /** Smallest first. */
  mailboxes: SeededMailbox[];
  /** One per case and mailbox. */
  cases: CaseResult[];
  /** The load when the scenario started (after waiting for it to settle). */
  loadStart: LoadSample;
  /** The 1-minute load average at the start of each round (information, not judged). */
  loadRounds: number[];
  loadEnd: number[];
  durationS: number;
  notes: string[];
}

export interface ScenarioSpec {
  name: string;
  title: string;
  mailboxes: SeededMailbox[];
  cases: Case[];
  notes?: string[];
}

export type Progress = (line: string) => void;

const RUN_TIMEOUT_MS = 45 * 60_000;

function mb(bytes: number | null): string {
  return bytes === null ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

export async function runScenario(server: BenchServer, spec: ScenarioSpec, loadStart: LoadSample, progress: Progress): Promise<ScenarioResult> {
  const started = Date.now();
  const mailboxes = [...spec.mailboxes].sort((a, b) => a.count - b.count);
  const results: CaseResult[] = mailboxes.flatMap((mailbox) =>
    spec.cases.map((c): CaseResult => (c.skip ? { case: c, mailbox, runs: [], skipped: c.skip } : { case: c, mailbox, runs: [] })),
  );
  const rounds = Math.max(0, ...spec.cases.map((c) => c.runs));
  const loadRounds: number[] = [];
  /** One run of `result`'s case: its record, or undefined when the case turned out unsupported. */
  const runOnce = async (result: CaseResult, label: string): Promise<RunRecord | undefined> => {
    const { user, count } = result.mailbox;
    const current = result.case;
    await server.restore(user);
    const before = await server.status(user);
    if (before.messages !== count || before.unseen !== count) {
      throw new Error(`restoring ${user} failed: ${before.messages} messages, ${before.unseen} unseen, expected ${count}`);
    }
    const dir = await runDir();
    try {
      const command = await current.build({ server, mailbox: result.mailbox, dir });
      await server.markLog();
      const measurement = await measure({ ...command, timeoutMs: RUN_TIMEOUT_MS });
      // mailpoll exits 0 or 1 (a message failed) after a session; 2 and 3 may have had none.
      const noSession = current.group === 'reference' || (current.group === 'mailpoll' && measurement.code !== 0 && measurement.code !== 1);
      const sessions = await server.sessionStats(user, noSession ? 0 : 1);
      const state = await server.status(user);
      const verdict: Verdict = measurement.timedOut
        ? { valid: false, note: `killed after ${RUN_TIMEOUT_MS / 60_000} min` }
        : current.check({ measurement, state, sessions, mailbox: result.mailbox });
      if (verdict.unsupported) {
        // A case that cannot run with this mailpoll cannot run on any mailbox size.
        for (const other of results) if (other.case.id === current.id) other.unsupported = verdict.unsupported;
        progress(`${label} ${current.id}: n/a (error: ${verdict.unsupported})`);
        return undefined;
      }
      progress(
        `${label} ${current.id}: ${measurement.wallS.toFixed(2)} s` +
          `${measurement.cpuS === null ? '' : ` (CPU ${measurement.cpuS.toFixed(2)} s)`}, ${mb(measurement.peakRss)}` +
          `${verdict.valid ? '' : ' INVALID'}${verdict.note ? ` (${verdict.note})` : ''}`,
      );
      return {
        wallS: measurement.wallS,
        peakRss: measurement.peakRss,
        cpuS: measurement.cpuS,
        valid: verdict.valid,
        sentBytes: sessions.sentBytes,
        exitCode: measurement.code,
        ...(verdict.note ? { note: verdict.note } : {}),
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  for (let round = 0; round < rounds; round += 1) {
    loadRounds.push(os.loadavg()[0] ?? 0);
    for (const result of results) {
      const current = result.case;
      if (result.skipped || result.unsupported || round >= current.runs) continue;
      const label = `[${spec.name} n=${result.mailbox.count} ${round + 1}/${current.runs}]`;
      let record = await runOnce(result, label);
      // A known flaky failure of the tool itself (not of what is measured): try again, and
      // keep the failed attempt in the table (it shows as an invalid run).
      let retries = current.retry?.max ?? 0;
      while (record && !record.valid && retries > 0 && current.retry?.when.test(record.note ?? '')) {
        result.runs.push(record);
        retries -= 1;
        progress(`${label} ${current.id}: trying again (${current.retry.reason})`);
        record = await runOnce(result, label);
      }
      if (record) result.runs.push(record);
    }
  }
  return {
    name: spec.name,
    title: spec.title,
    mailboxes,
    cases: results,
    loadStart,
    loadRounds,
    loadEnd: os.loadavg(),
    durationS: (Date.now() - started) / 1000,
    notes: spec.notes ?? [],
  };
}

/** Figures of a case over its valid runs (all runs when none is valid). */
export interface CaseSummary {
  runs: number;
  validRuns: number;
  median: number;
  min: number;
  max: number;
  /** Largest peak RSS over the runs, bytes. */
  peakRss: number | null;
  /** Median CPU seconds (user + system). */
  cpuS: number | null;
  sentBytes: number;
  notes: string[];
}

export function summarize(result: CaseResult): CaseSummary | undefined {
  if (result.runs.length === 0) return undefined;
  const valid = result.runs.filter((run) => run.valid);
  const used = valid.length > 0 ? valid : result.runs;
  const walls = used.map((run) => run.wallS).sort((a, b) => a - b);
  const cpu = used.map((run) => run.cpuS).filter((value): value is number => value !== null);
  const rss = used.map((run) => run.peakRss).filter((value): value is number => value !== null);
  return {
    runs: result.runs.length,
    validRuns: valid.length,
    median: median(walls),
    cpuS: cpu.length > 0 ? median(cpu) : null,
    min: walls[0] as number,
    max: walls.at(-1) as number,
    peakRss: rss.length > 0 ? Math.max(...rss) : null,
    sentBytes: Math.max(...used.map((run) => run.sentBytes)),
    notes: [...new Set(result.runs.map((run) => run.note).filter((note): note is string => note !== undefined))],
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
