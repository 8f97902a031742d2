/**
 * The IMAP adapter: the `Mailbox` interface on top of imapflow. One connection per
 * `open()`; candidates come from one UID SEARCH (minus what the ledger skips) and one
 * metadata UID FETCH, bodies from one UID FETCH BODY.PEEK[] (never sets \Seen),
 * dispositions are applied to UID sets.
 *
 * A UID that is no longer in the folder counts as done for every disposition, so that a
 * recorded decision can be applied again after a crash. Dovecot answers OK to UID
 * STORE/MOVE/EXPUNGE of such UIDs (MOVE: "OK No messages found", no COPYUID); a server
 * that refuses instead is asked which of the UIDs are still there (one UID SEARCH UID), and
 * only those can fail.
 *
 * imapflow's error shapes stay in here: what leaves is an AuthError, ConnectionError,
 * TlsError, TimeoutError or MailboxError with a one-line message.
 *
 * Watch mode (`waitForChange`): the open connection waits in IDLE (RFC 2177) for the
 * server's EXISTS push. imapflow's auto-IDLE stays off (it would slip IDLE/DONE between a
 * cycle's commands); IDLE is only entered inside `waitForChange`, and a watchdog NOOP (more
 * often than healthCheckMs, at least every 10 min) both proves the link alive and re-issues
 * IDLE well inside the server's 29-minute limit. imapflow does not reconnect: a dead link
 * rejects and the caller opens a new connection.
 */
import { EventEmitter } from 'node:events';
import type { ConnectionOptions } from 'node:tls';
import { ImapFlow, type FetchMessageObject, type Logger } from 'imapflow';
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
import { greetingProtocol, oneLine, readCa, sentence, silentPortProbe, withDeadline } from './connection-utils.js';
import { describeNetworkError, errorCode, implicitTlsPortError, wrongProtocolError } from './net-errors.js';
import type {
  Candidate,
  Disposition,
  DispositionResult,
  FetchedMessage,
  ListOptions,
  Mailbox,
  MailboxCapabilities,
  MailboxStatus,
  WaitOptions,
} from './types.js';

export interface ImapMailboxOptions {
  /**
   * Verbose log sink: one line per protocol line or connection event, with credentials
   * removed. Default: none, and imapflow's own logger is off.
   */
  debug?: ((line: string) => void) | undefined;
}

/** An IMAP mailbox for `account`. Nothing happens on the network before `open()`. */
export function createImapMailbox(account: AccountConfig, options: ImapMailboxOptions = {}): Mailbox {
  return new ImapMailbox(account, options);
}

/** LOGOUT is a courtesy: a server that does not answer it in time is simply disconnected. */
const LOGOUT_TIMEOUT_MS = 5000;

/** A plaintext client on an implicit-TLS port waits for a greeting that never comes. */
const NO_GREETING_HINT = ' (no greeting: if the port expects TLS from the first byte, set tls: implicit)';

/**
 * The watchdog of `waitForChange` sends a NOOP at least this often whatever healthCheckMs
 * says: breaking IDLE for it and entering IDLE again keeps every IDLE far below the 29
 * minutes after which RFC 2177 lets a server drop the client.
 */
const IDLE_REISSUE_MS = 10 * 60_000;
/**
 * How long the watchdog's NOOP may take: min(healthCheckMs / 2, fetchTimeout, 30 s), but at
 * least 1 s (a busy server is not a dead one) unless fetchTimeout is shorter still.
 */
const NOOP_ANSWER_CAP_MS = 30_000;
const NOOP_ANSWER_FLOOR_MS = 1000;
/** The watchdog never sends NOOPs more often than this. */
const MIN_PROBE_MS = 100;
/** An IDLE the server ends sooner than this after it began is not entered again until the next NOOP (no busy loop). */
const IDLE_MIN_RUN_MS = 1000;
/** The longest delay setTimeout honours (about 24.8 days); longer waits are capped to it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** imapflow codes for a connection that went away without a socket error. */
const CLOSED_CODES = new Set(['NoConnection', 'EConnectionClosed', 'ClosedAfterConnectText', 'ClosedAfterConnectTLS', 'StateLogout']);
const TIMEOUT_CODES = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ETIMEOUT']);

/** The fields of imapflow's errors we read (see ImapFlowError in imapflow's errors.d.ts). */
interface ImapFlowErrorFields {
  code?: string | undefined;
  authenticationFailed?: boolean | undefined;
  tlsFailed?: boolean | undefined;
  mailboxMissing?: boolean | undefined;
  responseStatus?: string | undefined;
  responseText?: string | undefined;
  serverResponseCode?: string | undefined;
  response?: unknown;
  reason?: string | undefined;
  command?: string | undefined;
}

/** What `waitForChange` listens to while it waits (the client's events reach it through these). */
interface Waiter {
  /** The server pushed EXISTS with a larger count. */
  change(): void;
  /** The connection failed (`error` event) or the server/network closed it (`error` undefined). */
  lost(error: unknown): void;
  /** `close()` was called: the wait ends as `aborted`. */
  closing(): void;
}

class ImapMailbox implements Mailbox {
  readonly protocol = 'imap' as const;
  /**
   * `idle` is what the server advertised after login (IDLE, or IMAP4rev2 where IDLE is
   * part of the base protocol), set by `open()`. Before `open()` and after `close()` it is
   * false: the greeting is not seen before connecting, and a guess would be worse than none.
   */
  readonly capabilities: MailboxCapabilities = { move: true, markSeen: true, idle: false, commitEndsSession: false };

  readonly #account: AccountConfig;
  readonly #debug: ((line: string) => void) | undefined;
  readonly #host: string;
  readonly #port: number;
  #client: ImapFlow | undefined;
  /** Server name of the selected folder. */
  #folder: string | undefined;
  /** UIDs `apply` flagged \Deleted in the open folder (-> the caller's spelling); `commit` expunges them. */
  #flagged = new Map<number, string>();
  /** Flagged UIDs a move's expunge (no MOVE, no UIDPLUS) took along: confirmed by the next `commit`. */
  #expunged: string[] = [];
  /** Set once the connection is unusable (timeout, error event, server close): every later call throws it. */
  #failure: MailpollError | undefined;
  /** Move targets known to exist on this connection. */
  readonly #knownFolders = new Set<string>();
  /**
   * NO answers imapflow reported through its logger: those it turned into failures (the
   * last one is kept for the error message) and those it turned into success (any NO with
   * "Some of the requested messages no longer exist", whatever the command).
   */
  #serverNo: { count: number; last: unknown } = { count: 0, last: undefined };
  /**
   * The server reported new mail (EXISTS with a larger count) since the last `list()`
   * searched: `waitForChange` then answers `changed` at once, so mail that arrived during a
   * cycle is not waited for until the next push.
   */
  #changed = false;
  /** The server refused IDLE on this connection: `waitForChange` keeps to NOOPs. */
  #idleRefused = false;
  /** The `waitForChange` in progress, if any. */
  #waiter: Waiter | undefined;

  constructor(account: AccountConfig, options: ImapMailboxOptions) {
    this.#account = account;
    this.#debug = options.debug;
    this.#host = account.host ?? '';
    this.#port = account.port ?? (account.tls === 'implicit' ? 993 : 143);
  }

  get #where(): string {
    return `${this.#host}:${this.#port}`;
  }

  get #name(): string {
    return this.#account.name;
  }

  async open(): Promise<MailboxStatus> {
    await this.close();
    this.#failure = undefined;
    this.#changed = false;
    this.#idleRefused = false;
    const account = this.#account;
    if (!account.host) throw new ConfigError(`${this.#name}: host is not set. Set host: for this imap account.`, { account: this.#name });
    if (account.password === undefined) {
      throw new AuthError(`${this.#name}: no password configured. Set password, passwordEnv, passwordFile or passwordCommand.`, {
        account: this.#name,
      });
    }
    const ca = await readCa(this.#account);
    const client = this.#createClient(ca);
    this.#client = client;

    // One budget for TCP + TLS + greeting + login + opening the folder.
    const phase = { text: `connecting to ${this.#where}` };
    const timedOut = (): string => {
      const hint = client.greeting === undefined && account.tls !== 'implicit' ? NO_GREETING_HINT : '';
      return `${phase.text} timed out after ${formatDuration(account.connectTimeout)}${hint}. Check host, port and tls:.`;
    };
    try {
      return await this.#within(this.#openSteps(client, phase), account.connectTimeout, timedOut);
    } catch (error) {
      const failure = this.#describe(error, client.authenticated ? `opening ${account.folder}` : 'connect');
      this.#client = undefined;
      client.close();
      throw failure;
    }
  }

  async #openSteps(client: ImapFlow, phase: { text: string }): Promise<MailboxStatus> {
    const connecting = client.connect();
    const greeting = this.#watchGreeting(client);
    try {
      await Promise.race([connecting, greeting.wrong]);
    } finally {
      greeting.stop();
    }
    const folder = this.#account.folder;
    const path = this.#serverPath(client, folder);
    phase.text = `opening ${path} on ${this.#where}`;
    let unseen: number | undefined;
    try {
      // STATUS first: it tells a missing folder apart from other failures, and counts unseen.
      const status = await client.status(path, { messages: true, unseen: true });
      unseen = status ? status.unseen : undefined;
    } catch (error) {
      if (errorCode(error) === 'NotFound') throw await this.#missingFolder(client, folder, path, error);
      throw error;
    }
    const selected = await client.mailboxOpen(path);
    this.#folder = selected.path;
    // The capabilities after login are the ones that count (some servers list fewer before).
    this.capabilities.idle = hasIdle(client);
    // The first cycle lists everything anyway.
    this.#changed = false;
    return { folder: selected.path, total: selected.exists, unseen, uidValidity: toBigInt(selected.uidValidity) };
  }

  /**
   * The wrong protocol on the port, recognised at once rather than at the connect timeout:
   * the first bytes the server sends (a POP3 `+OK`, a TLS record) and, on a plaintext
   * connection, a port that stays silent but completes a TLS handshake (`silentPortProbe`).
   * `wrong` rejects then. It reads a copy of what imapflow reads: no extra round trip.
   * (imapflow has no public hook for the greeting's bytes: its socket is read as soon as
   * `connect()` created it; without one, nothing is watched.)
   */
  #watchGreeting(client: ImapFlow): { wrong: Promise<never>; stop(): void } {
    const context = { account: this.#name, host: this.#host, port: this.#port };
    let fail!: (error: Error) => void;
    const wrong = new Promise<never>((_, reject) => (fail = reject));
    wrong.catch(() => undefined);
    const socket = (client as unknown as { socket?: unknown }).socket;
    if (!(socket instanceof EventEmitter)) return { wrong, stop: () => undefined };

    const probe = this.#account.tls === 'implicit' ? undefined : silentPortProbe(this.#host, this.#port, () => fail(implicitTlsPortError('imap', context)));
    let first = Buffer.alloc(0);
    const onConnect = (): void => probe?.connected();
    const onData = (chunk: Buffer): void => {
      probe?.stop();
      first = Buffer.concat([first, chunk]).subarray(0, 256);
      if (first.length < 256 && first[0] !== 0x16 && !first.includes(0x0a)) return;
      stop();
      const spoken = greetingProtocol(first);
      if (spoken !== undefined && spoken !== 'imap') fail(wrongProtocolError(spoken, 'imap', first, context));
    };
    const stop = (): void => {
      probe?.stop();
      socket.removeListener('connect', onConnect);
      socket.removeListener('data', onData);
    };
    socket.once('connect', onConnect);
    socket.on('data', onData);
    return { wrong, stop };
  }

  async list(options: ListOptions): Promise<Candidate[]> {
    const client = this.#requireOpen();
    if (options.limit !== undefined && options.limit <= 0) return [];
    const folder = this.#folder!;
    const during = `listing ${folder}`;
    // Cleared before the search: an EXISTS arriving from now on sets it again (at worst one
    // extra cycle, never a missed message).
    this.#changed = false;
    const found = await this.#command(`listing messages in ${folder}`, during, async () => {
      const result = await client.search(options.onlyUnseen ? { seen: false } : { all: true }, { uid: true });
      if (!Array.isArray(result)) throw this.#refused('UID SEARCH', `searching ${folder}`);
      return result;
    });
    // Oldest first: UIDs grow with arrival. What the ledger has finished with goes before
    // `limit` counts and before anything is fetched. (`skip` is the caller's code: its
    // errors pass through unchanged.)
    const skip = options.skip;
    let uids = [...found].sort((a, b) => a - b);
    if (skip) uids = uids.filter((uid) => !skip(String(uid)));
    uids = uids.slice(0, options.limit);
    if (uids.length === 0) return [];
    // RFC822.SIZE, INTERNALDATE, flags and BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE)]: the
    // two headers as written (the ledger's fingerprint), at about half the bytes of ENVELOPE.
    const rows = await this.#command(`listing messages in ${folder}`, during, async () => {
      const all: FetchMessageObject[] = [];
      for (const set of toSequenceSets(uids)) {
        all.push(...(await client.fetchAll(set, { uid: true, flags: true, size: true, internalDate: true, headers: FINGERPRINT_HEADERS }, { uid: true })));
      }
      return all;
    });
    const byUid = new Map(rows.map((row) => [row.uid, row]));
    // A message expunged between SEARCH and FETCH is simply not a candidate.
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

  async present(uids: string[]): Promise<Set<string>> {
    // Each UID as the caller spelled it; a string that is not a UID cannot be in the folder.
    const spellings = new Map<number, string[]>();
    for (const uid of uids) {
      const value = toUid(uid);
      if (value !== undefined) spellings.set(value, [...(spellings.get(value) ?? []), uid]);
    }
    const present = new Set<string>();
    if (spellings.size === 0) return present;
    const client = this.#requireOpen();
    const folder = this.#folder!;
    const found = await this.#command(`looking up ${spellings.size} UID${spellings.size === 1 ? '' : 's'} in ${folder}`, `looking up messages in ${folder}`, () =>
      this.#stillThere(client, [...spellings.keys()]),
    );
    for (const value of found) for (const uid of spellings.get(value) ?? []) present.add(uid);
    return present;
  }

  isPolledFolder(folder: string): boolean {
    const client = this.#client;
    const opened = this.#folder;
    if (client === undefined || opened === undefined) return false;
    let path: string;
    try {
      path = this.#serverPath(client, folder);
    } catch {
      return false; // a name the server cannot have is not the opened folder
    }
    // As imapflow sends it: the personal namespace prefix (e.g. `INBOX.`) where the server needs one.
    const prefix = client.namespace?.prefix;
    if (path.toUpperCase() !== 'INBOX' && prefix && !path.startsWith(prefix)) path = prefix + path;
    const delimiter = client.namespace?.delimiter ?? '/';
    return inboxFolded(path, delimiter) === inboxFolded(opened, delimiter);
  }

  async restore(messageId: string, from: string): Promise<number> {
    const client = this.#requireOpen();
    const folder = this.#folder!;
    const source = this.#serverPath(client, from);
    return this.#command(`moving ${messageId} from ${source} back to ${folder}`, `moving a message back from ${source}`, async () => {
      await client.mailboxOpen(source);
      try {
        const found = await client.search({ header: { 'message-id': messageId } }, { uid: true });
        const uids = Array.isArray(found) ? found : [];
        if (uids.length === 0) return 0;
        const what = `moving a message back from ${source}`;
        if (!offers(client, 'MOVE') && !offers(client, 'UIDPLUS')) {
          // As in `apply`: no plain EXPUNGE that would take other clients' deletions along.
          const set = toSequenceSets(uids, Infinity).join(',');
          await this.#exact('UID COPY', what, () => client.messageCopy(set, folder, { uid: true }));
          await this.#expungeOnly(client, uids, source, what);
        } else if ((await client.messageMove(uids, folder, { uid: true })) === false) {
          throw this.#refused('UID MOVE', what);
        }
        return uids.length;
      } finally {
        await client.mailboxOpen(folder);
      }
    });
  }

  async *fetch(candidates: Candidate[]): AsyncGenerator<FetchedMessage> {
    const client = this.#requireOpen();
    const uids = candidates.map((candidate) => this.#parseUid(candidate.uid));
    if (uids.length === 0) return;
    const folder = this.#folder!;
    const limit = this.#account.fetchTimeout;
    // A stall names the UIDs still awaited (the first is usually the one that stalls, often
    // one huge message), so that an operator can find it.
    const received = new Set<number>();
    const what = (): string => {
      const waiting = uids.filter((uid) => !received.has(uid));
      return `fetch of ${uidLabel(waiting.length > 0 ? waiting : uids)} from ${folder}`;
    };

    // BODY.PEEK[] (imapflow's `source`) never sets \Seen.
    // One command: the cycle's batches are small (100 messages), so the set stays short.
    const rows = client.fetch(toSequenceSets(uids, Infinity).join(','), { uid: true, source: true, flags: true, size: true, internalDate: true }, { uid: true });
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
        const step = await this.#within(iterator.next(), Math.max(remaining, 0), () => `${what()} timed out after ${formatDuration(limit)}`);
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
      throw this.#describe(error, `fetching from ${folder}`);
    } finally {
      if (!finished) {
        // Ends imapflow's FETCH iteration (it drains the rest); not awaited when the
        // connection is already gone, its pending read settles on its own.
        const ending = iterator.return?.(undefined).catch(() => undefined);
        if (!this.#failure && ending) await ending;
      }
    }
  }

  async apply(dispositions: Disposition[]): Promise<DispositionResult[]> {
    const results: DispositionResult[] = dispositions.map((disposition) => ({ uid: disposition.uid, status: 'failed' }));
    // One group per command: markSeen, delete, and one per move target. Each holds its UIDs
    // and the input positions its outcome lands on.
    const groups = new Map<string, { uids: number[]; indexes: number[] }>();
    const numeric: number[] = [];
    const group = (key: string, uid: number, index: number): void => {
      const entry = groups.get(key) ?? { uids: [], indexes: [] };
      entry.uids.push(uid);
      entry.indexes.push(index);
      groups.set(key, entry);
    };

    dispositions.forEach((disposition, index) => {
      let uid: number;
      try {
        uid = this.#parseUid(disposition.uid);
      } catch (error) {
        results[index] = { uid: disposition.uid, status: 'failed', error: error as Error };
        return;
      }
      numeric[index] = uid;
      switch (disposition.action) {
        case 'keep':
          results[index] = { uid: disposition.uid, status: 'done' };
          return;
        case 'markSeen':
          group('markSeen', uid, index);
          return;
        case 'delete':
          group('delete', uid, index);
          return;
        case 'move': {
          if (!disposition.folder) {
            results[index] = {
              uid: disposition.uid,
              status: 'failed',
              error: new MailboxError(`${this.#name}: cannot move message ${disposition.uid}: no target folder. Set moveTo:.`, {
                account: this.#name,
              }),
            };
            return;
          }
          group(`move:${disposition.folder}`, uid, index);
          return;
        }
        default: {
          const action: string = disposition.action;
          results[index] = {
            uid: disposition.uid,
            status: 'failed',
            error: new MailboxError(`${this.#name}: unknown action "${action}" for message ${disposition.uid}.`, { account: this.#name }),
          };
        }
      }
    });

    const folder = this.#folder ?? this.#account.folder;
    const count = (uids: number[]): string => `${uids.length} message${uids.length === 1 ? '' : 's'}`;
    /** Moved by COPY + \Deleted (no MOVE, no UIDPLUS): done once `#expungeOurs` has removed them below. */
    const copied = new Set<number>();
    // markSeen first, then moves, then deletes (as before); each group in one command.
    const keys = [...groups.keys()].sort((a, b) => rank(a) - rank(b));
    for (const key of keys) {
      const { uids, indexes } = groups.get(key)!;
      let what: (uids: number[]) => string;
      let run: (client: ImapFlow, set: string, what: string) => Promise<void>;
      if (key === 'markSeen') {
        what = (uids) => `marking ${count(uids)} as seen in ${folder}`;
        run = (client, set, what) => this.#exact('UID STORE +FLAGS (\\Seen)', what, () => client.messageFlagsAdd(set, ['\\Seen'], { uid: true }));
      } else if (key === 'delete') {
        // Flagged now (pending), expunged by `commit` (the caller's, every ~1,000 and at the end).
        what = (uids) => `flagging ${count(uids)} as deleted in ${folder}`;
        run = (client, set, what) => this.#exact('UID STORE +FLAGS (\\Deleted)', what, () => client.messageFlagsAdd(set, ['\\Deleted'], { uid: true }));
      } else {
        const target = key.slice('move:'.length);
        what = (uids) => `moving ${count(uids)} from ${folder} to ${target}`;
        run = async (client, set, what) => {
          const path = await this.#ensureFolder(client, target);
          if (!offers(client, 'MOVE') && !offers(client, 'UIDPLUS')) {
            // imapflow's fallback (COPY, then a plain EXPUNGE) would also remove what other
            // clients flagged \Deleted: copy and flag here, expunge with care below.
            // A retry of the group (see #settle) does not copy a second time.
            const fresh = fromSequenceSet(set).filter((uid) => !copied.has(uid));
            if (fresh.length === 0) return;
            const todo = toSequenceSets(fresh, Infinity).join(',');
            await this.#exact('UID COPY', what, () => client.messageCopy(todo, path, { uid: true }));
            await this.#exact('UID STORE +FLAGS (\\Deleted)', what, () => client.messageFlagsAdd(todo, ['\\Deleted'], { uid: true }));
            for (const uid of fresh) copied.add(uid);
            return;
          }
          // MOVE, or imapflow's COPY + UID EXPUNGE of exactly these UIDs. Dovecot: OK "No
          // messages found" and no COPYUID for UIDs that are no longer there.
          await this.#exact('UID MOVE', what, () => client.messageMove(set, path, { uid: true }));
        };
      }
      const failed = await this.#settle(uids, what, run);
      const success = key === 'delete' ? 'pending' : 'done';
      for (const index of indexes) {
        const uid = dispositions[index]!.uid;
        const error = failed.get(numeric[index]!);
        if (error === undefined && success === 'pending') this.#flagged.set(numeric[index]!, uid);
        results[index] = error === undefined ? { uid, status: success } : { uid, status: 'failed', error };
      }
    }
    if (copied.size > 0) {
      const error = await this.#completeCopies(copied);
      dispositions.forEach((disposition, index) => {
        if (disposition.action !== 'move' || !copied.has(numeric[index]!)) return;
        results[index] = error === undefined ? { uid: disposition.uid, status: 'done' } : { uid: disposition.uid, status: 'failed', error };
      });
    }
    return results;
  }

  /**
   * The second half of a move without MOVE and UIDPLUS: the originals, copied and flagged
   * \Deleted, are expunged (with the deletes flagged so far), and only then moved. A failure
   * fails those moves: they stay flagged in the folder, and the next run applies them again
   * (a second copy, never a lost message).
   */
  async #completeCopies(copied: Set<number>): Promise<Error | undefined> {
    try {
      await this.#expungeOurs([...copied, ...this.#flagged.keys()]);
      this.#expunged.push(...this.#flagged.values());
      this.#flagged.clear();
      return undefined;
    } catch (error) {
      return error as Error;
    }
  }

  async commit(): Promise<string[]> {
    const flagged = this.#flagged;
    this.#flagged = new Map();
    try {
      if (flagged.size > 0) await this.#expungeFlagged([...flagged.keys()]);
    } catch (error) {
      // Still flagged on the server: a later commit must try them again, not report them gone.
      for (const [uid, spelled] of flagged) this.#flagged.set(uid, spelled);
      throw error;
    }
    const confirmed = [...this.#expunged, ...flagged.values()];
    this.#expunged = [];
    return confirmed;
  }

  async #expungeFlagged(uids: number[]): Promise<void> {
    const folder = this.#folder ?? this.#account.folder;
    if (this.#client && !offers(this.#client, 'UIDPLUS')) {
      await this.#expungeOurs(uids);
      return;
    }
    // UID EXPUNGE of exactly these UIDs (UIDPLUS; imapflow sets \Deleted again first, which
    // changes nothing).
    const what = (subset: number[]) => `expunging ${subset.length} deleted message${subset.length === 1 ? '' : 's'} from ${folder}`;
    const failed = await this.#settle(uids, what, (client, set, label) =>
      this.#exact('UID EXPUNGE', label, () => client.messageDelete(set, { uid: true })),
    );
    const [first] = failed.values();
    if (first) throw first;
  }

  /**
   * Without UIDPLUS the only EXPUNGE there is removes every message flagged \Deleted, also
   * those another client flagged and has not expunged yet. So: UID SEARCH DELETED; the
   * others' messages (not in `ours`) lose their \Deleted flag; EXPUNGE; they get it back.
   * That order is the safe one: if the link dies in between, those messages are still
   * there, only unflagged, where the other way round they would be gone. (A message
   * another client flags between the SEARCH and the EXPUNGE still goes: no client can
   * prevent that without UIDPLUS.)
   */
  async #expungeOurs(ours: number[]): Promise<void> {
    const folder = this.#folder ?? this.#account.folder;
    const what = `expunging ${ours.length} deleted message${ours.length === 1 ? '' : 's'} from ${folder}`;
    await this.#command(what, what, () => this.#expungeOnly(this.#requireOpen(), ours, folder, what));
  }

  /** The steps of `#expungeOurs` on the selected folder (`folder` names it in messages). */
  async #expungeOnly(client: ImapFlow, ours: number[], folder: string, what: string): Promise<void> {
    const flagged = await client.search({ deleted: true }, { uid: true });
    if (!Array.isArray(flagged)) throw this.#refused('UID SEARCH DELETED', what);
    const mine = new Set(ours);
    const others = flagged.filter((uid) => !mine.has(uid));
    try {
      for (const set of toSequenceSets(others)) {
        await this.#exact('UID STORE -FLAGS (\\Deleted)', what, () => client.messageFlagsRemove(set, ['\\Deleted'], { uid: true }));
      }
      // imapflow: UID STORE +FLAGS (\Deleted) of the set (ours are flagged already), then EXPUNGE.
      for (const set of toSequenceSets(ours)) await this.#exact('EXPUNGE', what, () => client.messageDelete(set, { uid: true }));
    } finally {
      // Also after a failure: flagging again a message that kept its flag changes nothing.
      if (others.length > 0) await this.#flagAgain(client, others, folder);
    }
  }

  /** \Deleted back on the messages `#expungeOnly` unflagged; a failure says which lost it. */
  async #flagAgain(client: ImapFlow, uids: number[], folder: string): Promise<void> {
    const what = `flagging again ${uids.length} message${uids.length === 1 ? '' : 's'} other clients had flagged deleted in ${folder}`;
    try {
      for (const set of toSequenceSets(uids)) {
        await this.#exact('UID STORE +FLAGS (\\Deleted)', what, () => client.messageFlagsAdd(set, ['\\Deleted'], { uid: true }));
      }
    } catch (error) {
      const why = sentence(oneLine(this.#describe(error, what).message));
      const list = toSequenceSets(uids).join(',');
      const shown = list.length > 200 ? `${list.slice(0, 200)}...` : list;
      throw new MailboxError(
        `${this.#name} (${this.#where}): messages another client had flagged deleted in ${folder} lost that flag (UIDs ${shown}): ${why} They are still there: flag them again if they should go.`,
        { account: this.#name, cause: error },
      );
    }
  }

  /**
   * Runs one group's command over `uids` (in as few commands as the line length allows) and
   * returns the UIDs that failed, with their error. When the server refused and the
   * connection still works, it is asked which UIDs are still in the folder: those that are
   * not count as done (a recorded decision re-applied after a crash, another client got
   * there first); if some were gone the rest gets one more try, else the refusal stands.
   */
  async #settle(
    uids: number[],
    what: (uids: number[]) => string,
    run: (client: ImapFlow, set: string, what: string) => Promise<void>,
  ): Promise<Map<number, Error>> {
    const attempt = async (subset: number[]): Promise<MailpollError | undefined> => {
      const label = what(subset);
      try {
        const client = this.#requireOpen();
        await this.#bounded(label, async () => {
          for (const set of toSequenceSets(subset)) await run(client, set, label);
        });
        return undefined;
      } catch (caught) {
        return this.#describe(caught, label);
      }
    };
    const failures = (subset: number[], error: Error | undefined): Map<number, Error> =>
      new Map(error ? subset.map((uid) => [uid, error] as const) : []);

    uids = [...new Set(uids)];
    const error = await attempt(uids);
    if (!error || this.#failure || !this.#client?.usable) return failures(uids, error);
    let still: Set<number>;
    try {
      const client = this.#requireOpen();
      still = await this.#bounded(`looking up ${uids.length} UID${uids.length === 1 ? '' : 's'} in ${this.#folder}`, () => this.#stillThere(client, uids));
    } catch {
      // The refusal is what the caller gets to see.
      return failures(uids, error);
    }
    const remaining = uids.filter((uid) => still.has(uid));
    if (remaining.length === uids.length) return failures(uids, error);
    if (remaining.length === 0) return failures(uids, undefined);
    return failures(remaining, await attempt(remaining));
  }

  /** `uids` that are in the selected folder, by UID SEARCH UID <set> (one per ~8 KB of set). */
  async #stillThere(client: ImapFlow, uids: number[]): Promise<Set<number>> {
    const found = new Set<number>();
    for (const set of toSequenceSets(uids)) {
      const result = await client.search({ uid: set }, { uid: true });
      if (!Array.isArray(result)) throw this.#refused('UID SEARCH UID', `looking up messages in ${this.#folder}`);
      for (const uid of result) found.add(uid);
    }
    return found;
  }

  /**
   * Waits on the open folder for new mail (see `Mailbox.waitForChange`).
   *
   * - `changed` at once when new mail was reported since the last `list()`; else when the
   *   server pushes EXISTS. A server without IDLE (or one that refused it) is asked by the
   *   watchdog's NOOPs instead, so there the news comes at the next NOOP.
   * - Watchdog: IDLE is ended (DONE), a NOOP sent and IDLE entered again every
   *   healthCheckMs - answerWithin (at least healthCheckMs / 2, at most 10 min), where
   *   answerWithin = min(healthCheckMs / 2, fetchTimeout, 30 s), but at least 1 s unless
   *   fetchTimeout is shorter: so a dead link is noticed within healthCheckMs (for values of
   *   2 s and more). A NOOP not answered in time, or the connection closing or failing,
   *   rejects with a TimeoutError or ConnectionError and closes the connection: every later
   *   call fails with that error until `open()` connects again; `close()` is safe.
   * - `timeout` after `maxMs`; `aborted` when `signal` aborts (or already has) or `close()` is
   *   called meanwhile.
   *
   * IDLE may still be running when this resolves: the next command ends it first (imapflow
   * sends DONE and waits for the IDLE's completion before the command).
   */
  async waitForChange(options: WaitOptions): Promise<'changed' | 'timeout' | 'aborted'> {
    const { maxMs, healthCheckMs, signal } = options;
    if (!(maxMs >= 0)) throw new RangeError(`waitForChange: maxMs must be a number >= 0, got ${String(maxMs)}`);
    if (!(healthCheckMs > 0) || !Number.isFinite(healthCheckMs)) {
      throw new RangeError(`waitForChange: healthCheckMs must be a finite number > 0, got ${String(healthCheckMs)}`);
    }
    if (signal?.aborted) return 'aborted';
    const client = this.#requireOpen();
    if (this.#waiter) throw new MailboxError(`${this.#name}: already waiting for new mail on this connection.`, { account: this.#name });
    if (this.#changed) {
      this.#note(`new mail in ${this.#folder} arrived during the last cycle`);
      return 'changed';
    }
    if (maxMs === 0) return 'timeout';

    // A NOOP every `probeEvery`, answered within `answerWithin`: together at most healthCheckMs
    // (for healthCheckMs >= 2 s), so a dead link is noticed within healthCheckMs of the last
    // proof of life; and a fresh IDLE at least every 10 minutes.
    const answerWithin = Math.min(this.#account.fetchTimeout, NOOP_ANSWER_CAP_MS, Math.max(Math.round(healthCheckMs / 2), NOOP_ANSWER_FLOOR_MS));
    const probeEvery = Math.max(MIN_PROBE_MS, Math.min(IDLE_REISSUE_MS, Math.max(healthCheckMs - answerWithin, Math.round(healthCheckMs / 2))));
    const name = this.#name;
    const lostWhile = (reason: string): string => `${name}: connection to ${this.#where} lost while waiting for new mail (${reason}).`;
    this.#note(
      `waiting for new mail in ${this.#folder} (${this.capabilities.idle && !this.#idleRefused ? 'IDLE' : 'no IDLE'}; NOOP every ${formatDuration(probeEvery)}, ` +
        `answer within ${formatDuration(answerWithin)}; at most ${formatDuration(maxMs)})`,
    );

    return new Promise((resolve, reject) => {
      let settled = false;
      let deadline: NodeJS.Timeout | undefined;
      let probeTimer: NodeJS.Timeout | undefined;
      let answerTimer: NodeJS.Timeout | undefined;
      /** The IDLE this wait started, while imapflow runs it; `ended`: the watchdog asked for its end. */
      let idling: { ended: boolean; since: number } | undefined;
      /** A watchdog NOOP is on its way (no IDLE is entered meanwhile). */
      let probing = false;

      const cleanup = (): void => {
        settled = true;
        clearTimeout(deadline);
        clearTimeout(probeTimer);
        clearTimeout(answerTimer);
        signal?.removeEventListener('abort', onAbort);
        if (this.#waiter === waiter) this.#waiter = undefined;
      };
      const finish = (outcome: 'changed' | 'timeout' | 'aborted'): void => {
        if (settled) return;
        cleanup();
        this.#note(`waiting for new mail ended: ${outcome}`);
        resolve(outcome);
      };
      const fail = (error: MailpollError): void => {
        if (settled) return;
        cleanup();
        // This error, not the generic one the client's event handler may have recorded.
        if (this.#client === client) this.#failure = error;
        this.#note(`waiting for new mail failed: ${error.message}`);
        client.close();
        reject(error);
      };
      const lost = (error: unknown): void => {
        if (settled) return;
        const options = { account: name, cause: error };
        const code = errorCode(error);
        if (error === undefined) {
          const bye = client.byeReason ? `: ${this.#clean(oneLine(client.byeReason))}` : '';
          fail(new ConnectionError(lostWhile(`connection closed${bye}`), { account: name }));
        } else if (code === 'ETIMEOUT' || code === 'ETIMEDOUT') {
          fail(new TimeoutError(lostWhile(`no traffic: ${this.#said(error)}`), options));
        } else {
          const known = code === 'ECONNRESET' ? 'reset' : code === 'EPIPE' ? 'broken pipe' : undefined;
          fail(new ConnectionError(lostWhile(known ?? this.#said(error)), options));
        }
      };
      const waiter: Waiter = { change: () => finish('changed'), lost, closing: () => finish('aborted') };
      const onAbort = (): void => finish('aborted');

      const enterIdle = (): void => {
        if (settled || probing || idling || !this.capabilities.idle || this.#idleRefused) return;
        const session = { ended: false, since: Date.now() };
        idling = session;
        // Resolves when IDLE is over: ended by the watchdog's NOOP or by the next command
        // (DONE, tagged OK), by the server, or by a failure (false).
        client.idle().then(
          (result) => {
            if (idling === session) idling = undefined;
            if (settled) return;
            if (!session.ended) {
              if (result === false) {
                // Refused by the server (or the connection is going: then the close event decides).
                if (client.usable) {
                  this.#idleRefused = true;
                  this.#note(`the server refused IDLE: waiting with NOOPs every ${formatDuration(probeEvery)}`);
                }
                return;
              }
              // The server ended IDLE by itself: again at once, unless that happens in a loop.
              if (Date.now() - session.since < IDLE_MIN_RUN_MS) return;
            }
            enterIdle();
          },
          () => {
            if (idling === session) idling = undefined;
          },
        );
      };

      const probe = (): void => {
        probeTimer = undefined;
        if (settled) return;
        probing = true;
        if (idling) idling.ended = true;
        answerTimer = setTimeout(() => fail(new TimeoutError(lostWhile(`no answer to NOOP within ${formatDuration(answerWithin)}`), { account: name })), answerWithin);
        // imapflow ends a running IDLE first (DONE, then the IDLE's tagged OK), then sends NOOP.
        // It reports a failed NOOP only through its logger: what counts is whether the
        // connection is still usable afterwards.
        client.noop().then(
          () => {
            clearTimeout(answerTimer);
            probing = false;
            if (settled) return;
            if (!client.usable) {
              lost(undefined);
              return;
            }
            enterIdle();
            probeTimer = setTimeout(probe, probeEvery);
          },
          (error: unknown) => {
            clearTimeout(answerTimer);
            probing = false;
            lost(error ?? new Error('NOOP failed'));
          },
        );
      };

      this.#waiter = waiter;
      signal?.addEventListener('abort', onAbort, { once: true });
      deadline = setTimeout(() => finish('timeout'), Math.min(maxMs, MAX_TIMER_MS));
      probeTimer = setTimeout(probe, probeEvery);
      enterIdle();
    });
  }

  /** A line of our own in the verbose log (a failing sink must not break anything). */
  #note(line: string): void {
    if (!this.#debug) return;
    try {
      this.#debug(`info: ${this.#name}: ${line}`);
    } catch {
      // the log is only a log
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#waiter?.closing();
    this.#client = undefined;
    this.#folder = undefined;
    // Not expunged: still flagged on the server, and `handled` in the ledger for the next run.
    this.#flagged.clear();
    this.#expunged = [];
    this.#knownFolders.clear();
    this.capabilities.idle = false;
    if (!client) return;
    if (client.usable) {
      try {
        await this.#within(client.logout(), LOGOUT_TIMEOUT_MS, () => 'logout timed out', client);
      } catch {
        // The connection is closed below either way.
      }
    }
    client.close();
  }

  #createClient(ca: Buffer | undefined): ImapFlow {
    const account = this.#account;
    const tls: ConnectionOptions = { rejectUnauthorized: account.tlsRejectUnauthorized };
    if (ca) tls.ca = ca;
    // imapflow sets the SNI servername from a host name and leaves it out for an IP
    // address, which keeps Node's DEP0123 warning away.
    const client = new ImapFlow({
      host: this.#host,
      port: this.#port,
      secure: account.tls === 'implicit',
      // true: STARTTLS is required and its absence is an error; false: stay in plaintext.
      doSTARTTLS: account.tls === 'starttls' ? true : account.tls === 'none' ? false : undefined,
      tls,
      auth: { user: account.login ?? account.user ?? '', pass: account.password ?? '' },
      logger: createLogger(this.#debug, account.password, (entry) => this.#noteWarning(entry)),
      connectionTimeout: account.connectTimeout,
      greetingTimeout: account.connectTimeout,
      // mailpoll never idles between its own commands.
      disableAutoIdle: true,
    });
    // imapflow reports a broken connection as an 'error' event: without a listener that
    // would crash the process. It is kept as the reason every later call fails.
    client.on('error', (error: unknown) => {
      this.#failure ??= this.#describe(error, 'the session');
      if (this.#client === client) this.#waiter?.lost(error);
    });
    client.on('close', () => {
      // Only once open: during open() the pending command reports the close itself.
      if (this.#client === client && this.#folder !== undefined && !client.closedByClient) {
        const reason = client.byeReason ? ` (${this.#clean(client.byeReason)})` : '';
        this.#failure ??= new ConnectionError(`${this.#name}: connection to ${this.#where} closed by the server${reason}. Try again later.`, {
          account: this.#name,
        });
        this.#waiter?.lost(undefined);
      }
    });
    // New mail in the selected folder: pushed during IDLE, or reported along with the answer
    // to any command. (An EXPUNGE lowers the count first, so a smaller count is no news.)
    client.on('exists', (event: { count?: unknown; prevCount?: unknown }) => {
      if (this.#client !== client) return;
      if (typeof event.count === 'number' && typeof event.prevCount === 'number' && event.count <= event.prevCount) return;
      this.#changed = true;
      this.#waiter?.change();
    });
    return client;
  }

  #noteWarning(entry: unknown): void {
    const err = entry && typeof entry === 'object' ? (entry as { err?: unknown }).err : undefined;
    if (err && typeof err === 'object' && (err as ImapFlowErrorFields).responseStatus === 'NO') {
      this.#serverNo = { count: this.#serverNo.count + 1, last: err };
    }
  }

  /**
   * One disposition command through imapflow, which answers true/false (or a result object)
   * and keeps the server's NO to itself: false becomes a refusal with the server's answer,
   * and an "OK" that imapflow made of a NO (see #serverNo) a failure too, since the server
   * may not have carried the command out for the messages that are still there.
   */
  async #exact(command: string, what: string, run: () => Promise<unknown>): Promise<void> {
    const before = this.#serverNo.count;
    this.#serverNo.last = undefined;
    const result = await run();
    if (!result) throw this.#refused(command, what, this.#serverNo.last);
    if (this.#serverNo.count !== before) {
      const answer = this.#serverNo.last ? ` (${sentence(this.#said(this.#serverNo.last))})` : '';
      throw new MailboxError(
        `${this.#name} (${this.#where}): ${what} failed: the server did not carry out ${command} for every message${answer}`,
        { account: this.#name, cause: this.#serverNo.last },
      );
    }
  }


  #requireOpen(): ImapFlow {
    if (this.#failure) throw this.#failure;
    const client = this.#client;
    if (!client || this.#folder === undefined) {
      throw new MailboxError(`${this.#name}: the mailbox is not open (open() was not called or failed).`, { account: this.#name });
    }
    if (!client.usable) {
      throw new ConnectionError(`${this.#name}: connection to ${this.#where} is closed. Try again.`, { account: this.#name });
    }
    return client;
  }

  /** `run` within fetchTimeout, its failure described as one of our errors (`during`: what was being done). */
  async #command<T>(what: string, during: string, run: () => Promise<T>): Promise<T> {
    try {
      return await this.#bounded(what, run);
    } catch (error) {
      throw this.#describe(error, during);
    }
  }

  /** Runs one command group within fetchTimeout: a stalled server fails it instead of hanging. */
  #bounded<T>(what: string, run: () => Promise<T>): Promise<T> {
    const limit = this.#account.fetchTimeout;
    return this.#within(run(), limit, () => `${what} on ${this.#where} timed out after ${formatDuration(limit)}`);
  }

  /**
   * `work`, or a TimeoutError after `ms`: then the connection is closed (a stalled IMAP
   * session cannot be resumed) and every later call fails with the same error.
   */
  #within<T>(work: Promise<T>, ms: number, message: () => string, client = this.#client): Promise<T> {
    return withDeadline(work, ms, () => {
      const error = new TimeoutError(`${this.#name}: ${message()}`, { account: this.#name });
      if (client === this.#client) this.#failure ??= error;
      client?.close();
      return error;
    });
  }

  /** `Inbox/Incidents` as the server names it: `INBOX` + the server's hierarchy delimiter. */
  #serverPath(client: ImapFlow, folder: string): string {
    const segments = folder.split('/').filter((segment) => segment !== '');
    if (segments.length === 0) {
      throw new MailboxError(`${this.#name}: empty folder name "${folder}". Set folder: (e.g. INBOX).`, { account: this.#name });
    }
    if (segments[0]!.toUpperCase() === 'INBOX') segments[0] = 'INBOX';
    const delimiter = client.namespace?.delimiter;
    if (delimiter === null && segments.length > 1) {
      throw new MailboxError(`${this.#name}: ${this.#where} has no folder hierarchy, so "${folder}" cannot exist. Use a top-level folder.`, {
        account: this.#name,
      });
    }
    // imapflow adds the personal namespace prefix (e.g. `INBOX.`) where the server needs one.
    return segments.join(delimiter ?? '/');
  }

  /** The server path of a move target, created (with its parents when needed) if missing. */
  async #ensureFolder(client: ImapFlow, folder: string): Promise<string> {
    const path = this.#serverPath(client, folder);
    if (this.#knownFolders.has(path)) return path;
    // STATUS names one mailbox literally. LIST cannot: its `*` and `%` are wildcards with no
    // escape. imapflow answers a refused STATUS with a `LIST "" <path>` probe and returns false
    // when that pattern matches anything, so only a real STATUS answer proves the folder exists;
    // otherwise CREATE decides (imapflow takes its ALREADYEXISTS as success).
    let exists = false;
    try {
      exists = (await client.status(path, { messages: true })) !== false;
    } catch (error) {
      if (errorCode(error) !== 'NotFound') throw error;
    }
    if (!exists) {
      try {
        await client.mailboxCreate(path);
      } catch (createError) {
        // Some servers only create a folder whose parent exists: create the parents, retry.
        const segments = folder.split('/').filter((segment) => segment !== '');
        for (let depth = 1; depth < segments.length; depth += 1) {
          const parent = this.#serverPath(client, segments.slice(0, depth).join('/'));
          if (parent === 'INBOX') continue;
          await client.mailboxCreate(parent).catch(() => undefined);
        }
        await client.mailboxCreate(path).catch((retryError: unknown) => {
          const why = sentence(serverText(retryError) ? this.#said(retryError) : this.#said(createError));
          throw new MailboxError(`${this.#name} (${this.#where}): cannot create folder ${path}: ${why} Create it on the server or change the move target.`, {
            account: this.#name,
            cause: retryError,
          });
        });
      }
    }
    this.#knownFolders.add(path);
    return path;
  }

  async #missingFolder(client: ImapFlow, folder: string, path: string, cause: unknown): Promise<MailboxError> {
    let known = '';
    try {
      const folders = await client.list();
      const names = folders.map((entry) => entry.path).slice(0, 12);
      if (names.length > 0) known = ` Folders there: ${names.join(', ')}${folders.length > names.length ? ', ...' : ''}.`;
    } catch {
      // the listing is only a hint
    }
    return new MailboxError(
      `${this.#name}: folder "${folder}" (${path}) does not exist on ${this.#where}. Check folder:.${known}`,
      { account: this.#name, cause },
    );
  }

  /**
   * Text from the server or a library, safe to put in a message: the password masked, in
   * case a server echoes what it got. (Our own wording never contains it; masking a
   * one- or two-letter password would only garble words.)
   */
  #clean(text: string): string {
    const secret = this.#account.password;
    return secret && secret.length >= 3 ? text.split(secret).join('***') : text;
  }

  /** What the server answered to a failed command, else the error's own text; cleaned. */
  #said(error: unknown): string {
    return this.#clean(serverText(error) ?? oneLine(describeError(error)));
  }

  #parseUid(uid: string): number {
    const value = toUid(uid);
    if (value === undefined) throw new MailboxError(`${this.#name}: "${uid}" is not an IMAP UID.`, { account: this.#name });
    return value;
  }

  /** `answer`: the error imapflow logged for the command, when there is one. */
  #refused(command: string, what: string, answer?: unknown): MailboxError {
    const said = answer ? serverText(answer) : undefined;
    const why = said ? `: ${sentence(this.#clean(said))}` : ' (the verbose log has its answer).';
    return new MailboxError(`${this.#name} (${this.#where}): ${what} failed: the server refused ${command}${why}`, {
      account: this.#name,
      cause: answer,
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
    const fields = (error && typeof error === 'object' ? error : {}) as ImapFlowErrorFields;
    const code = errorCode(error);

    if (fields.authenticationFailed) {
      const user = this.#account.login ?? this.#account.user ?? '';
      const answer = sentence(this.#clean(serverText(error) ?? 'authentication failed'));
      return new AuthError(`${name} (${where}): login failed: ${answer} Check user/login (${user}) and password.`, options);
    }
    const network = describeNetworkError(error, { account: name, host: this.#host, port: this.#port });
    if (network) return network;
    if (code !== undefined && TIMEOUT_CODES.has(code)) {
      const hint = code === 'GREETING_TIMEOUT' && this.#account.tls !== 'implicit' ? NO_GREETING_HINT : '';
      const limit = this.#account.connectTimeout;
      return new TimeoutError(`${name}: connecting to ${where} timed out after ${formatDuration(limit)}${hint}. Check host, port and tls:.`, options);
    }
    if (fields.tlsFailed) {
      const text = this.#clean(oneLine(describeError(error)));
      if (/STARTTLS/i.test(text)) {
        const why = /does not support STARTTLS/i.test(text) ? 'the server does not offer STARTTLS' : `STARTTLS is not possible (${text})`;
        return new TlsError(`${name} (${where}): ${why}. Use tls: implicit with the server's TLS port, or tls: none (insecure).`, options);
      }
      return new TlsError(`${name} (${where}): TLS failed (${text}). Check tls: and port.`, options);
    }
    if (fields.mailboxMissing || code === 'NotFound' || fields.serverResponseCode === 'NONEXISTENT') {
      return new MailboxError(`${name}: folder does not exist on ${where} (${this.#said(error)}). Check folder: and moveTo:.`, options);
    }
    if (code !== undefined && CLOSED_CODES.has(code)) {
      const reason = fields.reason ? `: ${this.#clean(fields.reason)}` : '';
      const stage = during === 'connect' ? 'before login' : `while ${during}`;
      const fix = during === 'connect' ? 'Check port and tls:.' : 'Try again later.';
      return new ConnectionError(`${name}: connection to ${where} closed by the server ${stage}${reason}. ${fix}`, options);
    }
    if (fields.responseStatus === 'NO' || fields.responseStatus === 'BAD') {
      const command = fields.command ? `${fields.command} ` : '';
      return new MailboxError(`${name} (${where}): ${command}failed while ${during}: ${sentence(this.#said(error))}`, options);
    }
    return new MailboxError(`${name} (${where}): ${during} failed: ${sentence(this.#said(error))}`, options);
  }
}

/**
 * The server offers IDLE: advertised, or part of IMAP4rev2 when that is in use (as
 * imapflow's own capability check counts it).
 */
function hasIdle(client: ImapFlow): boolean {
  const capabilities = client.capabilities;
  if (capabilities.has('IDLE')) return true;
  return client.enabled.has('IMAP4REV2') || (capabilities.has('IMAP4rev2') && !capabilities.has('IMAP4rev1'));
}

/**
 * The server offers `capability` (MOVE, UIDPLUS): advertised, or folded into IMAP4rev2 when
 * that is in use. The same test imapflow makes before it picks a command.
 */
function offers(client: ImapFlow, capability: 'MOVE' | 'UIDPLUS'): boolean {
  if (client.capabilities.has(capability)) return true;
  return client.enabled.has('IMAP4REV2') || (client.capabilities.has('IMAP4rev2') && !client.capabilities.has('IMAP4rev1'));
}

/** The server's answer to a failed command, e.g. `[AUTHENTICATIONFAILED] Authentication failed.` */
function serverText(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const fields = error as ImapFlowErrorFields;
  // `response` is the tagged line once imapflow has enhanced the error: `2 NO [CODE] text`.
  if (typeof fields.response === 'string' && fields.response.trim() !== '') {
    return oneLine(fields.response.replace(/^\S+\s+(?:NO|BAD)\s+/i, ''));
  }
  if (fields.responseText) {
    const code = fields.serverResponseCode ? `[${fields.serverResponseCode}] ` : '';
    return oneLine(`${code}${fields.responseText}`);
  }
  return undefined;
}


/** The headers `list` fetches for the ledger's fingerprint (with RFC822.SIZE). */
const FINGERPRINT_HEADERS = ['message-id', 'date'];

/**
 * Longest UID set put in one command. Servers limit command lines (Dovecot: 64 KB; RFC 7162
 * asks clients to stay under 8 KB); a set of scattered UIDs (what the ledger leaves over,
 * unseen messages) can be longer, and is then sent as several commands.
 */
const MAX_SET_LENGTH = 8000;

/** markSeen first, then the moves (in the order given), then delete. */
function rank(key: string): number {
  return key === 'markSeen' ? 0 : key === 'delete' ? 2 : 1;
}

/** A UID (positive integer written in decimal digits), or undefined. */
function toUid(uid: string): number | undefined {
  const value = Number(uid);
  return /^\d+$/.test(uid) && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

function toBigInt(value: bigint | number | string | undefined): bigint | undefined {
  if (value === undefined || typeof value === 'bigint') return value;
  try {
    return BigInt(value);
  } catch {
    return undefined;
  }
}

/** The longest UID set a message names; longer ones end in `,...`. */
const MAX_LABEL_SET = 60;

/** `uid 42`, `uids 40:52` or `uids 3,7,9:12,...`: the UIDs a message is about. */
function uidLabel(uids: number[]): string {
  const [set = ''] = toSequenceSets(uids, Infinity);
  const cut = set.lastIndexOf(',', MAX_LABEL_SET);
  const shown = set.length <= MAX_LABEL_SET || cut <= 0 ? set : `${set.slice(0, cut)},...`;
  return `${new Set(uids).size === 1 ? 'uid' : 'uids'} ${shown}`;
}

/** `[1,2,3,7,9,10]` -> `['1:3,7,9:10']`: UID sets as short as possible, each at most MAX_SET_LENGTH long. */
function toSequenceSets(uids: number[], maxLength = MAX_SET_LENGTH): string[] {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const sets: string[] = [];
  let current = '';
  for (let i = 0; i < sorted.length; ) {
    const start = sorted[i]!;
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) {
      i += 1;
      end = sorted[i]!;
    }
    const range = start === end ? String(start) : `${start}:${end}`;
    if (current !== '' && current.length + 1 + range.length > maxLength) {
      sets.push(current);
      current = range;
    } else {
      current = current === '' ? range : `${current},${range}`;
    }
    i += 1;
  }
  if (current !== '') sets.push(current);
  return sets;
}

/** `'1:3,7'` -> `[1, 2, 3, 7]`: the UIDs of a set made by `toSequenceSets`. */
function fromSequenceSet(set: string): number[] {
  return set.split(',').flatMap((range) => {
    const [start, end = start] = range.split(':').map(Number);
    return Array.from({ length: end! - start! + 1 }, (_, i) => start! + i);
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
  if (!row.source) return undefined;
  return {
    uid: String(row.uid),
    raw: row.source,
    size: row.size ?? row.source.length,
    flags: [...(row.flags ?? [])],
    date: toDate(row.internalDate),
  };
}

/**
 * imapflow's logger. Warnings go to `onWarning` (imapflow reports a command's NO only
 * there); with a `sink`, every entry also becomes a text line for the verbose log. imapflow
 * already masks the password; this also drops every credential-carrying line, and any
 * verbatim `secret`. Without a sink imapflow is told that only warnings are wanted.
 */
function createLogger(sink: ((line: string) => void) | undefined, secret: string | undefined, onWarning: (entry: unknown) => void): Logger {
  const write = (level: string) => (entry: unknown) => {
    if (!sink) return;
    const line = formatLogEntry(level, entry);
    if (line === undefined) return;
    try {
      sink(secret && secret.length >= 3 ? line.split(secret).join('(* hidden *)') : line);
    } catch {
      // A failing log sink must not break the IMAP session.
    }
  };
  const warn = write('warn');
  const logger: Logger & { isLevelEnabled(level: string): boolean } = {
    trace: write('trace'),
    debug: write('debug'),
    info: write('info'),
    warn: (entry: unknown) => {
      try {
        onWarning(entry);
      } catch {
        // Bookkeeping only: it must not break the IMAP session.
      }
      warn(entry);
    },
    error: write('error'),
    fatal: write('fatal'),
    isLevelEnabled: (level) => sink !== undefined || level === 'warn',
  };
  return logger;
}

function formatLogEntry(level: string, entry: unknown): string | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  const { src, msg, comment, err } = entry as { src?: unknown; msg?: unknown; comment?: unknown; err?: unknown };
  let text = typeof msg === 'string' ? msg : '';
  if (src === 'c') {
    // SASL continuation lines (imapflow labels them with a comment) carry credentials. The
    // other commented lines are IDLE's DONE and imapflow's NOOP: those are shown.
    if (comment !== undefined && !/^(?:DONE|\S+ NOOP)$/i.test(text)) return 'C: (* credentials hidden *)';
    text = redactLogin(text);
  }
  const detail = err instanceof Error ? err.message : '';
  const body = [text, detail].filter(Boolean).join(': ');
  if (body === '') return undefined;
  const prefix = src === 'c' ? 'C: ' : src === 's' ? 'S: ' : `${level}: `;
  return prefix + oneLine(body);
}

/** `2 LOGIN "ann" "pw"` -> `2 LOGIN (* credentials hidden *)`; AUTHENTICATE keeps its mechanism. */
function redactLogin(line: string): string {
  const match = /^(\S+\s+)(LOGIN|AUTHENTICATE)(?:\s+(\S+))?(\s.*)?$/i.exec(line);
  if (!match) return line;
  const [, tag, command, first, rest] = match;
  if (command!.toUpperCase() === 'LOGIN') return `${tag}${command} (* credentials hidden *)`;
  return `${tag}${command}${first ? ` ${first}` : ''}${rest ? ' (* credentials hidden *)' : ''}`;
}

/** A server path with a leading INBOX segment in capitals: INBOX is the one case-insensitive name. */
function inboxFolded(path: string, delimiter: string): string {
  const [first, ...rest] = path.split(delimiter);
  if (first === undefined || first.toUpperCase() !== 'INBOX') return path;
  return ['INBOX', ...rest].join(delimiter);
}
