/**
 * A mailbox's baseline: what is already there is recorded as `skipped` (never handed over,
 * never touched on the server), so that only mail arriving later reaches the handler. Taken
 * by an account's first run when it sets `startFrom` (no ledger rows, no baseline yet), and
 * by `mailpoll baseline` whenever asked. `startFrom: <date>` leaves what arrived since then
 * (IMAP INTERNALDATE, Maildir mtime) to the handler.
 */
import type { AccountConfig } from '../config/types.js';
import type { Mailbox } from '../mailbox/types.js';
import type { Reporter } from '../report/types.js';
import { fingerprint } from '../store/fingerprint.js';
import type { MessageKey, ReceivedMessage, Store } from '../store/types.js';

export interface BaselineContext {
  account: AccountConfig;
  mailbox: Mailbox;
  store: Store;
  runId: number;
  reporter: Reporter;
  /** The ledger's key of the opened folder. */
  where: Omit<MessageKey, 'uid'>;
  folder: string;
}

/**
 * Takes the baseline when `always` (`mailpoll baseline`), or when the account sets
 * `startFrom` and this is the mailbox's first run. Returns how many messages it recorded
 * (undefined: none was due).
 */
export async function takeBaseline(context: BaselineContext, always: boolean): Promise<number | undefined> {
  const { account, mailbox, store, where } = context;
  if (!always && (account.startFrom === undefined || !(await store.isFirstRun(where.identity, where.mailbox)))) return undefined;
  // Everything there (read or not, matching the search or not): only new mail is handed over later.
  const known = async (uids: readonly string[]): Promise<ReadonlySet<string>> => new Set((await store.findByUids(where, uids)).keys());
  const candidates = await mailbox.list({ onlyUnseen: false, skip: known });
  const before = typeof account.startFrom === 'number' ? account.startFrom : undefined;
  const old = candidates.filter((candidate) => {
    if (before === undefined) return true;
    // Arrival time where the protocol knows it, else the Date header; neither: taken as old.
    const time = candidate.date?.getTime() ?? (candidate.sentDate === undefined ? NaN : Date.parse(candidate.sentDate));
    return Number.isNaN(time) || time < before;
  });
  const records: ReceivedMessage[] = old.map((candidate) => ({
    key: { ...where, uid: candidate.uid },
    account: account.name,
    protocol: account.protocol,
    fingerprint: fingerprint({ messageId: candidate.messageId, sentDate: candidate.sentDate, size: candidate.size }),
    rawHash: null,
    meta: { messageId: candidate.messageId ?? null, sender: null, subject: null, date: candidate.date?.toISOString() ?? null, size: candidate.size ?? null },
    raw: undefined,
  }));
  // A dry run's store keeps them in memory only: the rest of the run leaves them out, nothing is written.
  const recorded = await store.recordBaseline(context.runId, where, records);
  context.reporter.report({ type: 'baseline', account: account.name, protocol: account.protocol, folder: context.folder, recorded, handled: 0 });
  return recorded;
}
