/**
 * Messages as the server sends them: the streamed UID FETCH of bodies, and FETCH rows shaped
 * into candidates and messages.
 */
import type { FetchMessageObject, ImapFlow } from 'imapflow';
import { formatDuration } from '../../duration.js';
import type { ConnectionGuard } from '../connection-utils.js';
import type { Candidate, FetchedMessage } from '../types.js';
import { describeImapError } from './errors.js';
import { toSequenceSets, uidLabel } from './uid-set.js';

/** The headers `list` fetches for the ledger's fingerprint (with RFC822.SIZE). */
export const FINGERPRINT_HEADERS = ['message-id', 'date'];

/** A deadline that ends the session when it passes (the adapter's `#within`). */
type Within = <T>(work: Promise<T>, ms: number, message: () => string) => Promise<T>;

/**
 * The bodies of `uids` from the selected `folder`, in the order given, by one UID FETCH
 * BODY.PEEK[] (never sets \Seen). Only the time spent waiting for the server counts against
 * fetchTimeout; a stall names the UIDs still awaited.
 */
export async function* streamBodies(guard: ConnectionGuard, client: ImapFlow, uids: number[], folder: string, within: Within, headersOnly = false): AsyncGenerator<FetchedMessage> {
  const limit = guard.account.fetchTimeout;
  // A stall names the UIDs still awaited (the first is usually the one that stalls, often
  // one huge message), so that an operator can find it.
  const received = new Set<number>();
  const what = (): string => {
    const waiting = uids.filter((uid) => !received.has(uid));
    return `fetch of ${uidLabel(waiting.length > 0 ? waiting : uids)} from ${folder}`;
  };

  // BODY.PEEK[] (imapflow's `source`) never sets \Seen, nor does BODY.PEEK[HEADER] (`headers`).
  // One command: the cycle's batches are small (100 messages), so the set stays short.
  const body = headersOnly ? { headers: true } : { source: true };
  const rows = client.fetch(toSequenceSets(uids, Infinity).join(','), { uid: true, ...body, flags: true, size: true, internalDate: true }, { uid: true });
  const iterator = rows[Symbol.asyncIterator]();
  // Only the time spent waiting for the server counts against fetchTimeout: imapflow
  // reads the next message when the previous one is taken, so a slow consumer (a
  // handler) would otherwise use up the budget.
  let remaining = limit;
  // Messages are yielded in the candidates' order; servers answer in UID order, which is
  // the order `list` returns, so normally nothing waits in `early`.
  const early = new Map<number, FetchedMessage>();
  let next = 0;
  let finished = false;
  try {
    for (;;) {
      const started = Date.now();
      const step = await within(iterator.next(), Math.max(remaining, 0), () => `${what()} timed out after ${formatDuration(limit)}`);
      remaining -= Date.now() - started;
      if (step.done) break;
      const message = toFetchedMessage(step.value);
      if (!message) continue;
      received.add(Number(message.uid));
      early.set(Number(message.uid), message);
      while (next < uids.length && early.has(uids[next]!)) {
        const ready = early.get(uids[next]!)!;
        early.delete(uids[next]!);
        next += 1;
        yield ready;
      }
    }
    finished = true;
    // What the server did not send (expunged meanwhile) is skipped; the rest keeps its order.
    for (; next < uids.length; next += 1) {
      const ready = early.get(uids[next]!);
      if (ready) yield ready;
    }
  } catch (error) {
    throw describeImapError(guard, error, `fetching from ${folder}`);
  } finally {
    if (!finished) {
      // Ends imapflow's FETCH iteration (it drains the rest); not awaited when the
      // connection is already gone, its pending read settles on its own.
      const ending = iterator.return?.(undefined).catch(() => undefined);
      if (!guard.failure && ending) await ending;
    }
  }
}

/** The candidates of `uids` (in that order) from their metadata rows; a message expunged between SEARCH and FETCH has none. */
export function toCandidates(uids: number[], rows: FetchMessageObject[]): Candidate[] {
  const byUid = new Map(rows.map((row) => [row.uid, row]));
  return uids.flatMap((uid) => {
    const row = byUid.get(uid);
    if (!row) return [];
    const headers = headerFields(row.headers);
    return [
      {
        uid: String(uid),
        size: row.size,
        flags: [...(row.flags ?? [])],
        date: toDate(row.internalDate),
        messageId: headers.get('message-id'),
        sentDate: headers.get('date'),
      },
    ];
  });
}

/**
 * `BODY[HEADER.FIELDS (...)]` as name (lower case) -> value as written: unfolded (the
 * CRLF before continuation whitespace removed), ends trimmed, the first of repeated fields.
 */
function headerFields(block: Buffer | undefined): Map<string, string> {
  const fields = new Map<string, string>();
  if (!block) return fields;
  const text = block.toString('utf8').replace(/\r?\n(?=[ \t])/g, '');
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (!fields.has(name) && value !== '') fields.set(name, value);
  }
  return fields;
}

function toDate(value: Date | string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function toFetchedMessage(row: FetchMessageObject): FetchedMessage | undefined {
  // A FETCH without a body (flags changed by another client meanwhile) is not a message.
  const raw = row.source ?? row.headers;
  if (!raw) return undefined;
  return {
    uid: String(row.uid),
    raw,
    size: row.size ?? raw.length,
    ...(row.source ? {} : { headersOnly: true }),
    flags: [...(row.flags ?? [])],
    date: toDate(row.internalDate),
  };
}
