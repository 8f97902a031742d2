/**
 * The POP3 adapter: the `Mailbox` interface on a small client of our own over `net`/`tls`
 * (RFC 1939, RFC 2449 CAPA and PIPELINING, RFC 2595 STLS; see ./pop3/). One connection per
 * `open()`. Candidates come from one UIDL (or, on a server without UIDL, from a fingerprint
 * of TOP n 0); bodies are RETRieved as raw bytes, pipelined where the server allows;
 * DELE is pipelined too and takes effect only when QUIT is answered: a delete is pending
 * until `commit()` (QUIT) confirms it, and `commit()` throws when it cannot. What leaves this file is an AuthError, ConnectionError,
 * TlsError, TimeoutError, MailboxError or ConfigError with a one-line message.
 */
import { createHash } from 'node:crypto';
import type { AccountConfig } from '../config/types.js';
import { formatDuration } from '../config/duration.js';
import {
  AuthError,
  ConfigError,
  ConnectionError,
  MailboxError,
  MailpollError,
  TimeoutError,
  TlsError,
  describeError,
} from '../errors.js';
import { greetingProtocol, oneLine, readCa, sentence, silentPortProbe, withDeadline, type SilentPortProbe } from './connection-utils.js';
import { describeNetworkError, errorCode, implicitTlsPortError, wrongProtocolError } from './net-errors.js';
import { Pop3ClosedError, Pop3Connection, Pop3GreetingError, Pop3ProtocolError, type Pop3Command, type Pop3Reply } from './pop3/connection.js';
import type {
  Candidate,
  Disposition,
  DispositionResult,
  FetchedMessage,
  ListOptions,
  Mailbox,
  MailboxCapabilities,
  MailboxStatus,
} from './types.js';

export interface Pop3MailboxOptions {
  /**
   * Verbose log sink: one line per command, status line or connection event. Message
   * bodies are summarised as a byte count; the password never appears. Default: none.
   */
  debug?: ((line: string) => void) | undefined;
}

/** A POP3 mailbox for `account`. Nothing happens on the network before `open()`. */
export function createPop3Mailbox(account: AccountConfig, options: Pop3MailboxOptions = {}): Mailbox {
  return new Pop3Mailbox(account, options);
}

/** Pipelined RETRs in flight at most: this many commands... */
const PIPELINE_MAX_COMMANDS = 64;
/** ...and this many bytes of announced (LIST) size, but always at least one command. */
const PIPELINE_MAX_BYTES = 8 * 1024 * 1024;
/** DELE and TOP commands per write when pipelining. */
const PIPELINE_BATCH = 256;

/** A plaintext client on an implicit-TLS port waits for a greeting that never comes. */
const NO_GREETING_HINT = ' (no greeting: if the port expects TLS from the first byte, set tls: implicit)';

const TLS_ALTERNATIVES = "Use tls: implicit with the server's TLS port (usually 995), or tls: none (insecure).";

/** One message of the maildrop as this session sees it. */
interface Entry {
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
interface Listing {
  mode: 'uidl' | 'fingerprint';
  /** Oldest first (message-number order). */
  entries: Entry[];
  byUid: Map<string, Entry>;
  /** Fingerprint mode: entries[0..fingerprinted) have their uid. */
  fingerprinted: number;
  /** Fingerprint mode: how often each fingerprint occurred so far (identical copies get `.2`, `.3`). */
  occurrences: Map<string, number>;
}

interface Session {
  connection: Pop3Connection;
  /** CAPA after login; undefined when the server has no CAPA. */
  capabilities: Set<string> | undefined;
  pipelining: boolean;
  listing: Listing | undefined;
  /** Message numbers whose DELE was answered +OK (-> their uid): final only at QUIT. */
  deleted: Map<number, string>;
}

class Pop3Mailbox implements Mailbox {
  readonly protocol = 'pop3' as const;
  readonly capabilities: MailboxCapabilities = { move: false, markSeen: false, idle: false, commitEndsSession: true };

  readonly #account: AccountConfig;
  readonly #debug: ((line: string) => void) | undefined;
  readonly #host: string;
  readonly #port: number;
  #session: Session | undefined;
  /** Set once the session is unusable (a timeout): every later call throws it. */
  #failure: MailpollError | undefined;
  #toldNoUidl = false;

  constructor(account: AccountConfig, options: Pop3MailboxOptions) {
    this.#account = account;
    this.#debug = options.debug;
    this.#host = account.host ?? '';
    this.#port = account.port ?? (account.tls === 'implicit' ? 995 : 110);
  }

  get #where(): string {
    return `${this.#host}:${this.#port}`;
  }

  get #name(): string {
    return this.#account.name;
  }

  async open(): Promise<MailboxStatus> {
    // A session left open is ended first; its pending deletes are not taken as done.
    if (this.#session) await this.close();
    this.#failure = undefined;
    const account = this.#account;
    const name = this.#name;
    if (!account.host) throw new ConfigError(`${name}: host is not set. Set host: for this pop3 account.`, { account: name });
    const user = account.login ?? account.user;
    if (!user) throw new ConfigError(`${name}: user is not set. Set user: (or login:) for this pop3 account.`, { account: name });
    if (account.password === undefined) {
      throw new AuthError(`${name}: no password configured. Set password, passwordEnv, passwordFile or passwordCommand.`, { account: name });
    }
    if (/[\r\n]/.test(user) || /[\r\n]/.test(account.password)) {
      throw new AuthError(`${name}: the user or password contains a line break, which POP3 USER/PASS cannot send. Check them.`, { account: name });
    }
    const ca = await readCa(this.#account);

    // One budget for TCP + TLS + greeting + login + STAT.
    const attempt: { connection?: Pop3Connection; greeted: boolean; phase: string } = {
      greeted: false,
      phase: `connecting to ${this.#where}`,
    };
    const limit = account.connectTimeout;
    const timedOut = (): string => {
      const hint = !attempt.greeted && account.tls !== 'implicit' ? NO_GREETING_HINT : '';
      return `${attempt.phase} timed out after ${formatDuration(limit)}${hint}. Check host, port and tls:.`;
    };
    // A plaintext client on an implicit-TLS port gets silence: recognised by a TLS probe (see
    // silentPortProbe) instead of at the timeout. Nothing more happens once the server greets.
    let tlsPort: MailpollError | undefined;
    const probe =
      account.tls === 'implicit'
        ? undefined
        : silentPortProbe(this.#host, this.#port, () => {
            tlsPort = implicitTlsPortError('pop3', { account: name, host: this.#host, port: this.#port });
            attempt.connection?.destroy();
          });
    try {
      const steps = this.#openSteps(user, account.password, ca, attempt, probe);
      return await this.#within(steps, limit, timedOut, () => attempt.connection?.destroy());
    } catch (error) {
      attempt.connection?.destroy();
      this.#session = undefined;
      throw tlsPort ?? this.#describe(error, attempt.greeted ? attempt.phase : 'connect');
    } finally {
      probe?.stop();
    }
  }

  async #openSteps(
    user: string,
    password: string,
    ca: Buffer | undefined,
    attempt: { connection?: Pop3Connection; greeted: boolean; phase: string },
    probe: SilentPortProbe | undefined,
  ): Promise<MailboxStatus> {
    const account = this.#account;
    const name = this.#name;
    const where = this.#where;
    const connection = new Pop3Connection({
      host: this.#host,
      port: this.#port,
      implicitTls: account.tls === 'implicit',
      ca,
      rejectUnauthorized: account.tlsRejectUnauthorized,
      debug: this.#debug,
      secret: password,
    });
    attempt.connection = connection;
    connection.onConnect = () => probe?.connected();

    const greeting = await connection.greeting.finally(() => probe?.stop());
    attempt.greeted = true;
    if (!greeting.ok) {
      throw new ConnectionError(`${name}: ${where} refused the session: ${sentence(this.#clean(greeting.text) || '-ERR')} Try again later.`, {
        account: name,
      });
    }

    if (account.tls === 'starttls') {
      attempt.phase = `starting TLS (STLS) on ${where}`;
      const capa = await connection.command({ line: 'CAPA', multiline: true });
      // A server without CAPA may still know STLS: then its answer to STLS decides.
      if (capa.ok && !parseCapabilities(capa.body).has('STLS')) {
        throw new TlsError(`${name} (${where}): the server does not offer STLS. ${TLS_ALTERNATIVES}`, { account: name });
      }
      const stls = await connection.command({ line: 'STLS' });
      if (!stls.ok) {
        throw new TlsError(`${name} (${where}): the server refused STLS (${this.#clean(stls.text) || '-ERR'}). ${TLS_ALTERNATIVES}`, {
          account: name,
        });
      }
      await connection.startTls();
    }

    attempt.phase = `logging in to ${where}`;
    const userReply = await connection.command({ line: `USER ${user}` });
    if (!userReply.ok) throw this.#loginRefused(userReply.text);
    const passReply = await connection.command({ line: `PASS ${password}`, logAs: 'PASS (* hidden *)' });
    if (!passReply.ok) throw this.#loginRefused(passReply.text);

    attempt.phase = `opening the mailbox on ${where}`;
    // Capabilities may change with login (RFC 2449): ask again.
    const capa = await connection.command({ line: 'CAPA', multiline: true });
    const capabilities = capa.ok ? parseCapabilities(capa.body) : undefined;
    const stat = await connection.command({ line: 'STAT' });
    if (!stat.ok) throw this.#refused('STAT', 'opening the mailbox', stat.text);
    const total = Number(/^(\d+)/.exec(stat.text)?.[1]);
    if (!Number.isSafeInteger(total)) throw new Pop3ProtocolError(`unexpected STAT answer "${stat.text.slice(0, 80)}"`);

    this.#session = {
      connection,
      capabilities,
      pipelining: capabilities?.has('PIPELINING') ?? false,
      listing: undefined,
      deleted: new Map(),
    };
    const bytes = Number(/^\d+\s+(\d+)/.exec(stat.text)?.[1]);
    return { folder: 'INBOX', total, unseen: undefined, bytes: Number.isSafeInteger(bytes) ? bytes : undefined };
  }

  /** POP3 has no seen flag: `onlyUnseen` does not apply; the ledger's `skip` leaves out what is done. */
  async list(options: ListOptions): Promise<Candidate[]> {
    const session = this.#requireOpen();
    const limit = options.limit;
    if (limit !== undefined && limit <= 0) return [];
    const full = (found: Candidate[]): boolean => limit !== undefined && found.length >= limit;
    try {
      return await this.#bounded('listing messages', async () => {
        const listing = await this.#listing(session);
        const found: Candidate[] = [];
        const consider = (entry: Entry): void => {
          if (entry.uid === undefined || session.deleted.has(entry.number)) return;
          if (options.skip?.(entry.uid)) return;
          found.push({
            uid: entry.uid,
            size: entry.size,
            flags: [],
            ...(entry.messageId !== undefined ? { messageId: entry.messageId } : {}),
            ...(entry.sentDate !== undefined ? { sentDate: entry.sentDate } : {}),
          });
        };
        if (listing.mode === 'uidl') {
          for (const entry of listing.entries) {
            if (full(found)) break;
            consider(entry);
          }
          return found;
        }
        // Fingerprints cost a TOP each: compute only as far as `limit` needs.
        let index = 0;
        while (index < listing.entries.length && !full(found)) {
          const want = limit === undefined ? listing.entries.length : Math.max(PIPELINE_BATCH, limit - found.length);
          await this.#fingerprint(session, listing, Math.min(listing.entries.length, index + want));
          for (; index < listing.fingerprinted && !full(found); index += 1) consider(listing.entries[index]!);
        }
        return found;
      });
    } catch (error) {
      throw this.#describe(error, 'listing messages');
    }
  }

  async *fetch(candidates: Candidate[]): AsyncGenerator<FetchedMessage> {
    const session = this.#requireOpen();
    if (candidates.length === 0) return;
    const limit = this.#account.fetchTimeout;
    // Until the RETRs go out, the batch; then the message whose answer is awaited (often one
    // huge message), named so that an operator can find it.
    let what = `fetch of ${candidates.length} message${candidates.length === 1 ? '' : 's'}`;
    const timedOut = (): string => `${what} timed out after ${formatDuration(limit)} on ${this.#where} (the server stopped sending). Try again; raise fetchTimeout: for large messages or a slow link.`;
    // Only the time spent waiting for the server counts against fetchTimeout: a slow
    // consumer (a handler) does not use up the budget.
    let remaining = limit;
    const wait = async <T>(work: Promise<T>): Promise<T> => {
      const started = Date.now();
      try {
        return await this.#within(work, Math.max(remaining, 0), timedOut, () => this.#abort(session));
      } finally {
        remaining -= Date.now() - started;
      }
    };

    const wanted: Entry[] = [];
    try {
      const listing = await wait(this.#listing(session, candidates.map((candidate) => candidate.uid)));
      for (const candidate of candidates) {
        const entry = listing.byUid.get(candidate.uid);
        // Gone since it was listed (or deleted in this session): not a message any more.
        if (!entry || session.deleted.has(entry.number)) this.#log(`* ${candidate.uid} is not in the maildrop any more; skipped`);
        else wanted.push(entry);
      }
    } catch (error) {
      throw this.#describe(error, `fetching from ${this.#where}`);
    }

    // RETRs in flight, oldest first. Where the server pipelines, the next ones are sent
    // before a message is handed out, so they arrive while the consumer works on it.
    const inFlight: Array<{ entry: Entry; reply: Promise<Pop3Reply> }> = [];
    let next = 0;
    let bytesInFlight = 0;
    const refill = (): void => {
      const batch: Entry[] = [];
      while (next < wanted.length) {
        const count = inFlight.length + batch.length;
        if (count > 0 && (!session.pipelining || count >= PIPELINE_MAX_COMMANDS || bytesInFlight >= PIPELINE_MAX_BYTES)) break;
        const entry = wanted[next]!;
        next += 1;
        batch.push(entry);
        bytesInFlight += entry.size ?? 0;
      }
      if (batch.length === 0) return;
      const replies = session.connection.send(batch.map((entry) => ({ line: `RETR ${entry.number}`, multiline: true, sizeHint: entry.size })));
      batch.forEach((entry, index) => inFlight.push({ entry, reply: replies[index]! }));
    };

    try {
      refill();
      while (inFlight.length > 0) {
        const head = inFlight.shift()!;
        what = `fetch of uid ${head.entry.uid} (message ${head.entry.number})`;
        let reply: Pop3Reply;
        try {
          reply = await wait(head.reply);
        } catch (error) {
          throw this.#describe(error, `fetching message ${head.entry.number} (${head.entry.uid}) from ${this.#where}`);
        }
        bytesInFlight -= head.entry.size ?? 0;
        if (!reply.ok) throw this.#refused(`RETR ${head.entry.number}`, `fetching message ${head.entry.uid}`, reply.text);
        refill();
        const raw = reply.body ?? Buffer.alloc(0);
        yield { uid: head.entry.uid!, raw, size: raw.length, flags: [] };
      }
    } finally {
      // Answers still in flight (the consumer stopped early) are read and dropped by the
      // connection; later commands queue behind them. Their promises are pre-handled.
      inFlight.length = 0;
    }
  }

  async apply(dispositions: Disposition[]): Promise<DispositionResult[]> {
    const results: DispositionResult[] = dispositions.map((disposition) => ({ uid: disposition.uid, status: 'failed' }));
    const deletes: number[] = [];
    dispositions.forEach((disposition, index) => {
      const { uid, action } = disposition;
      switch (action) {
        case 'keep':
          results[index] = { uid, status: 'done' };
          return;
        case 'delete':
          deletes.push(index);
          return;
        case 'markSeen':
          results[index] = {
            uid,
            status: 'failed',
            error: new MailboxError(`${this.#name}: cannot mark message ${uid} as read: POP3 has no read flag. Use keep or delete.`, {
              account: this.#name,
            }),
          };
          return;
        case 'move':
          results[index] = {
            uid,
            status: 'failed',
            error: new MailboxError(`${this.#name}: cannot move message ${uid}: POP3 has no folders. Use keep or delete.`, {
              account: this.#name,
            }),
          };
          return;
        default: {
          const unknown: string = action;
          results[index] = {
            uid,
            status: 'failed',
            error: new MailboxError(`${this.#name}: unknown action "${unknown}" for message ${uid}.`, { account: this.#name }),
          };
        }
      }
    });
    if (deletes.length === 0) return results;

    const what = `deleting ${deletes.length} message${deletes.length === 1 ? '' : 's'}`;
    try {
      const session = this.#requireOpen();
      await this.#bounded(what, async () => {
        const listing = await this.#listing(session, deletes.map((index) => dispositions[index]!.uid));
        // One DELE per message still there; the same message asked twice shares the answer.
        const targets = new Map<number, number[]>();
        for (const index of deletes) {
          const uid = dispositions[index]!.uid;
          const entry = listing.byUid.get(uid);
          // Not in the maildrop (any more): done. Already deleted in this session: pending, as the first time.
          if (!entry) results[index] = { uid, status: 'done' };
          else if (session.deleted.has(entry.number)) results[index] = { uid, status: 'pending' };
          else targets.set(entry.number, [...(targets.get(entry.number) ?? []), index]);
        }
        const numbers = [...targets.keys()];
        const size = session.pipelining ? PIPELINE_BATCH : 1;
        for (let start = 0; start < numbers.length; start += size) {
          const batch = numbers.slice(start, start + size);
          const replies = session.connection.send(batch.map((number) => ({ line: `DELE ${number}` })));
          for (const [position, number] of batch.entries()) {
            // A connection failure rejects: the catch below fails what is left.
            const reply = await replies[position]!;
            for (const index of targets.get(number)!) {
              const uid = dispositions[index]!.uid;
              if (reply.ok) {
                session.deleted.set(number, uid);
                results[index] = { uid, status: 'pending' };
              } else {
                results[index] = { uid, status: 'failed', error: this.#refused(`DELE ${number}`, `deleting message ${uid}`, reply.text) };
              }
            }
          }
        }
      });
    } catch (error) {
      const failure = this.#describe(error, what);
      for (const index of deletes) {
        const result = results[index]!;
        if (result.status === 'failed' && result.error === undefined) results[index] = { uid: result.uid, status: 'failed', error: failure };
      }
    }
    return results;
  }

  /** The `uids` this session's listing holds, minus those deleted in this session. */
  async present(uids: string[]): Promise<Set<string>> {
    const session = this.#requireOpen();
    try {
      return await this.#bounded('checking which messages are still there', async () => {
        const listing = await this.#listing(session, uids);
        const found = new Set<string>();
        for (const uid of uids) {
          const entry = listing.byUid.get(uid);
          if (entry && !session.deleted.has(entry.number)) found.add(uid);
        }
        return found;
      });
    } catch (error) {
      throw this.#describe(error, 'checking which messages are still there');
    }
  }

  /**
   * QUIT, and resolve on its `+OK` with the uids this session deleted: that is when the server
   * carries out the DELEs. Throws a ConnectionError when the connection is gone or QUIT fails,
   * so pending deletes are not taken as done. Ends the session (`commitEndsSession`).
   */
  async commit(): Promise<string[]> {
    return this.#quit();
  }

  /** QUIT if a session is open (its DELEs may be carried out: see `Mailbox.close`). Never throws. */
  async close(): Promise<void> {
    await this.#quit().catch(() => undefined);
  }

  /** QUIT, confirming the session's DELEs; the socket is destroyed on every path; safe to call twice. */
  async #quit(): Promise<string[]> {
    const session = this.#session;
    this.#session = undefined;
    if (!session) return [];
    const failure = this.#failure;
    this.#failure = undefined;
    const { connection } = session;
    const deletes = session.deleted.size;
    const lost =
      deletes > 0
        ? ` The ${deletes} deletion${deletes === 1 ? '' : 's'} of this session ${deletes === 1 ? 'was' : 'were'} not carried out: the messages stay on the server.`
        : '';
    try {
      const gone = failure ?? connection.failure;
      if (gone) {
        throw new ConnectionError(`${this.#name}: cannot log out from ${this.#where} (QUIT): ${closedReason(gone)}.${lost}`, {
          account: this.#name,
          cause: gone,
        });
      }
      const limit = this.#account.fetchTimeout;
      let reply: Pop3Reply;
      try {
        reply = await this.#within(connection.command({ line: 'QUIT' }), limit, () => `QUIT on ${this.#where} got no answer within ${formatDuration(limit)}`, () =>
          connection.destroy(),
        );
      } catch (error) {
        const reason = error instanceof TimeoutError ? `no answer within ${formatDuration(limit)}` : closedReason(error);
        const unsure = deletes > 0 ? ` The ${deletes} deletion${deletes === 1 ? '' : 's'} of this session ${deletes === 1 ? 'is' : 'are'} not confirmed.` : '';
        throw new ConnectionError(`${this.#name}: logging out from ${this.#where} (QUIT) failed: ${reason}.${unsure}`, {
          account: this.#name,
          cause: error,
        });
      }
      if (!reply.ok) {
        throw new ConnectionError(`${this.#name} (${this.#where}): QUIT failed: ${sentence(this.#clean(reply.text) || '-ERR')}${lost}`, {
          account: this.#name,
        });
      }
      return [...session.deleted.values()];
    } finally {
      connection.destroy();
    }
  }

  /**
   * The session's listing, made once: UIDL (+ LIST), else fingerprints. In fingerprint mode
   * `lookup` are uids that must be resolvable: while one is unknown, the rest of the
   * maildrop is fingerprinted too (an unknown uid may be a message further on).
   */
  async #listing(session: Session, lookup: string[] = []): Promise<Listing> {
    let listing = session.listing;
    if (!listing) {
      listing = await this.#makeListing(session);
      session.listing = listing;
    }
    if (listing.mode === 'fingerprint' && lookup.some((uid) => !listing.byUid.has(uid))) {
      await this.#fingerprint(session, listing, listing.entries.length);
    }
    return listing;
  }

  async #makeListing(session: Session): Promise<Listing> {
    const { connection, capabilities } = session;
    // CAPA without UIDL says it all; without CAPA, UIDL's own answer decides.
    const tryUidl = capabilities === undefined || capabilities.has('UIDL');
    const [uidl, list] = tryUidl
      ? await this.#run(session, [{ line: 'UIDL', multiline: true }, { line: 'LIST', multiline: true }])
      : [undefined, ...(await this.#run(session, [{ line: 'LIST', multiline: true }]))];
    if (!list) throw new Pop3ProtocolError('no answer to LIST');
    if (!list.ok) throw this.#refused('LIST', 'listing messages', list.text);
    const sizes = parsePairs(list.body);
    const entries: Entry[] = [...sizes.keys()].sort((a, b) => a - b).map((number) => ({ number, size: Number(sizes.get(number)), uid: undefined }));
    const byUid = new Map<string, Entry>();

    if (uidl?.ok) {
      const uids = parsePairs(uidl.body);
      for (const entry of entries) {
        const uid = uids.get(entry.number);
        if (uid === undefined) continue;
        if (byUid.has(uid)) {
          this.#log(`* UIDL ${uid} is given to more than one message; message ${entry.number} is left out`);
          continue;
        }
        entry.uid = uid;
        byUid.set(uid, entry);
      }
      return { mode: 'uidl', entries, byUid, fingerprinted: entries.length, occurrences: new Map() };
    }
    if (!this.#toldNoUidl) {
      this.#toldNoUidl = true;
      const why = uidl ? `UIDL failed: ${this.#clean(uidl.text) || '-ERR'}` : 'CAPA lists no UIDL';
      this.#log(`* ${this.#where} has no UIDL (${why}): messages are identified by Message-ID + Date + size from TOP n 0 (uids fp:...)`);
    }
    return { mode: 'fingerprint', entries, byUid, fingerprinted: 0, occurrences: new Map() };
  }

  /** Fingerprint entries up to (not including) index `until`, in order, with TOP n 0. */
  async #fingerprint(session: Session, listing: Listing, until: number): Promise<void> {
    while (listing.fingerprinted < until) {
      const batch = listing.entries.slice(listing.fingerprinted, until);
      const answers = await this.#run(
        session,
        batch.map((entry) => ({ line: `TOP ${entry.number} 0`, multiline: true })),
      );
      batch.forEach((entry, index) => {
        const reply = answers[index]!;
        if (!reply.ok) {
          throw new MailboxError(
            `${this.#name} (${this.#where}): the server has no UIDL and refused TOP ${entry.number} 0 (${sentence(this.#clean(reply.text) || '-ERR')}) Messages cannot be told apart across sessions; use IMAP or a server with UIDL.`,
            { account: this.#name },
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

  /**
   * Send `commands`, pipelined in batches where the server allows, one at a time otherwise,
   * and return their answers in order. A connection failure rejects.
   */
  async #run(session: Session, commands: Pop3Command[]): Promise<Pop3Reply[]> {
    const replies: Pop3Reply[] = [];
    const size = session.pipelining ? PIPELINE_BATCH : 1;
    for (let start = 0; start < commands.length; start += size) {
      for (const reply of session.connection.send(commands.slice(start, start + size))) replies.push(await reply);
    }
    return replies;
  }


  #requireOpen(): Session {
    if (this.#failure) throw this.#failure;
    const session = this.#session;
    if (!session) {
      throw new MailboxError(`${this.#name}: the mailbox is not open (open() was not called or failed).`, { account: this.#name });
    }
    if (session.connection.failure) throw this.#describe(session.connection.failure, 'idle');
    return session;
  }

  /** A stalled session cannot be resumed: it is ended, and every later call fails with `#failure`. */
  #abort(session: Session): void {
    session.connection.destroy();
  }

  /** Runs one command group within fetchTimeout: a stalled server fails it instead of hanging. */
  #bounded<T>(what: string, run: () => Promise<T>): Promise<T> {
    const limit = this.#account.fetchTimeout;
    const session = this.#session;
    return this.#within(run(), limit, () => `${what} on ${this.#where} timed out after ${formatDuration(limit)}. Try again later.`, () => {
      if (session) this.#abort(session);
    });
  }

  /** `work`, or a TimeoutError after `ms`; `onTimeout` ends the connection. The timer never keeps the process alive. */
  #within<T>(work: Promise<T>, ms: number, message: () => string, onTimeout: () => void): Promise<T> {
    return withDeadline(work, ms, () => {
      const error = new TimeoutError(`${this.#name}: ${message()}`, { account: this.#name });
      if (this.#session) this.#failure ??= error;
      onTimeout();
      return error;
    });
  }

  /** `-ERR` to USER or PASS. RFC 2449/3206 codes tell a locked or broken mailbox from bad credentials. */
  #loginRefused(text: string): MailpollError {
    const name = this.#name;
    const where = this.#where;
    const said = sentence(this.#clean(text) || '-ERR');
    if (/^\[IN-USE\]/i.test(text)) {
      return new ConnectionError(`${name} (${where}): the mailbox is in use by another session: ${said} Try again later.`, { account: name });
    }
    if (/^\[SYS\//i.test(text)) {
      return new ConnectionError(`${name} (${where}): the server cannot open the mailbox now: ${said} Try again later.`, { account: name });
    }
    return new AuthError(`${name} (${where}): login failed: ${said} Check user/login and password.`, { account: name });
  }

  #refused(command: string, what: string, text: string): MailboxError {
    return new MailboxError(`${this.#name} (${this.#where}): ${what} failed: the server refused ${command}: ${sentence(this.#clean(text) || '-ERR')}`, {
      account: this.#name,
    });
  }

  /** Any failure as one of our errors, in one line; `during` says what was being done. */
  #describe(error: unknown, during: string): MailpollError {
    if (error instanceof MailpollError) return error;
    // A timeout already closed the connection: the command's own rejection is a consequence.
    if (this.#failure) return this.#failure;
    const name = this.#name;
    const where = this.#where;
    const options = { account: name, cause: error };
    const network = describeNetworkError(error, { account: name, host: this.#host, port: this.#port });
    if (network) return network;
    if (error instanceof Pop3ClosedError) {
      const reason = error.serverText ? `: ${this.#clean(error.serverText)}` : '';
      const stage = during === 'connect' ? 'before it greeted' : `while ${during}`;
      const fix = during === 'connect' ? 'Check port and tls:.' : 'Try again later.';
      return new ConnectionError(`${name}: connection to ${where} closed ${error.byClient ? 'by mailpoll' : 'by the server'} ${stage}${reason}. ${fix}`, options);
    }
    if (error instanceof Pop3GreetingError) {
      const first = Buffer.from(error.line, 'latin1');
      const spoken = greetingProtocol(first);
      if (spoken !== undefined && spoken !== 'pop3') return wrongProtocolError(spoken, 'pop3', first, { account: name, host: this.#host, port: this.#port });
    }
    if (error instanceof Pop3ProtocolError) {
      return new ConnectionError(`${name} (${where}): not a POP3 answer while ${during} (${this.#clean(error.message)}). Check port and tls:.`, options);
    }
    return new MailboxError(`${name} (${where}): ${during} failed: ${sentence(this.#clean(oneLine(describeError(error))))}`, options);
  }

  /** Server text made safe for a message: the password masked, in case a server echoes it. */
  #clean(text: string): string {
    const secret = this.#account.password;
    const safe = secret && secret.length >= 3 ? text.split(secret).join('***') : text;
    return oneLine(safe);
  }

  #log(line: string): void {
    if (!this.#debug) return;
    try {
      this.#debug(this.#clean(line));
    } catch {
      // A failing log sink must not break the session.
    }
  }
}

/** CAPA lines -> their upper-cased first words (`PIPELINING`, `UIDL`, `STLS`, `SASL`...). */
function parseCapabilities(body: Buffer | undefined): Set<string> {
  const result = new Set<string>();
  for (const line of (body ?? Buffer.alloc(0)).toString('latin1').split(/\r?\n/)) {
    const word = line.trim().split(/\s+/)[0];
    if (word) result.add(word.toUpperCase());
  }
  return result;
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

/** Why a connection is closed, as the end of a sentence. */
function closedReason(error: unknown): string {
  if (error instanceof TimeoutError) return 'the connection was ended after a timeout';
  if (error instanceof Pop3ClosedError) {
    if (error.byClient) return 'the connection was already ended';
    return `the server closed the connection${error.serverText ? ` (${oneLine(error.serverText)})` : ''}`;
  }
  const code = errorCode(error);
  return `the connection failed (${code ?? oneLine(describeError(error))})`;
}

