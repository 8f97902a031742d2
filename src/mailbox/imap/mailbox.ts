/**
 * The IMAP adapter: the `Mailbox` interface on top of imapflow. One connection per
 * `open()`; candidates come from one UID SEARCH (`search-query.ts`; minus what the ledger skips) and one
 * metadata UID FETCH, bodies from one UID FETCH BODY.PEEK[] (never sets \Seen),
 * dispositions are applied to UID sets; deletes are flagged \Deleted (pending) and expunged
 * by `commit`.
 *
 * A UID that is no longer in the folder counts as done for every disposition, so that a
 * recorded decision can be applied again after a crash. Dovecot answers OK to UID
 * STORE/MOVE/EXPUNGE of such UIDs (MOVE: "OK No messages found", no COPYUID); a server
 * that refuses instead is asked which of the UIDs are still there (one UID SEARCH UID), and
 * only those can fail.
 *
 * Its parts: `errors.ts` (imapflow's error shapes -> ours), `log.ts` (imapflow's logger ->
 * the verbose log), `greeting.ts`, `fetch.ts`, `dispositions.ts`, `uid-set.ts`, `folders.ts`
 * (names, move targets), `expunge.ts` (the careful EXPUNGE without UIDPLUS),
 * `capabilities.ts`, and `idle.ts` for watch mode: the
 * open connection waits in IDLE (RFC 2177) for the server's EXISTS push. imapflow's
 * auto-IDLE stays off (it would slip IDLE/DONE between a cycle's commands); IDLE is only
 * entered inside `waitForChange`. imapflow does not reconnect: a dead link rejects and the
 * caller opens a new connection.
 */
import type net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { ImapFlow, type FetchMessageObject } from 'imapflow';
import type { AccountConfig } from '../../config/types.js';
import { formatDuration } from '../../duration.js';
import { AuthError, ConfigError, ConnectionError, MailboxError, MailpollError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { ConnectionGuard, NO_GREETING_HINT, type ExtraConnection } from '../connection-utils.js';
import { OpenSockets } from '../open-sockets.js';
import { imapTransport, openProxyTunnel, readTlsFiles, tlsOptionsOf, type ServerCertificate } from '../transport.js';
import { errorCode } from '../net-errors.js';
import type { Candidate, Disposition, FolderListing, DispositionResult, FetchedMessage, FetchOptions, ListOptions, Mailbox, MailboxCapabilities, MailboxStatus, WaitOptions } from '../types.js';
import { effectiveSearch } from '../../config/search.js';
import { hasIdle, offers } from './capabilities.js';
import { searchUids } from './search-query.js';
import { describeImapError, notPreauthenticated, refused, ServerAnswers } from './errors.js';
import { expungeOnly } from './expunge.js';
import { groupDispositions } from './dispositions.js';
import { listQuery } from './list-query.js';
import { groupCommand, type GroupContext } from './group-commands.js';
import { FINGERPRINT_HEADERS, streamBodies, toCandidates } from './fetch.js';
import { ensureFolder, isSameFolder, missingFolder, serverPath } from './folders.js';
import { listMatchingFolders } from './folder-patterns.js';
import { watchGreeting } from './greeting.js';
import { checkWaitOptions, IdleWait, planWatchdog, systemTimers, type IdleHost, type Timers, type WaitOutcome } from './idle.js';
import { getAccessToken } from '../../oauth2/tokens.js';
import { createLogger } from './log.js';
import { toSequenceSets, toUid, toUidValidity } from './uid-set.js';

export interface ImapMailboxOptions {
  /**
   * Its `debug` gets the verbose log: one line per protocol line or connection event, with
   * credentials removed. Default: none, and imapflow's own logger is off.
   */
  logger?: Logger | undefined;
  /** The clock and timers of `waitForChange`. Default: the system's (tests pass their own). */
  timers?: Timers | undefined;
  /** Asked before a second connection to the host (the TLS probe of a silent port); default: no limit. */
  extraConnection?: ExtraConnection | undefined;
}

/** An IMAP mailbox for `account`. Nothing happens on the network before `open()`. */
export function createImapMailbox(account: AccountConfig, options: ImapMailboxOptions = {}): Mailbox {
  return new ImapMailbox(account, options);
}

/** LOGOUT is a courtesy: a server that does not answer it in time is simply disconnected. */
const LOGOUT_TIMEOUT_MS = 5000;

class ImapMailbox implements Mailbox {
  readonly protocol = 'imap' as const;
  /**
   * `idle` is what the server advertised after login (IDLE, or IMAP4rev2 where IDLE is
   * part of the base protocol), set by `open()`. Before `open()` and after `close()` it is
   * false: the greeting is not seen before connecting, and a guess would be worse than none.
   */
  readonly capabilities: MailboxCapabilities = { move: true, markSeen: true, copy: true, flags: 'any', idle: false, commitEndsSession: false };

  /** Who we are, the session's failure (every later call throws it), deadlines, masking. */
  readonly #guard: ConnectionGuard;
  /** The NO answers imapflow reports only through its logger. */
  readonly #answers: ServerAnswers;
  readonly #timers: Timers;
  readonly #extraConnection: ExtraConnection | undefined;
  /** Every socket of this mailbox's connections until it has closed: `close()` waits for them. */
  readonly #sockets = new OpenSockets();
  #client: ImapFlow | undefined;
  /** Server name of the selected folder. */
  #folder: string | undefined;
  /** UIDs `apply` flagged \Deleted in the open folder (-> the caller's spelling); `commit` expunges them. */
  #flagged = new Map<number, string>();
  /** Flagged UIDs a move's expunge (no MOVE, no UIDPLUS) took along: confirmed by the next `commit`. */
  #expunged: string[] = [];
  /** Move targets known to exist on this connection. */
  readonly #knownFolders = new Set<string>();
  /**
   * The server reported new mail (EXISTS with a larger count) since the last `list()`
   * searched: `waitForChange` then answers `changed` at once, so mail that arrived during a
   * cycle is not waited for until the next push.
   */
  #changed = false;
  /** The server refused IDLE on this connection: `waitForChange` keeps to NOOPs. */
  #idleRefused = false;
  /** The `waitForChange` in progress, if any. */
  #waiter: IdleWait | undefined;

  constructor(account: AccountConfig, options: ImapMailboxOptions) {
    this.#guard = new ConnectionGuard(account, account.host ?? '', account.port ?? (account.tls === 'implicit' ? 993 : 143), options.logger);
    this.#answers = new ServerAnswers(this.#guard);
    this.#timers = options.timers ?? systemTimers;
    this.#extraConnection = options.extraConnection;
  }

  async open(): Promise<MailboxStatus> {
    await this.close();
    this.#guard.failure = undefined;
    this.#changed = false;
    this.#idleRefused = false;
    const account = this.#guard.account;
    if (!account.host) throw new ConfigError(`${this.#guard.name}: host is not set. Set host: for this imap account.`, { account: this.#guard.name });
    if (account.auth !== 'oauth2' && account.password === undefined && account.requireAuth) {
      throw new AuthError(`${this.#guard.name}: no password configured. Set password, passwordEnv, passwordFile, passwordCommand or passwordSecret.`, {
        account: this.#guard.name,
      });
    }
    const tlsOptions = tlsOptionsOf(account, await readTlsFiles(account));
    const seen: { certificate?: ServerCertificate } = {};
    // OAUTHBEARER when the server announces it, else XOAUTH2 (imapflow's order).
    const accessToken = account.auth === 'oauth2' ? await getAccessToken(account) : undefined;

    // One budget for the proxy tunnel + TCP + TLS + greeting + login + opening the folder.
    const phase = { text: `connecting to ${this.#guard.where}` };
    let client: ImapFlow | undefined;
    const abort = new AbortController();
    const timedOut = (): string => {
      const hint = client !== undefined && client.greeting === undefined && account.tls !== 'implicit' ? NO_GREETING_HINT : '';
      return `${phase.text} timed out after ${formatDuration(account.connectTimeout)}${hint}. Check host, port${account.proxy ? ', proxy' : ''} and tls:.`;
    };
    const steps = async (): Promise<MailboxStatus> => {
      const tunnel = await openProxyTunnel(this.#guard, abort.signal);
      client = this.#createClient(tlsOptions, tunnel, seen, accessToken);
      this.#client = client;
      const status = await this.#openSteps(client, phase);
      return { ...status, certificate: seen.certificate };
    };
    try {
      const end = (): void => {
        abort.abort();
        this.#client?.close();
      };
      return await this.#guard.within(steps(), account.connectTimeout, timedOut, end, () => true);
    } catch (error) {
      const failure = describeImapError(this.#guard, error, client?.authenticated ? `opening ${account.folder}` : 'connect');
      this.#client = undefined;
      client?.close();
      await this.#sockets.destroyAll();
      throw failure;
    }
  }

  async #openSteps(client: ImapFlow, phase: { text: string }): Promise<MailboxStatus> {
    const connecting = client.connect();
    const greeting = watchGreeting(this.#guard, client, this.#extraConnection);
    try {
      await Promise.race([connecting, greeting.wrong]);
    } catch (error) {
      // Without credentials imapflow fails the login itself: say why there were none.
      if (!this.#guard.account.requireAuth && !client.authenticated && (error as { authenticationFailed?: boolean }).authenticationFailed) throw notPreauthenticated(this.#guard, error);
      throw error;
    } finally {
      greeting.stop();
    }
    return this.#select(client, this.#guard.account.folder, phase);
  }

  // `folders:` (see Mailbox): another folder on this connection; the folders the names and patterns stand for.
  async selectFolder(folder: string): Promise<MailboxStatus> {
    return this.#select(this.#requireOpen(), folder, { text: '' }).catch((error: unknown) => Promise.reject(describeImapError(this.#guard, error, `opening ${folder}`)));
  }

  async listFolders(patterns: readonly string[] | 'all', exclude: readonly string[]): Promise<FolderListing> {
    return listMatchingFolders(this.#requireOpen(), patterns, exclude);
  }

  async #select(client: ImapFlow, folder: string, phase: { text: string }): Promise<MailboxStatus> {
    const path = serverPath(this.#guard, client, folder);
    phase.text = `opening ${path} on ${this.#guard.where}`;
    let unseen: number | undefined;
    try {
      // STATUS first: it tells a missing folder apart from other failures, and counts unseen.
      const status = await client.status(path, { messages: true, unseen: true });
      unseen = status ? status.unseen : undefined;
    } catch (error) {
      if (errorCode(error) === 'NotFound') throw await missingFolder(this.#guard, client, folder, path, error);
      throw error;
    }
    const selected = await client.mailboxOpen(path);
    this.#folder = selected.path;
    // The capabilities after login are the ones that count (some servers list fewer before).
    this.capabilities.idle = hasIdle(client);
    // The first cycle lists everything anyway.
    this.#changed = false;
    return { folder: selected.path, total: selected.exists, unseen, uidValidity: toUidValidity(selected.uidValidity) };
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
      if (options.search === undefined) {
        const result = await client.search(listQuery(options), { uid: true });
        if (!Array.isArray(result)) throw refused(this.#guard, 'UID SEARCH', `searching ${folder}`);
        return result;
      }
      const result = await searchUids(client, effectiveSearch(options.search, options.onlyUnseen), options.now ?? Date.now());
      if (result === false) throw refused(this.#guard, 'UID SEARCH', `searching ${folder}`);
      if (options.skipKeyword === undefined) return result;
      // A search of the user's own and skipKeyword: two searches, intersected (a raw search
      // cannot be extended, and its keys may already use the flag skipKeyword names).
      const unmarked = await client.search(listQuery({ onlyUnseen: false, skipKeyword: options.skipKeyword }), { uid: true });
      if (!Array.isArray(unmarked)) throw refused(this.#guard, 'UID SEARCH', `searching ${folder}`);
      const keep = new Set(unmarked);
      return result.filter((uid) => keep.has(uid));
    });
    // Oldest first: UIDs grow with arrival. What the ledger has finished with goes before
    // `limit` counts and before anything is fetched. (`skip` is the caller's code: its
    // errors pass through unchanged.)
    const skip = options.skip;
    let uids = [...found].sort((a, b) => a - b);
    if (skip) uids = await skip(uids.map(String)).then((leftOut) => uids.filter((uid) => !leftOut.has(String(uid))));
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
    return toCandidates(uids, rows);
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
    return client !== undefined && opened !== undefined && isSameFolder(this.#guard, client, folder, opened);
  }

  async restore(messageId: string, from: string): Promise<number> {
    const client = this.#requireOpen();
    const folder = this.#folder!;
    const source = serverPath(this.#guard, client, from);
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
          await this.#answers.exact('UID COPY', what, () => client.messageCopy(set, folder, { uid: true }));
          await expungeOnly(this.#guard, this.#answers, client, uids, source, what);
        } else if ((await client.messageMove(uids, folder, { uid: true })) === false) {
          throw refused(this.#guard, 'UID MOVE', what);
        }
        return uids.length;
      } finally {
        await client.mailboxOpen(folder);
      }
    });
  }

  async *fetch(candidates: Candidate[], options: FetchOptions = {}): AsyncGenerator<FetchedMessage> {
    const client = this.#requireOpen();
    const uids = candidates.map((candidate) => this.#parseUid(candidate.uid));
    if (uids.length === 0) return;
    yield* streamBodies(this.#guard, client, uids, this.#folder!, (work, ms, message) => this.#within(work, ms, message), options.headersOnly === true);
  }

  async apply(dispositions: Disposition[]): Promise<DispositionResult[]> {
    const { results, numeric, groups } = groupDispositions(this.#guard.name, dispositions, (uid) => this.#parseUid(uid));
    const folder = this.#folder ?? this.#guard.account.folder;
    /** Moved by COPY + \Deleted (no MOVE, no UIDPLUS): done once `#expungeOurs` has removed them below. */
    const copied = new Set<number>();
    const context: GroupContext = { answers: this.#answers, folder, copied, ensureFolder: (client, target) => ensureFolder(this.#guard, client, target, this.#knownFolders) };
    /** Input positions whose copy or flag failed: their later commands are not run, and the whole Decision is applied again. */
    const refused = new Set<number>();
    // In the order of groupDispositions, each group in one command.
    for (const { key, ...group } of groups) {
      const indexes = group.indexes.filter((index) => !refused.has(index));
      const uids = indexes.map((index) => numeric[index]!);
      if (uids.length === 0) continue;
      const { what, run } = groupCommand(key, context);
      const failed = await this.#settle(uids, what, run);
      const success = key === 'delete' ? 'pending' : 'done';
      for (const index of indexes) {
        const uid = dispositions[index]!.uid;
        const error = failed.get(numeric[index]!);
        if (error === undefined && success === 'pending') this.#flagged.set(numeric[index]!, uid);
        if (error !== undefined) refused.add(index);
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
    const folder = this.#folder ?? this.#guard.account.folder;
    if (this.#client && !offers(this.#client, 'UIDPLUS')) {
      await this.#expungeOurs(uids);
      return;
    }
    // UID EXPUNGE of exactly these UIDs (UIDPLUS; imapflow sets \Deleted again first, which
    // changes nothing).
    const what = (subset: number[]) => `expunging ${subset.length} deleted message${subset.length === 1 ? '' : 's'} from ${folder}`;
    const failed = await this.#settle(uids, what, (client, set, label) =>
      this.#answers.exact('UID EXPUNGE', label, () => client.messageDelete(set, { uid: true })),
    );
    const [first] = failed.values();
    if (first) throw first;
  }

  /** Expunge exactly `ours` where the only EXPUNGE there is takes every \Deleted message (see `expungeOnly`). */
  async #expungeOurs(ours: number[]): Promise<void> {
    const folder = this.#folder ?? this.#guard.account.folder;
    const what = `expunging ${ours.length} deleted message${ours.length === 1 ? '' : 's'} from ${folder}`;
    await this.#command(what, what, () => expungeOnly(this.#guard, this.#answers, this.#requireOpen(), ours, folder, what));
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
        return describeImapError(this.#guard, caught, label);
      }
    };
    const failures = (subset: number[], error: Error | undefined): Map<number, Error> =>
      new Map(error ? subset.map((uid) => [uid, error] as const) : []);

    uids = [...new Set(uids)];
    const error = await attempt(uids);
    if (!error || this.#guard.failure || !this.#client?.usable) return failures(uids, error);
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
      if (!Array.isArray(result)) throw refused(this.#guard, 'UID SEARCH UID', `looking up messages in ${this.#folder}`);
      for (const uid of result) found.add(uid);
    }
    return found;
  }

  /** Waits on the open folder for new mail: see `Mailbox.waitForChange`, and `./idle.ts` for how. */
  async waitForChange(options: WaitOptions): Promise<WaitOutcome> {
    checkWaitOptions(options);
    const { maxMs, healthCheckMs, signal } = options;
    if (signal?.aborted) return 'aborted';
    const client = this.#requireOpen();
    if (this.#waiter) throw new MailboxError(`${this.#guard.name}: already waiting for new mail on this connection.`, { account: this.#guard.name });
    if (this.#changed) {
      this.#note(`new mail in ${this.#folder} arrived during the last cycle`);
      return 'changed';
    }
    if (maxMs === 0) return 'timeout';

    const watchdog = planWatchdog(healthCheckMs, this.#guard.account.fetchTimeout);
    const { probeEvery, answerWithin } = watchdog;
    this.#note(
      `waiting for new mail in ${this.#folder} (${this.capabilities.idle && !this.#idleRefused ? 'IDLE' : 'no IDLE'}; NOOP every ${formatDuration(probeEvery)}, ` +
        `answer within ${formatDuration(answerWithin)}; at most ${formatDuration(maxMs)})`,
    );
    const host: IdleHost = {
      client,
      guard: this.#guard,
      timers: this.#timers,
      canIdle: () => this.capabilities.idle && !this.#idleRefused,
      refuseIdle: () => {
        this.#idleRefused = true;
      },
      fail: (error) => {
        if (this.#client === client) this.#guard.failure = error;
      },
      forget: (wait) => {
        if (this.#waiter === wait) this.#waiter = undefined;
      },
      note: (line) => this.#note(line),
    };
    const wait = new IdleWait(host, options, watchdog);
    this.#waiter = wait;
    return wait.done;
  }

  /** A line of our own in the verbose log. */
  #note(line: string): void {
    this.#guard.log(`info: ${this.#guard.name}: ${line}`);
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
    if (client?.usable) {
      try {
        await this.#within(client.logout(), LOGOUT_TIMEOUT_MS, () => 'logout timed out', client);
      } catch {
        // The connection is closed below either way.
      }
    }
    client?.close();
    // Resolved only once every socket has closed: the caller may count it as gone.
    await this.#sockets.destroyAll();
  }

  #createClient(tls: ConnectionOptions, tunnel: net.Socket | undefined, seen: { certificate?: ServerCertificate }, accessToken: string | undefined): ImapFlow {
    const account = this.#guard.account;
    // Sockets come from our transport: the pinned certificate is checked before imapflow
    // sends a byte, and a proxy tunnel can carry the session. SNI is left out for an IP address.
    const client = new ImapFlow({
      transport: imapTransport(this.#guard, tls, tunnel, seen, this.#sockets),
      host: this.#guard.host,
      port: this.#guard.port,
      secure: account.tls === 'implicit',
      // true: STARTTLS is required and its absence is an error; false: stay in plaintext.
      doSTARTTLS: account.tls === 'starttls' ? true : account.tls === 'none' ? false : undefined,
      tls,
      // Without auth, imapflow accepts only a session the server pre-authenticated (PREAUTH).
      ...(account.requireAuth ? { auth: accessToken === undefined ? { user: account.login ?? account.user ?? '', pass: account.password ?? '' } : { user: account.login ?? account.user ?? '', accessToken } } : {}),
      logger: createLogger(this.#guard.trace, (entry) => this.#answers.noteWarning(entry)),
      connectionTimeout: account.connectTimeout,
      greetingTimeout: account.connectTimeout,
      // mailpoll never idles between its own commands.
      disableAutoIdle: true,
    });
    // imapflow reports a broken connection as an 'error' event: without a listener that
    // would crash the process. It is kept as the reason every later call fails.
    client.on('error', (error: unknown) => {
      this.#guard.failure ??= describeImapError(this.#guard, error, 'the session');
      if (this.#client === client) this.#waiter?.lost(error);
    });
    client.on('close', () => {
      // Only once open: during open() the pending command reports the close itself.
      if (this.#client === client && this.#folder !== undefined && !client.closedByClient) {
        const reason = client.byeReason ? ` (${this.#guard.clean(client.byeReason)})` : '';
        this.#guard.failure ??= new ConnectionError(`${this.#guard.name}: connection to ${this.#guard.where} closed by the server${reason}. Try again later.`, {
          account: this.#guard.name,
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

  #requireOpen(): ImapFlow {
    const client = this.#guard.requireOpen(this.#folder === undefined ? undefined : this.#client);
    if (!client.usable) {
      throw new ConnectionError(`${this.#guard.name}: connection to ${this.#guard.where} is closed. Try again.`, { account: this.#guard.name });
    }
    return client;
  }

  /** `run` within fetchTimeout, its failure described as one of our errors (`during`: what was being done). */
  async #command<T>(what: string, during: string, run: () => Promise<T>): Promise<T> {
    try {
      return await this.#bounded(what, run);
    } catch (error) {
      throw describeImapError(this.#guard, error, during);
    }
  }

  /** Runs one command group within fetchTimeout: a stalled server fails it instead of hanging. */
  #bounded<T>(what: string, run: () => Promise<T>): Promise<T> {
    const limit = this.#guard.account.fetchTimeout;
    return this.#within(run(), limit, () => `${what} on ${this.#guard.where} timed out after ${formatDuration(limit)}`);
  }

  /** `work`, or a TimeoutError after `ms`: then `client` is closed and, if still the current one, the timeout is the session's failure. */
  #within<T>(work: Promise<T>, ms: number, message: () => string, client = this.#client): Promise<T> {
    return this.#guard.within(work, ms, message, () => client?.close(), () => client === this.#client);
  }

  #parseUid(uid: string): number {
    const value = toUid(uid);
    if (value === undefined) throw new MailboxError(`${this.#guard.name}: "${uid}" is not an IMAP UID.`, { account: this.#guard.name });
    return value;
  }
}
