/**
 * The TCP connections a process holds, read from /proc as `ss -tnp` does: its sockets (the
 * `socket:[inode]` links in /proc/PID/fd) matched with the ESTABLISHED rows of /proc/net/tcp
 * and /proc/net/tcp6 by inode. Linux only, like the tests' Dovecot.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** State 01 of /proc/net/tcp: ESTABLISHED. */
const ESTABLISHED = '01';

/** How many established connections process `pid` holds to each of `ports` (by remote port). */
export function establishedTo(pid: number, ports: readonly number[]): Map<number, number> {
  const counts = new Map(ports.map((port) => [port, 0]));
  const inodes = socketInodes(pid);
  if (inodes.size === 0) return counts;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    // "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ..."
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== ESTABLISHED || !inodes.has(fields[9]!)) continue;
      const port = Number.parseInt(fields[2]!.split(':')[1] ?? '', 16);
      const count = counts.get(port);
      if (count !== undefined) counts.set(port, count + 1);
    }
  }
  return counts;
}

/** The inodes of the sockets process `pid` has open (none once it has exited). */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // Closed between the listing and the read.
    }
  }
  return inodes;
}

export interface ConnectionSampler {
  /** The most connections seen at once to each port so far. */
  readonly peak: Map<number, number>;
  /** Samples taken so far. */
  readonly samples: number;
  stop(): void;
}

/**
 * Counts `pid`'s established connections to `ports` every `everyMs` and keeps the most seen
 * at once per port. A sample can miss a peak shorter than `everyMs`.
 */
export function sampleConnections(pid: number, ports: readonly number[], everyMs = 20): ConnectionSampler {
  const peak = new Map(ports.map((port) => [port, 0]));
  let samples = 0;
  const sample = (): void => {
    samples += 1;
    for (const [port, count] of establishedTo(pid, ports)) peak.set(port, Math.max(peak.get(port) ?? 0, count));
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    peak,
    get samples() {
      return samples;
    },
    stop: () => clearInterval(timer),
  };
}
