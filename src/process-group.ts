/**
 * Child programs started in their own process group (`detached: true`), so that stopping one
 * reaches the children it started too. Used by password commands and command handlers.
 */

/** Groups still running or being stopped: killed if mailpoll exits first. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/** Remember group `pgid` until `untrackGroup` or `stopGroup`. */
export function trackGroup(pgid: number): void {
  liveGroups.add(pgid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A program mailpoll leaves behind (exit on a second signal, a run that ends before a
  // timed-out group's KILL is due) would run on under init: end every group still tracked.
  process.once('exit', () => {
    for (const group of liveGroups) signalGroup(group, 'SIGKILL');
  });
}

/** Forget group `pgid`: what a program that ended normally left running is its own business. */
export function untrackGroup(pgid: number): void {
  liveGroups.delete(pgid);
}

/** Send `signal` to every process of group `pgid`; false when none is left. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * End the whole process group, background children included: SIGTERM, then SIGKILL to
 * whatever is left after `graceMs`. Resolves when the group is gone or killed.
 */
export async function stopGroup(pgid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pgid, 'SIGTERM')) return untrackGroup(pgid);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((wake) => setTimeout(wake, 20));
    if (!signalGroup(pgid, 0)) return untrackGroup(pgid);
  }
  signalGroup(pgid, 'SIGKILL');
  untrackGroup(pgid);
}
