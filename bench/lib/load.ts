/**
 * The machine's load when a scenario starts. A figure measured while other work competes
 * for the cores does not hold, so a run whose 1-minute load average at any scenario start
 * exceeds half a runnable process per core is "loaded": its figures are written, its
 * targets not judged. The bench's own previous scenario loads the machine too, so before
 * each scenario the bench waits (up to a limit) for the load average to come down.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** Runnable processes per core above which the machine counts as busy. */
export const LOAD_PER_CORE = 0.5;

export interface LoadSample {
  /** 1, 5 and 15-minute load averages when the scenario started. */
  loadavg: number[];
  /** Seconds spent waiting for the load to come down first. */
  waitedS: number;
}

export function loadThreshold(cores: number): number {
  return LOAD_PER_CORE * cores;
}

/**
 * Wait until the 1-minute load average is at most `threshold`, polling every 5 s (the
 * kernel updates it that often), for at most `maxWaitS` seconds; returns the load then.
 */
export async function settleLoad(threshold: number, maxWaitS: number, progress: (line: string) => void): Promise<LoadSample> {
  const started = Date.now();
  let announced = false;
  for (;;) {
    const loadavg = os.loadavg();
    const waitedS = (Date.now() - started) / 1000;
    if ((loadavg[0] ?? 0) <= threshold || waitedS >= maxWaitS) return { loadavg, waitedS };
    if (!announced) {
      progress(`bench: load average ${(loadavg[0] ?? 0).toFixed(2)} above ${threshold.toFixed(2)}: waiting up to ${Math.round(maxWaitS - waitedS)} s for it to come down`);
      announced = true;
    }
    await sleep(Math.min(5000, Math.max(0, maxWaitS - waitedS) * 1000 + 1));
  }
}

/**
 * The first lines of a results file about load: **Loaded run** naming the `starts` (scenarios
 * or cases) that began above the threshold, what that withholds and why, or **Quiet run**.
 */
export function loadBanner(
  starts: Array<{ name: string; load: number }>,
  load: { threshold: number; cores: number },
  text: { unit: string; withheld: string; why: string },
): string[] {
  const limit = `${load.threshold.toFixed(2)} (0.5 per core × ${load.cores} cores)`;
  const busy = starts.filter((start) => start.load > load.threshold);
  if (busy.length > 0) {
    const names = busy.map((start) => `\`${start.name}\``).join(', ');
    return [`**Loaded run: ${text.withheld}** The 1-minute load average was above ${limit} at the start of ${names}; ${text.why}`, ''];
  }
  return starts.length > 0 ? [`**Quiet run**: the 1-minute load average was at most ${limit} at every ${text.unit} start.`, ''] : [];
}
