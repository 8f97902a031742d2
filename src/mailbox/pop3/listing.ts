/**
 * The maildrop as one session lists it, once: UIDL (+ LIST), or on a server without UIDL a
 * fingerprint of each message's Message-ID, Date and size from TOP n 0 (uids `fp:...`),
 * computed lazily in message order.
 */
import { createHash } from 'node:crypto';
import { MailboxError } from '../../errors.js';
import { sentence, type ConnectionGuard } from '../connection-utils.js';
import { Pop3ProtocolError } from './connection.js';
import { cleanLine, refused } from './errors.js';
import { runCommands, type Session } from './session.js';

/** One message of the maildrop as this session sees it. */
export interface Entry {
  /** The message number of this session (1-based). */
  number: number;
  /** LIST size in octets. */
  size: number | undefined;
  /** The UIDL, or the `fp:` fingerprint once computed; undefined until then. */
  uid: string | undefined;
  messageId?: string | undefined;
  sentDate?: string | undefined;
}

/** The maildrop as listed once per session: UIDL, or fingerprints computed lazily in order. */
export interface Listing {
  mode: 'uidl' | 'fingerprint';
  /** Oldest first (message-number order). */
  entries: Entry[];
  byUid: Map<string, Entry>;
  /** Fingerprint mode: entries[0..fingerprinted) have their uid. */
  fingerprinted: number;
  /** Fingerprint mode: how often each fingerprint occurred so far (identical copies get `.2`, `.3`). */
  occurrences: Map<string, number>;
}

/** What listing needs of the adapter: who it is, its verbose log, and whether "no UIDL" was said already. */
export interface ListingContext {
  guard: ConnectionGuard;
  log(line: string): void;
  noUidl: { told: boolean };
}

/**
 * The session's listing, made once: UIDL (+ LIST), else fingerprints. In fingerprint mode
 * `lookup` are uids that must be resolvable: while one is unknown, the rest of the
 * maildrop is fingerprinted too (an unknown uid may be a message further on).
 */
export async function sessionListing(session: Session, context: ListingContext, lookup: string[] = []): Promise<Listing> {
  let listing = session.listing;
  if (!listing) {
    listing = await makeListing(session, context);
    session.listing = listing;
  }
  if (listing.mode === 'fingerprint' && lookup.some((uid) => !listing.byUid.has(uid))) {
    await fingerprintUpTo(context.guard, session, listing, listing.entries.length);
  }
  return listing;
}

async function makeListing(session: Session, context: ListingContext): Promise<Listing> {
  const { guard } = context;
  const { capabilities } = session;
  // CAPA without UIDL says it all; without CAPA, UIDL's own answer decides.
  const tryUidl = capabilities === undefined || capabilities.has('UIDL');
  const [uidl, list] = tryUidl
    ? await runCommands(session, [{ line: 'UIDL', multiline: true }, { line: 'LIST', multiline: true }])
    : [undefined, ...(await runCommands(session, [{ line: 'LIST', multiline: true }]))];
  if (!list) throw new Pop3ProtocolError('no answer to LIST');
  if (!list.ok) throw refused(guard, 'LIST', 'listing messages', list.text);
  const sizes = parsePairs(list.body);
  const entries: Entry[] = [...sizes.keys()].sort((a, b) => a - b).map((number) => ({ number, size: Number(sizes.get(number)), uid: undefined }));
  const byUid = new Map<string, Entry>();

  if (uidl?.ok) {
    const uids = parsePairs(uidl.body);
    for (const entry of entries) {
      const uid = uids.get(entry.number);
      if (uid === undefined) continue;
      if (byUid.has(uid)) {
        context.log(`* UIDL ${uid} is given to more than one message; message ${entry.number} is left out`);
        continue;
      }
      entry.uid = uid;
      byUid.set(uid, entry);
    }
    return { mode: 'uidl', entries, byUid, fingerprinted: entries.length, occurrences: new Map() };
  }
  if (!context.noUidl.told) {
    context.noUidl.told = true;
    const why = uidl ? `UIDL failed: ${cleanLine(guard, uidl.text) || '-ERR'}` : 'CAPA lists no UIDL';
    context.log(`* ${guard.where} has no UIDL (${why}): messages are identified by Message-ID + Date + size from TOP n 0 (uids fp:...)`);
  }
  return { mode: 'fingerprint', entries, byUid, fingerprinted: 0, occurrences: new Map() };
}

/** Fingerprint entries up to (not including) index `until`, in order, with TOP n 0. */
export async function fingerprintUpTo(guard: ConnectionGuard, session: Session, listing: Listing, until: number): Promise<void> {
  while (listing.fingerprinted < until) {
    const batch = listing.entries.slice(listing.fingerprinted, until);
    const answers = await runCommands(
      session,
      batch.map((entry) => ({ line: `TOP ${entry.number} 0`, multiline: true })),
    );
    batch.forEach((entry, index) => {
      const reply = answers[index]!;
      if (!reply.ok) {
        throw new MailboxError(
          `${guard.name} (${guard.where}): the server has no UIDL and refused TOP ${entry.number} 0 (${sentence(cleanLine(guard, reply.text) || '-ERR')}) Messages cannot be told apart across sessions; use IMAP or a server with UIDL.`,
          { account: guard.name },
        );
      }
      const headers = parseHeaders(reply.body ?? Buffer.alloc(0));
      const hash = createHash('sha256');
      hash.update(`${headers.messageId ?? ''}\0${headers.date ?? ''}\0${entry.size ?? ''}`);
      // Without a Message-ID, the whole header block (Received lines...) tells copies apart.
      if (headers.messageId === undefined) hash.update(headers.block);
      const base = `fp:${hash.digest('hex').slice(0, 32)}`;
      const seen = (listing.occurrences.get(base) ?? 0) + 1;
      listing.occurrences.set(base, seen);
      entry.uid = seen === 1 ? base : `${base}.${seen}`;
      entry.messageId = headers.messageId;
      entry.sentDate = headers.date;
      listing.byUid.set(entry.uid, entry);
    });
    listing.fingerprinted += batch.length;
  }
}

/** `n value` lines of UIDL/LIST -> number -> value (the second word). */
function parsePairs(body: Buffer | undefined): Map<number, string> {
  const result = new Map<number, string>();
  for (const line of (body ?? Buffer.alloc(0)).toString('latin1').split(/\r?\n/)) {
    const [number, value] = line.trim().split(/\s+/);
    const n = Number(number);
    if (value !== undefined && Number.isSafeInteger(n) && n > 0 && !result.has(n)) result.set(n, value);
  }
  return result;
}

/** Message-ID and Date as written (unfolded, trimmed), and the raw header block. */
function parseHeaders(body: Buffer): { messageId: string | undefined; date: string | undefined; block: Buffer } {
  const text = body.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const blockText = end === -1 ? text : text.slice(0, end);
  let messageId: string | undefined;
  let date: string | undefined;
  for (const line of blockText.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const match = /^([^:\s]+)\s*:\s*(.*)$/.exec(line);
    if (!match) continue;
    const field = match[1]!.toLowerCase();
    const value = match[2]!.trim();
    if (field === 'message-id' && messageId === undefined && value !== '') messageId = value;
    else if (field === 'date' && date === undefined && value !== '') date = value;
  }
  return { messageId, date, block: Buffer.from(blockText, 'latin1') };
}
