/**
 * The figures of the accounts bench, from what a case recorded: throughput (messages per
 * second, database cost per message) and, for the idle window, memory, connections and how
 * late each account's polls start against its own schedule.
 */
import type { CycleSample, Sample } from './accounts-watch.js';

export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null;
}

export function median(values: number[]): number | null {
  return percentile(values, 50);
}

export interface Lateness {
  /** Cycles whose start could be compared with a plan. */
  cycles: number;
  /** Start minus the time the previous cycle's `nextAt` named, ms. */
  maxMs: number | null;
  p95Ms: number | null;
  /** p95 over the first and the second half of the window: does it grow? */
  p95FirstHalfMs: number | null;
  p95SecondHalfMs: number | null;
  /**
   * Start-to-start time minus the interval, ms: what each cycle adds to the shift of the
   * account's phase (an interval is measured from one start to the next, so lateness is
   * not caught up).
   */
  periodExcessP95Ms: number | null;
  periodExcessMaxMs: number | null;
  /** Largest shift of one account's starts over the window against start + k × interval, ms. */
  phaseShiftMaxMs: number | null;
}

/** Lateness of the cycles that started inside [from, to] (epoch ms). */
export function lateness(cycles: CycleSample[], from: number, to: number, intervalMs: number): Lateness {
  const inWindow = cycles.filter((cycle) => cycle.startedAt >= from && cycle.startedAt <= to && cycle.status !== 'busy');
  const planned = inWindow.filter((cycle) => cycle.plannedAt !== null);
  const late = planned.map((cycle) => cycle.startedAt - (cycle.plannedAt as number));
  const middle = from + (to - from) / 2;
  const half = (first: boolean) => planned.filter((cycle) => (cycle.startedAt < middle) === first).map((cycle) => cycle.startedAt - (cycle.plannedAt as number));
  const byAccount = new Map<string, number[]>();
  for (const cycle of inWindow) {
    const starts = byAccount.get(cycle.account) ?? [];
    starts.push(cycle.startedAt);
    byAccount.set(cycle.account, starts);
  }
  const excess: number[] = [];
  const shifts: number[] = [];
  for (const starts of byAccount.values()) {
    starts.sort((a, b) => a - b);
    for (let index = 1; index < starts.length; index += 1) excess.push((starts[index] as number) - (starts[index - 1] as number) - intervalMs);
    if (starts.length > 1) shifts.push((starts.at(-1) as number) - (starts[0] as number) - (starts.length - 1) * intervalMs);
  }
  return {
    cycles: planned.length,
    maxMs: late.length > 0 ? Math.max(...late) : null,
    p95Ms: percentile(late, 95),
    p95FirstHalfMs: percentile(half(true), 95),
    p95SecondHalfMs: percentile(half(false), 95),
    periodExcessP95Ms: percentile(excess, 95),
    periodExcessMaxMs: excess.length > 0 ? Math.max(...excess) : null,
    phaseShiftMaxMs: shifts.length > 0 ? Math.max(...shifts) : null,
  };
}

export interface WindowMemory {
  /** Largest VmRSS sample in the window, bytes. */
  peakRss: number | null;
  /** Median of the samples in the window's second half, bytes. */
  steadyRss: number | null;
  /** Median of the samples in the first and last fifth: a leak shows as growth. */
  startRss: number | null;
  endRss: number | null;
  /** Most connections one process held at once (sampled). */
  maxConnections: number;
  /** Most connections the server side had at once (sampled). */
  maxServerConnections: number;
  samples: number;
}

/** Memory of process `index` and the connections, over the samples in [fromMs, toMs] (ms since the start). */
export function windowMemory(samples: Sample[], index: number, fromMs: number, toMs: number): WindowMemory {
  const inWindow = samples.filter((sample) => sample.atMs >= fromMs && sample.atMs <= toMs);
  const rss = (from: number, to: number) =>
    inWindow.filter((sample) => sample.atMs >= fromMs + from * (toMs - fromMs) && sample.atMs <= fromMs + to * (toMs - fromMs)).map((sample) => sample.rss[index] ?? 0).filter((value) => value > 0);
  const all = rss(0, 1);
  return {
    peakRss: all.length > 0 ? Math.max(...all) : null,
    steadyRss: median(rss(0.5, 1)),
    startRss: median(rss(0, 0.2)),
    endRss: median(rss(0.8, 1)),
    ...peakConnections(inWindow),
    samples: inWindow.length,
  };
}

/** The most connections one process held, and the server side had, in any sample. */
export function peakConnections(samples: Sample[]): { maxConnections: number; maxServerConnections: number } {
  let maxConnections = 0;
  let maxServerConnections = 0;
  for (const sample of samples) {
    maxConnections = Math.max(maxConnections, ...sample.connections.perProcess);
    maxServerConnections = Math.max(maxServerConnections, sample.connections.server);
  }
  return { maxConnections, maxServerConnections };
}
