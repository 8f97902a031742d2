/**
 * Connections per server host in watch mode: what counts as one host for `maxConnections`,
 * and the warning for IDLE accounts that cannot all get a connection. An IDLE session keeps
 * its host's slot for as long as it waits, so more IDLE accounts on a host than its slots
 * means the rest never start (and the host's polling accounts wait for a slot in vain).
 */
import type { AccountConfig } from '../config/types.js';

/** The key `maxConnections` counts by: `host:port`; none for a Maildir (no connection). */
export function connectionHost(account: Pick<AccountConfig, 'protocol' | 'host' | 'port'>): string | undefined {
  return account.protocol === 'maildir' ? undefined : `${account.host ?? ''}:${account.port ?? ''}`;
}

/** The account waits in IDLE between its cycles (IMAP, one folder), holding its connection. */
export function waitsInIdle(account: Pick<AccountConfig, 'protocol' | 'idle' | 'folders'>): boolean {
  return account.idle && account.protocol === 'imap' && account.folders === undefined;
}

/** Accounts a warning names before it counts the rest. */
const NAMED = 5;

/** One warning line per host whose IDLE accounts outnumber `maxConnections`. */
export function idleOverCapWarnings(accounts: readonly AccountConfig[], maxConnections: number): string[] {
  const byHost = new Map<string, string[]>();
  for (const account of accounts) {
    const host = connectionHost(account);
    if (host === undefined || !waitsInIdle(account)) continue;
    byHost.set(host, [...(byHost.get(host) ?? []), account.name]);
  }
  const lines: string[] = [];
  for (const [host, names] of byHost) {
    if (names.length <= maxConnections) continue;
    const left = names.length - maxConnections;
    const named = names.length <= NAMED ? names.join(', ') : `${names.slice(0, NAMED).join(', ')} and ${names.length - NAMED} more`;
    lines.push(
      `warning: ${names.length} accounts use IDLE on ${host} (${named}), more than maxConnections (${maxConnections}): ` +
        `an IDLE connection keeps its slot, so ${left} of them (and every other account on that host) wait for a connection that never frees. ` +
        `Raise maxConnections, or set idle: false on some of them.`,
    );
  }
  return lines;
}
