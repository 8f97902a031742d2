/**
 * The POP3 adapter: the `Mailbox` interface on a small client of our own over `net`/`tls`
 * (RFC 1939, RFC 2449 CAPA and PIPELINING, RFC 2595 STLS; see `connection.ts`). One
 * connection per `open()`. Candidates come from one UIDL (or, on a server without UIDL, from
 * a fingerprint of TOP n 0: `listing.ts`); bodies are RETRieved as raw bytes, pipelined where
 * the server allows; DELE is pipelined too and takes effect only when QUIT is answered: a
 * delete is pending until `commit()` (QUIT) confirms it, and `commit()` throws when it
 * cannot. What leaves here is an AuthError, ConnectionError, TlsError, TimeoutError,
 * MailboxError or ConfigError with a one-line message (`errors.ts`).
 */
import type { ConnectionOptions } from 'node:tls';
import type { AccountConfig } from '../../config/types.js';
import { formatDuration } from '../../duration.js';
import { AuthError, ConfigError, ConnectionError, MailboxError, MailpollError, TimeoutError, TlsError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { ConnectionGuard, NO_GREETING_HINT, oneLine, sentence, silentPortProbe, type ExtraConnection, type SilentPortProbe } from '../connection-utils.js';
import { connectTls, openProxyTunnel, readTlsFiles, tlsOptionsOf, type ServerCertificate } from '../transport.js';
import { implicitTlsPortError } from '../net-errors.js';
import type { Candidate, Disposition, DispositionResult, FetchedMessage, ListOptions, Mailbox, MailboxCapabilities, MailboxStatus } from '../types.js';
import { Pop3Connection, Pop3ProtocolError, type Pop3Reply } from './connection.js';
import { cleanLine, closedReason, describePop3Error, loginRefused, refused, TLS_ALTERNATIVES } from './errors.js';
import { fingerprintUpTo, sessionListing, type Entry, type ListingContext } from './listing.js';
import { authenticateWithToken } from './sasl.js';
import { selectMatching } from './search.js';
import { refuseUnsearchable } from '../local-search.js';
import { parseCapabilities, PIPELINE_BATCH, type Session } from './session.js';
import { getAccessToken } from '../../oauth2/tokens.js';

/** How the session logs in: USER/PASS, or SASL with an OAuth2 access token. */
type Credential = { password: string; token?: undefined } | { token: string; password?: undefined };

export interface Pop3MailboxOptions {
  /**
   * Its `debug` gets the verbose log: one line per command, status line or connection event.
   * Message bodies are summarised as a byte count; the password never appears. Default: none.
   */
  logger?: Logger | undefined;
  /** Asked before a second connection to the host (the TLS probe of a silent port); default: no limit. */
  extraConnection?: ExtraConnection | undefined;
}

/** A POP3 mailbox for `account`. Nothing happens on the network before `open()`. */
export function createPop3Mailbox(account: AccountConfig, options: Pop3MailboxOptions = {}): Mailbox {
  return new Pop3Mailbox(account, options);
}

/** Pipelined RETRs in flight at most: this many commands... */
const PIPELINE_MAX_COMMANDS = 64;
/** ...and this many bytes of announced (LIST) size, but always at least one command. */
const PIPELINE_MAX_BYTES = 8 * 1024 * 1024;

class Pop3Mailbox implements Mailbox {
  readonly protocol = 'pop3' as const;
  readonly capabilities: MailboxCapabilities = { move: false, markSeen: false, copy: false, flags: [], idle: false, commitEndsSession: true };

  /** Who we are, the session's failure (a timeout: every later call throws it), deadlines, masking. */
  readonly #guard: ConnectionGuard;
  /** What the maildrop listing needs of us; "no UIDL" is said once per mailbox. */
  readonly #listing: ListingContext;
  #session: Session | undefined;
  readonly #extraConnection: ExtraConnection | undefined;

  constructor(account: AccountConfig, options: Pop3MailboxOptions) {
    this.#guard = new ConnectionGuard(account, account.host ?? '', account.port ?? (account.tls === 'implicit' ? 995 : 110), options.logger);
    this.#listing = { guard: this.#guard, log: (line) => this.#log(line), noUidl: { told: false } };
    this.#extraConnection = options.extraConnection;
  }

  async open(): Promise<MailboxStatus> {
    // A session left open is ended first; its pending deletes are not taken as done.
    if (this.#session) await this.close();
    this.#guard.failure = undefined;
    const account = this.#guard.account;
    const name = this.#guard.name;
    if (!account.host) throw new ConfigError(`${name}: host is not set. Set host: for this pop3 account.`, { account: name });
    const user = account.login ?? account.user;
    if (!user) throw new ConfigError(`${name}: user is not set. Set user: (or login:) for this pop3 account.`, { account: name });
    if (account.auth !== 'oauth2' && account.password === undefined) {
      throw new AuthError(`${name}: no password configured. Set password, passwordEnv, passwordFile, passwordCommand or passwordSecret.`, { account: name });
    }
    const credential: Credential = account.auth === 'oauth2' ? { token: await getAccessToken(account) } : { password: account.password ?? '' };
    if (/[\r\n]/.test(user) || /[\r\n]/.test(credential.password ?? '')) {
      throw new AuthError(`${name}: the user or password contains a line break, which POP3 USER/PASS cannot send. Check them.`, { account: name });
    }
    const tlsOptions = tlsOptionsOf(account, await readTlsFiles(account));

    // One budget for TCP + TLS + greeting + login + STAT.
    const attempt: { connection?: Pop3Connection; greeted: boolean; phase: string } = {
      greeted: false,
      phase: `connecting to ${this.#guard.where}`,
    };
    const limit = account.connectTimeout;
    const timedOut = (): string => {
      const hint = !attempt.greeted && account.tls !== 'implicit' ? NO_GREETING_HINT : '';
      return `${attempt.phase} timed out after ${formatDuration(limit)}${hint}. Check host, port and tls:.`;
    };
    // A plaintext client on an implicit-TLS port gets silence: recognised by a TLS probe (see
    // silentPortProbe) instead of at the timeout. Nothing more happens once the server greets.
    let tlsPort: MailpollError | undefined;
    const abort = new AbortController();
    const probe =
      account.tls === 'implicit' || account.proxy !== undefined
        ? undefined
        : silentPortProbe(this.#guard.host, this.#guard.port, () => {
            tlsPort = implicitTlsPortError('pop3', { account: name, host: this.#guard.host, port: this.#guard.port });
            attempt.connection?.destroy();
          }, this.#extraConnection);
    try {
      const steps = this.#openSteps(user, credential, tlsOptions, attempt, probe, abort.signal);
      return await this.#within(steps, limit, timedOut, () => {
        abort.abort();
        attempt.connection?.destroy();
      });
    } catch (error) {
      // open() ends with no socket left but the session's.
      await attempt.connection?.close();
      this.#session = undefined;
      throw tlsPort ?? describePop3Error(this.#guard, error, attempt.greeted ? attempt.phase : 'connect');
    } finally {
      probe?.stop();
    }
  }

  async #openSteps(
    user: string,
    credential: Credential,
    tlsOptions: ConnectionOptions,
    attempt: { connection?: Pop3Connection; greeted: boolean; phase: string },
    probe: SilentPortProbe | undefined,
    signal: AbortSignal,
  ): Promise<MailboxStatus> {
    const account = this.#guard.account;
    const name = this.#guard.name;
    const where = this.#guard.where;
    const seen: { certificate?: ServerCertificate } = {};
    const tunnel = await openProxyTunnel(this.#guard, signal);
    const connection = new Pop3Connection({
      host: this.#guard.host,
      port: this.#guard.port,
      implicitTls: account.tls === 'implicit',
      secure: (socket, onSecure) => connectTls(this.#guard, tlsOptions, socket, seen, onSecure),
      socket: tunnel,
      logger: this.#guard.trace,
    });
    attempt.connection = connection;
    connection.onConnect = () => probe?.connected();

    const greeting = await connection.greeting.finally(() => probe?.stop());
    attempt.greeted = true;
    if (!greeting.ok) {
      throw new ConnectionError(`${name}: ${where} refused the session: ${sentence(cleanLine(this.#guard, greeting.text) || '-ERR')} Try again later.`, {
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
        throw new TlsError(`${name} (${where}): the server refused STLS (${cleanLine(this.#guard, stls.text) || '-ERR'}). ${TLS_ALTERNATIVES}`, {
          account: name,
        });
      }
      await connection.startTls();
    }

    attempt.phase = `logging in to ${where}`;
    if (credential.token !== undefined) {
      await authenticateWithToken(this.#guard, connection, user, credential.token);
    } else {
      const userReply = await connection.command({ line: `USER ${user}` });
      if (!userReply.ok) throw loginRefused(this.#guard, userReply.text);
      const passReply = await connection.command({ line: `PASS ${credential.password}`, logAs: 'PASS (* hidden *)' });
      if (!passReply.ok) throw loginRefused(this.#guard, passReply.text);
    }

    attempt.phase = `opening the mailbox on ${where}`;
    // Capabilities may change with login (RFC 2449): ask again.
    const capa = await connection.command({ line: 'CAPA', multiline: true });
    const capabilities = capa.ok ? parseCapabilities(capa.body) : undefined;
    const stat = await connection.command({ line: 'STAT' });
    if (!stat.ok) throw refused(this.#guard, 'STAT', 'opening the mailbox', stat.text);
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
    return { folder: 'INBOX', total, unseen: undefined, bytes: Number.isSafeInteger(bytes) ? bytes : undefined, certificate: seen.certificate };
  }

  /** POP3 has no seen flag: `onlyUnseen` does not apply; the ledger's `skip` leaves out what is done, `search.ts` what does not match. */
  async list(options: ListOptions): Promise<Candidate[]> {
    const session = this.#requireOpen();
    const search = options.search;
    if (search !== undefined) refuseUnsearchable(search, 'pop3', this.#guard.name);
    if (options.limit !== undefined && options.limit <= 0) return [];
    // With a search, `limit` counts matching messages: it applies after the filter.
    const limit = search === undefined ? options.limit : undefined;
    const full = (found: Candidate[]): boolean => limit !== undefined && found.length >= limit;
    try {
      return await this.#bounded('listing messages', async () => {
        const listing = await sessionListing(session, this.#listing);
        const found: Candidate[] = [];
        const chosen = async (): Promise<Candidate[]> =>
          search === undefined ? found : (await selectMatching(this.#guard, session, listing, found, search, options.now ?? Date.now(), (line) => this.#log(line))).slice(0, options.limit);
        // The ledger asked once per run of entries, not once per message.
        const skipped = async (entries: readonly Entry[]): Promise<ReadonlySet<string>> =>
          options.skip?.(entries.flatMap((entry) => (entry.uid === undefined ? [] : [entry.uid]))) ?? new Set<string>();
        const consider = (entry: Entry, leftOut: ReadonlySet<string>): void => {
          if (entry.uid === undefined || session.deleted.has(entry.number) || leftOut.has(entry.uid)) return;
          found.push({
            uid: entry.uid,
            size: entry.size,
            flags: [],
            ...(entry.messageId !== undefined ? { messageId: entry.messageId } : {}),
            ...(entry.sentDate !== undefined ? { sentDate: entry.sentDate } : {}),
          });
        };
        if (listing.mode === 'uidl') {
          const leftOut = await skipped(listing.entries);
          for (const entry of listing.entries) {
            if (full(found)) break;
            consider(entry, leftOut);
          }
          return chosen();
        }
        // Fingerprints cost a TOP each: compute only as far as `limit` needs.
        let index = 0;
        while (index < listing.entries.length && !full(found)) {
          const want = limit === undefined ? listing.entries.length : Math.max(PIPELINE_BATCH, limit - found.length);
          await fingerprintUpTo(this.#guard, session, listing, Math.min(listing.entries.length, index + want));
          const leftOut = await skipped(listing.entries.slice(index, listing.fingerprinted));
          for (; index < listing.fingerprinted && !full(found); index += 1) consider(listing.entries[index]!, leftOut);
        }
        return chosen();
      });
    } catch (error) {
      throw describePop3Error(this.#guard, error, 'listing messages');
    }
  }

  async *fetch(candidates: Candidate[]): AsyncGenerator<FetchedMessage> {
    const session = this.#requireOpen();
    if (candidates.length === 0) return;
    const limit = this.#guard.account.fetchTimeout;
    // Until the RETRs go out, the batch; then the message whose answer is awaited (often one
    // huge message), named so that an operator can find it.
    let what = `fetch of ${candidates.length} message${candidates.length === 1 ? '' : 's'}`;
    const timedOut = (): string => `${what} timed out after ${formatDuration(limit)} on ${this.#guard.where} (the server stopped sending). Try again; raise fetchTimeout: for large messages or a slow link.`;
    // Only the time spent waiting for the server counts against fetchTimeout: a slow
    // consumer (a handler) does not use up the budget.
    let remaining = limit;
    const wait = async <T>(work: Promise<T>): Promise<T> => {
      const started = Date.now();
      try {
        return await this.#within(work, Math.max(remaining, 0), timedOut, () => session.connection.destroy());
      } finally {
        remaining -= Date.now() - started;
      }
    };

    const wanted: Entry[] = [];
    try {
      const listing = await wait(sessionListing(session, this.#listing, candidates.map((candidate) => candidate.uid)));
      for (const candidate of candidates) {
        const entry = listing.byUid.get(candidate.uid);
        // Gone since it was listed (or deleted in this session): not a message any more.
        if (!entry || session.deleted.has(entry.number)) this.#log(`* ${candidate.uid} is not in the maildrop any more; skipped`);
        else wanted.push(entry);
      }
    } catch (error) {
      throw describePop3Error(this.#guard, error, `fetching from ${this.#guard.where}`);
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
          throw describePop3Error(this.#guard, error, `fetching message ${head.entry.number} (${head.entry.uid}) from ${this.#guard.where}`);
        }
        bytesInFlight -= head.entry.size ?? 0;
        if (!reply.ok) throw refused(this.#guard, `RETR ${head.entry.number}`, `fetching message ${head.entry.uid}`, reply.text);
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
            error: new MailboxError(`${this.#guard.name}: cannot mark message ${uid} as read: POP3 has no read flag. Use keep or delete.`, {
              account: this.#guard.name,
            }),
          };
          return;
        case 'move':
          results[index] = {
            uid,
            status: 'failed',
            error: new MailboxError(`${this.#guard.name}: cannot move message ${uid}: POP3 has no folders. Use keep or delete.`, {
              account: this.#guard.name,
            }),
          };
          return;
        default: {
          const unknown: string = action;
          results[index] = {
            uid,
            status: 'failed',
            error: new MailboxError(`${this.#guard.name}: unknown action "${unknown}" for message ${uid}.`, { account: this.#guard.name }),
          };
        }
      }
    });
    if (deletes.length === 0) return results;

    const what = `deleting ${deletes.length} message${deletes.length === 1 ? '' : 's'}`;
    try {
      const session = this.#requireOpen();
      await this.#bounded(what, async () => {
        const listing = await sessionListing(session, this.#listing, deletes.map((index) => dispositions[index]!.uid));
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
                results[index] = { uid, status: 'failed', error: refused(this.#guard, `DELE ${number}`, `deleting message ${uid}`, reply.text) };
              }
            }
          }
        }
      });
    } catch (error) {
      const failure = describePop3Error(this.#guard, error, what);
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
        const listing = await sessionListing(session, this.#listing, uids);
        const found = new Set<string>();
        for (const uid of uids) {
          const entry = listing.byUid.get(uid);
          if (entry && !session.deleted.has(entry.number)) found.add(uid);
        }
        return found;
      });
    } catch (error) {
      throw describePop3Error(this.#guard, error, 'checking which messages are still there');
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
    const failure = this.#guard.failure;
    this.#guard.failure = undefined;
    const { connection } = session;
    const deletes = session.deleted.size;
    const lost =
      deletes > 0
        ? ` The ${deletes} deletion${deletes === 1 ? '' : 's'} of this session ${deletes === 1 ? 'was' : 'were'} not carried out: the messages stay on the server.`
        : '';
    try {
      const gone = failure ?? connection.failure;
      if (gone) {
        throw new ConnectionError(`${this.#guard.name}: cannot log out from ${this.#guard.where} (QUIT): ${closedReason(gone)}.${lost}`, {
          account: this.#guard.name,
          cause: gone,
        });
      }
      const limit = this.#guard.account.fetchTimeout;
      let reply: Pop3Reply;
      try {
        reply = await this.#within(connection.command({ line: 'QUIT' }), limit, () => `QUIT on ${this.#guard.where} got no answer within ${formatDuration(limit)}`, () =>
          connection.destroy(),
        );
      } catch (error) {
        const reason = error instanceof TimeoutError ? `no answer within ${formatDuration(limit)}` : closedReason(error);
        const unsure = deletes > 0 ? ` The ${deletes} deletion${deletes === 1 ? '' : 's'} of this session ${deletes === 1 ? 'is' : 'are'} not confirmed.` : '';
        throw new ConnectionError(`${this.#guard.name}: logging out from ${this.#guard.where} (QUIT) failed: ${reason}.${unsure}`, {
          account: this.#guard.name,
          cause: error,
        });
      }
      if (!reply.ok) {
        throw new ConnectionError(`${this.#guard.name} (${this.#guard.where}): QUIT failed: ${sentence(cleanLine(this.#guard, reply.text) || '-ERR')}${lost}`, {
          account: this.#guard.name,
        });
      }
      return [...session.deleted.values()];
    } finally {
      // Resolved only once its sockets have closed: the caller may count the connection as gone.
      await connection.close();
    }
  }

  #requireOpen(): Session {
    const session = this.#guard.requireOpen(this.#session);
    if (session.connection.failure) throw describePop3Error(this.#guard, session.connection.failure, 'idle');
    return session;
  }

  /** Runs one command group within fetchTimeout: a stalled server fails it, and the session is ended, instead of hanging. */
  #bounded<T>(what: string, run: () => Promise<T>): Promise<T> {
    const limit = this.#guard.account.fetchTimeout;
    const session = this.#session;
    return this.#within(run(), limit, () => `${what} on ${this.#guard.where} timed out after ${formatDuration(limit)}. Try again later.`, () => {
      session?.connection.destroy();
    });
  }

  /** `work`, or a TimeoutError after `ms` (the session's failure once it is open); `end` ends the connection. */
  #within<T>(work: Promise<T>, ms: number, message: () => string, end: () => void): Promise<T> {
    return this.#guard.within(work, ms, message, end, () => this.#session !== undefined);
  }

  /** One line for the verbose log; `guard.log` masks it, so it is not masked here first. */
  #log(line: string): void {
    this.#guard.log(oneLine(line));
  }
}
