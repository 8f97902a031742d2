/**
 * One account's poll cycle. The story of one message, and the order that keeps mail safe:
 *
 *   fetch (BODY.PEEK: reading changes nothing) -> parse -> raw copy archived + ledger
 *   `received` -> handler -> ledger `handled` with the Decision (committed as soon as that
 *   handler answered) -> durability barrier -> server action -> ledger `done` -> report.
 *
 * The server actions are carried out by `decision/apply.ts`. What the server confirms only
 * later (an IMAP delete at its expunge, a POP3 DELE at QUIT) becomes `done` at the mailbox's
 * commit: every 1,000 such deletes where the session survives it, and at the end of the cycle.
 *
 * Nothing on the server changes before its `handled` row is committed. A message whose
 * parse, handler or plan fails gets no disposition, and one whose server action is refused
 * keeps its Decision; either is tried again once `retryDelay` has passed (runs before then
 * count it as deferred), and after `maxAttempts` failures it is quarantined. Decisions
 * recorded by a run that died before carrying them out are applied first, without calling
 * the handler again.
 *
 * Work goes in batches: the bodies of one batch are fetched in one streamed command and
 * collected (imapflow runs no other command while a fetch is iterated); their raw copies and
 * `received` rows are committed together; they are handled in order, `handlerConcurrency`
 * at a time (a module's in worker threads: handle-batch.ts, handler/invoke.ts); then their
 * dispositions are applied grouped by action. No round trip per message. While a batch's
 * handlers run, the next batch is already downloading; its server actions wait for that
 * download to end, as the connection carries one command at a time.
 */
import type { AccountConfig } from '../config/types.js';
import { applyDecisions, commitAtEnd, commitIfDue, createApplier, dispositionOf, type Applier, type Carried } from '../decision/apply.js';
import { planDecision } from '../decision/plan.js';
import type { Decision } from '../decision/types.js';
import type { Protocol } from '../domain.js';
import { describeError, HandlerLoadError, LeaseLostAccountError, MailpollError, MessageCode, messageErrorCode, StoreError, TemporaryHandlerError } from '../errors.js';
import { createHandlerInvoker, type HandlerInvoker } from '../handler/invoke.js';
import { createHandlerContext } from '../handler/run.js';
import type { LoadedHandler } from '../handler/types.js';
import type { HandlerThreads } from '../handler/worker/threads.js';
import type { Logger } from '../logger.js';
import { mailboxIdentity } from '../mailbox/identity.js';
import type { Candidate, FetchedMessage, Mailbox, MailboxStatus } from '../mailbox/types.js';
import type { MessageEvent, Reporter } from '../report/types.js';
import { fingerprint } from '../store/fingerprint.js';
import type { Lease, MessageKey, MessageMeta, MessageRecord, Store } from '../store/types.js';
import { takeBaseline } from './baseline.js';
import { batchCandidates, type BatchLimits } from './batches.js';
import { deleteExpired } from './delete-after.js';
import { applyLease, cycleError } from './fence.js';
import { handleInOrder } from './handle-batch.js';
import { countInHand } from './in-hand.js';
import { countHandled, type CycleProgress } from './progress.js';
import { releaseGarbage } from './memory.js';
import { baseEvent, decisionFields, recordEvent } from './message-event.js';
import { recordFailure } from './record-failure.js';
import { readHeaders, type Received } from './read-headers.js';
import { sameSource, sha256 } from './source-hash.js';
import { nextAttemptAt } from './retry-delay.js';

export interface CycleOptions {
  /** Run handlers but change nothing: neither on the server nor in the ledger. */
  dryRun: boolean;
  /** At most this many messages (on top of the account's maxMessages). */
  limit?: number | undefined;
  /** Stop after the first successfully processed message (seeds 000/001). */
  first?: boolean | undefined;
  /** Aborted: finish the message in hand, then stop. */
  signal?: AbortSignal | undefined;
  /** Batch sizes; defaults suit most mailboxes. */
  batch?: BatchLimits | undefined;
  /** The mailbox is open already (watch mode with IDLE): work on it without opening again. */
  opened?: MailboxStatus | undefined;
  /** Leave the mailbox open afterwards for the next cycle (not after a failure, not for POP3). */
  keepOpen?: boolean | undefined;
  /** `mailpoll baseline`: record what is there as skipped (poll/baseline.ts), hand nothing over. */
  baseline?: boolean | undefined;
}

export interface CycleDeps {
  mailbox: Mailbox;
  /**
   * The handler and the parse level its module asked for. One with `module` (what
   * `loadAccountHandler` gives for `script:`) runs in worker threads; a function without it
   * (a command, a webhook, one a program passes in) runs in this thread.
   */
  handler: LoadedHandler;
  reporter: Reporter;
  store: Store;
  /** The account's lease (`withLease`): fences the ledger's decision writes, renewed before server actions. Absent: unfenced. */
  lease?: Lease | undefined;
  /** The run this cycle belongs to (`store.beginRun`). */
  runId: number;
  /** Keep raw copies in the archive (retentionDays > 0). */
  archive: boolean;
  /** Its `info` gets handler `context.log` lines (default: stderr). */
  logger?: Logger | undefined;
  now?: () => number;
  /** Told the cycle's total and each message back from its handler (poll/progress.ts). */
  progress?: CycleProgress | undefined;
  /** The run's handler worker threads, shared by its accounts and kept between cycles. Absent: the cycle starts and ends its own. */
  handlerThreads?: HandlerThreads | undefined;
}

export interface CycleResult {
  account: string;
  status: 'ok' | 'error' | 'busy';
  fetched: number;
  processed: number;
  failed: number;
  transitions: number;
  /** Failed messages left alone because their `retryDelay` has not passed yet. */
  deferred: number;
  /** The earliest time (ms since the epoch, store clock) one of the deferred messages is tried again. */
  nextAttemptAt: number | undefined;
  /** Why the account stopped early (connection, login, TLS, timeout), or who holds it (busy). */
  error: MailpollError | undefined;
  /** A message was processed and `first` was set: the caller stops too. */
  stoppedAfterFirst: boolean;
  /** Login and folder open succeeded (the reconnect backoff counts this as connected). */
  connected: boolean;
  /** The opened folder, when the mailbox was left open (`keepOpen`). */
  opened: MailboxStatus | undefined;
}

// Bodies of one batch are held together, and the next batch downloads meanwhile: 2 x 8 MB
// bounds memory; 100 keeps round trips few.
const DEFAULT_BATCH: BatchLimits = { maxCount: 100, maxBytes: 8 * 1024 * 1024 };

/** A message on its way through the cycle: carried out by `applyDecisions`, then reported. */
type InHand = Carried & { event: MessageEvent };

/** What one cycle shares between its steps. */
interface Cycle {
  account: AccountConfig;
  deps: CycleDeps;
  options: CycleOptions;
  /** Calls the handler: a module's in worker threads, started at the first message. */
  handlers: HandlerInvoker;
  now: () => number;
  result: CycleResult;
  /** The ledger's key of the opened folder, without the uid. */
  where: Omit<MessageKey, 'uid'>;
  /** Carries the Decisions out on the mailbox, and holds what waits for the server's commit. */
  applier: Applier;
}

export async function pollAccount(account: AccountConfig, deps: CycleDeps, options: CycleOptions): Promise<CycleResult> {
  const cycle: Cycle = {
    account,
    deps,
    options,
    handlers: countHandled(countInHand(createHandlerInvoker(account, deps.handler, createHandlerContext(account.name, options.dryRun, deps.logger), deps.handlerThreads)), deps.progress, account.name),
    now: deps.now ?? Date.now,
    result: {
      account: account.name,
      status: 'ok',
      fetched: 0,
      processed: 0,
      failed: 0,
      transitions: 0,
      deferred: 0,
      nextAttemptAt: undefined,
      error: undefined,
      stoppedAfterFirst: false,
      connected: false,
      opened: undefined,
    },
    where: { identity: mailboxIdentity(account), mailbox: '', uidValidity: null },
    applier: createApplier(deps.mailbox, deps.store, account, applyLease(deps.lease)),
  };
  const { mailbox } = deps;

  try {
    const status = options.opened ?? (await mailbox.open());
    cycle.result.connected = true;
    cycle.result.opened = status;
    cycle.where = { identity: cycle.where.identity, mailbox: status.folder, uidValidity: status.uidValidity?.toString() ?? null };
    await deps.store.adoptLegacyRows(cycle.where, { account: account.name, protocol: account.protocol });
    await recoverDecisions(cycle);
    await deleteExpired({ ...cycle.deps, account, applier: cycle.applier, where: cycle.where, dryRun: options.dryRun });
    injectTestFault();
    await takeBaseline({ account, mailbox, store: deps.store, runId: deps.runId, reporter: deps.reporter, where: cycle.where, folder: status.folder }, options.baseline === true);
    // --first wants one message: don't download a batch of them.
    const limits = options.first ? { maxCount: 1, maxBytes: Infinity } : (options.batch ?? DEFAULT_BATCH);
    if (options.baseline !== true) {
      const candidates = await selectCandidates(cycle);
      deps.progress?.start(account.name, candidates.length);
      await processBatches(cycle, batchCandidates(candidates, limits), limits);
    }
  } catch (error) {
    cycle.result.status = 'error';
    cycle.result.error = cycleError(account.name, error);
  }
  // Also after a failure: what the server confirms only now (IMAP EXPUNGE, POP3 QUIT) is
  // completed if the link still works (not once the mailbox was taken over). An earlier
  // failure of the cycle is the one reported.
  const left = cycle.result.error instanceof LeaseLostAccountError ? undefined : await commitAtEnd(cycle.applier);
  await cycle.handlers.close();
  if (left !== undefined && cycle.result.status === 'ok') {
    cycle.result.status = 'error';
    cycle.result.error = cycleError(account.name, left);
  }

  const keep = options.keepOpen === true && cycle.result.status === 'ok' && !mailbox.capabilities.commitEndsSession;
  if (keep) return cycle.result;
  cycle.result.opened = undefined;
  // Never throws by contract; should one still, the cycle's outcome stands.
  await mailbox.close().catch(() => undefined);
  return cycle.result;
}

function stopped(cycle: Cycle): boolean {
  return cycle.options.signal?.aborted === true || cycle.result.stoppedAfterFirst;
}

/**
 * Decisions recorded (`handled`) by a run that died before carrying them out: apply them
 * now, without the handler. A message no longer there has nothing left to do.
 */
async function recoverDecisions(cycle: Cycle): Promise<void> {
  const { store, mailbox } = cycle.deps;
  if (cycle.options.dryRun) return;
  const pending = (await store.pendingDecisions(cycle.where.identity, cycle.where.mailbox))
    .filter((record) => record.uidValidity === cycle.where.uidValidity && record.action !== null)
    .filter((record) => !deferred(cycle, record));
  if (pending.length === 0) return;

  const present = await mailbox.present(pending.map((record) => record.uid));
  const gone = pending.filter((record) => !present.has(record.uid));
  if (gone.length > 0) await store.markDone(gone.map((record) => record.ref), cycle.deps.lease);

  const inHand = pending
    .filter((record) => present.has(record.uid))
    .map((record): InHand => {
      const decision: Decision = { action: record.action!, folder: record.moveTo ?? undefined, transition: record.transition ?? false, extras: record.extras ?? undefined };
      return {
        event: { ...recordEvent(cycle.account, record, decision), recovered: true },
        ref: record.ref,
        disposition: dispositionOf(record.uid, decision),
        quarantine: false,
      };
    });
  await applyDecisions(cycle.applier, inHand);
  report(cycle, inHand);
}

/** One search, minus what the ledger has finished with, minus messages over maxMessageSize. */
async function selectCandidates(cycle: Cycle): Promise<Candidate[]> {
  const { account } = cycle;
  const { store, mailbox } = cycle.deps;
  const candidates = await mailbox.list({
    onlyUnseen: account.onlyUnseen,
    skipKeyword: account.skipKeyword,
    search: account.search,
    now: store.now(),
    limit: perCycleLimit(account, cycle.options),
    skip: async (uids) => {
      const records = await store.findByUids(cycle.where, uids);
      const leftOut = (record: MessageRecord | undefined) => finished(record, account) || (record !== undefined && deferred(cycle, record));
      return new Set(uids.filter((uid) => leftOut(records.get(uid))));
    },
  });

  const max = account.maxMessageSize;
  if (max === undefined) return candidates;
  const tooLarge = candidates.filter((candidate) => (candidate.size ?? 0) > max);
  if (tooLarge.length > 0) await quarantineTooLarge(cycle, tooLarge, max);
  return candidates.filter((candidate) => (candidate.size ?? 0) <= max);
}

/**
 * The ledger has finished with this message: it is not listed again. A uid made from headers
 * proves nothing on its own: such a message is downloaded and compared (skipKnown), unless it
 * was never downloaded at all (quarantined as too large: a look-alike is too large as well).
 */
function finished(record: MessageRecord | undefined, account: AccountConfig): boolean {
  if (record === undefined) return false;
  if (namedByHeaders(record.protocol, record.uid) && record.state !== 'handled' && (record.rawHash !== null || record.hasRaw)) return false;
  return settled(record, account);
}

/** Done (unless reprocess), quarantined or skipped by a baseline (until `mailpoll retry`), or handled (its Decision is applied, not the handler). */
function settled(record: MessageRecord, account: AccountConfig): boolean {
  if (record.state === 'done') return !account.reprocess;
  return record.state === 'quarantined' || record.state === 'handled' || record.state === 'skipped';
}

/** A failed message whose next attempt is not due yet: left alone, and counted as deferred. */
function deferred(cycle: Cycle, record: MessageRecord): boolean {
  const at = nextAttemptAt(record, cycle.account.retryDelay);
  if (at === undefined || at <= cycle.deps.store.now()) return false;
  const { result } = cycle;
  result.deferred += 1;
  result.nextAttemptAt = Math.min(result.nextAttemptAt ?? at, at);
  return true;
}

/** POP3 without UIDL names messages by a hash of their headers (pop3/listing.ts, `fp:`): a look-alike gets the same uid. */
function namedByHeaders(protocol: Protocol, uid: string): boolean {
  return protocol === 'pop3' && uid.startsWith('fp:');
}

/**
 * Downloaded messages the ledger knows under another name, recognised by their bytes: a
 * sender chooses Message-ID and Date, so the header fingerprint only finds a candidate
 * record, and the sha256 of the source must equal the one recorded. Only where the ledger
 * cannot know a message otherwise:
 * - POP3 without UIDL: the uid is a header fingerprint. A settled record under it is this
 *   message if the bytes match; else it is set aside and this message is new.
 * - IMAP, a record of this folder under an older UIDVALIDITY that the ledger still believes
 *   on the server: this message renumbered, if the bytes match; its row moves to the new key.
 *   Such rows exist only after a UIDVALIDITY change, until each is found again (a run cut
 *   short by maxMessages goes on next run) or purged.
 * Returns the messages to hand over, in a new array.
 */
async function skipKnown(cycle: Cycle, items: Received[]): Promise<Received[]> {
  const known = new Set<Received>();
  const byHeaders = items.filter((item) => namedByHeaders(cycle.account.protocol, item.message.uid));
  if (byHeaders.length > 0) await recogniseByHeaderUid(cycle, byHeaders, known);
  if (cycle.where.uidValidity !== null) await recogniseRenumbered(cycle, items, known);
  return items.filter((item) => !known.has(item));
}

async function recogniseByHeaderUid(cycle: Cycle, items: Received[], known: Set<Received>): Promise<void> {
  const { store } = cycle.deps;
  const records = await store.findByUids(cycle.where, items.map((item) => item.message.uid));
  for (const item of items) {
    const record = records.get(item.message.uid);
    if (record === undefined || record.state === 'handled' || !settled(record, cycle.account)) continue;
    if (sameSource(await rawHashOf(cycle, record), item.message, item.rawHash)) known.add(item);
    else if (!cycle.options.dryRun) await store.setAside(record.ref);
  }
}

async function recogniseRenumbered(cycle: Cycle, items: Received[], known: Set<Received>): Promise<void> {
  const { store } = cycle.deps;
  const prints = items.flatMap((item) => (item.print === null ? [] : [item.print]));
  const records = prints.length === 0 ? new Map<string, MessageRecord[]>() : await store.findRenumbered(cycle.where, prints);
  if (records.size === 0) return;
  // A uid the ledger has under the current key already (a failed attempt) is not a new name.
  const current = await store.findByUids(cycle.where, items.map((item) => item.message.uid));
  const taken = new Set<number>();
  for (const item of items) {
    if (item.print === null || current.has(item.message.uid)) continue;
    let record: MessageRecord | undefined;
    for (const candidate of records.get(item.print) ?? []) {
      if (taken.has(candidate.ref) || !settled(candidate, cycle.account)) continue;
      record = sameSource(await rawHashOf(cycle, candidate), item.message, item.rawHash) ? candidate : undefined;
      if (record !== undefined) break;
    }
    if (record === undefined) continue;
    taken.add(record.ref);
    if (!cycle.options.dryRun) await store.rekey(record.ref, { ...cycle.where, uid: item.message.uid });
    known.add(item);
  }
}

/** The recorded hash, else (a row of an older store) the hash of its archived copy; null: no proof. */
async function rawHashOf(cycle: Cycle, record: MessageRecord): Promise<string | null> {
  if (record.rawHash !== null) return record.rawHash;
  if (!record.hasRaw) return null;
  try {
    const raw = await cycle.deps.store.raw(record.ref);
    return raw === undefined ? null : sha256(raw);
  } catch {
    return null;
  }
}

/** Never downloaded, never deleted: recorded as quarantined so later runs skip it quietly. */
async function quarantineTooLarge(cycle: Cycle, candidates: Candidate[], max: number): Promise<void> {
  const { store, runId, lease } = cycle.deps;
  const events: InHand[] = [];
  const refs = cycle.options.dryRun
    ? new Map<string, number>()
    : await store.recordReceived(
        runId,
        candidates.map((candidate) => ({
          key: { ...cycle.where, uid: candidate.uid },
          account: cycle.account.name,
          protocol: cycle.account.protocol,
          fingerprint: fingerprint({ messageId: candidate.messageId, sentDate: candidate.sentDate, size: candidate.size }),
          rawHash: null,
          meta: { messageId: candidate.messageId ?? null, sender: null, subject: null, date: null, size: candidate.size ?? null },
          raw: undefined,
        })),
        { archive: false },
      );
  for (const candidate of candidates) {
    const error = `larger than maxMessageSize (${formatBytes(candidate.size ?? 0)} > ${formatBytes(max)}): left on the server, not downloaded`;
    const ref = refs.get(candidate.uid) ?? null;
    if (ref !== null) await store.recordFailed(ref, error, 1, undefined, lease);
    const event = baseEvent(cycle.account, candidate.uid, ref, { messageId: candidate.messageId ?? null, sender: null, subject: null, date: null, size: candidate.size ?? 0 });
    events.push({ event: { ...event, status: 'quarantined', error, code: MessageCode.tooLarge }, ref, disposition: undefined, quarantine: false });
  }
  report(cycle, events);
}

/** A batch's bodies on their way down: `settled` never rejects, `bodies` may. */
interface Download {
  bodies: Promise<Array<FetchedMessage | undefined>>;
  settled: Promise<void>;
}

function download(cycle: Cycle, batch: Candidate[]): Download {
  // A handler that reads headers only, with no raw copy kept: the bodies stay on the server.
  const headersOnly = cycle.deps.handler.parse === 'headers' && !cycle.deps.archive;
  const bodies = fetchAll(cycle.deps.mailbox, batch, headersOnly);
  return { bodies, settled: bodies.then(noop, noop) };
}

function noop(): void {}

/**
 * The batches in order, each one's handlers overlapping the next one's download. The next
 * batch is fetched ahead only when both fit in twice the batch byte limit (a huge message
 * is never held twice), and never for `--first`.
 */
async function processBatches(cycle: Cycle, batches: Iterable<Candidate[]>, limits: BatchLimits): Promise<void> {
  const queue = batches[Symbol.iterator]();
  let current = queue.next();
  let pending = current.done || stopped(cycle) ? undefined : download(cycle, current.value);
  try {
    while (!current.done && pending !== undefined && !stopped(cycle)) {
      const fetched = await pending.bodies;
      const next = queue.next();
      const fetchAhead = !next.done && !cycle.options.first && bytesOf(current.value) + bytesOf(next.value) <= 2 * limits.maxBytes;
      pending = fetchAhead ? download(cycle, next.value) : undefined;
      await processBatch(cycle, fetched, pending);
      releaseGarbage();
      // The connection is free: processBatch waited for the download ahead before its actions.
      await commitIfDue(cycle.applier);
      current = next;
      if (pending === undefined && !current.done && !stopped(cycle)) pending = download(cycle, current.value);
    }
  } finally {
    // Stopped or failed with a download under way: let it end before the mailbox is closed.
    await pending?.settled;
  }
}

function bytesOf(batch: readonly Candidate[]): number {
  return batch.reduce((sum, candidate) => sum + (candidate.size ?? 0), 0);
}

/**
 * One batch: header fields of every message -> raw copies and `received` rows in one commit ->
 * per message: (full parse), handler, `handled` -> the next batch's download ends -> server
 * actions -> `done`.
 */
async function processBatch(cycle: Cycle, fetched: Array<FetchedMessage | undefined>, ahead: Download | undefined): Promise<void> {
  const { mailbox, store } = cycle.deps;
  const { account, options } = cycle;
  cycle.result.fetched += fetched.length;

  const read: Received[] = [];
  for (const message of fetched) if (message !== undefined) read.push(await readHeaders(account, cycle.deps.handler, message));
  fetched.length = 0;
  // Recognised as already handled under another name: not handed over, not counted as fetched.
  const items: Array<Received | undefined> = await skipKnown(cycle, read);
  cycle.result.fetched -= read.length - items.length;
  read.length = 0;
  const refs = await recordReceived(cycle, items as Received[]);

  const inHand: Array<InHand | undefined> = [];
  await handleInOrder(items, account.handlerConcurrency, async (item, index) => {
    if (item === undefined) return;
    // Dropped after its handler: a fully parsed message is several times its source.
    items[index] = undefined;
    const ref = refs.get(item.message.uid) ?? null;
    const started = cycle.now();
    try {
      if (item.unreadable !== undefined) throw item.unreadable.error;
      const outcome = await cycle.handlers.invoke(item.message, item.headers, ref ?? undefined);
      const decision = planDecision(outcome, mailbox.capabilities, account, (folder) => mailbox.isPolledFolder?.(folder) ?? false);
      // Committed as soon as this handler answered: a crash repeats at most handlerConcurrency handlers.
      if (ref !== null) await store.recordHandled(ref, decision, cycle.deps.lease);
      const event = { ...baseEvent(cycle.account, item.message.uid, ref, item.meta), ...decisionFields(decision) };
      event.status = options.dryRun ? 'dry-run' : 'ok';
      event.durationMs = cycle.now() - started;
      const disposition = options.dryRun ? undefined : dispositionOf(item.message.uid, decision);
      inHand[index] = { event, ref, disposition, quarantine: false };
      if (options.first) cycle.result.stoppedAfterFirst = true;
    } catch (error) {
      // Not the message's fault: the store failing ends the cycle (exit 2), as does a module that no longer loads.
      if (error instanceof StoreError || error instanceof HandlerLoadError) throw error;
      inHand[index] = await failure(cycle, item.message.uid, ref, item.meta, error, cycle.now() - started);
    }
  }, () => stopped(cycle), (next) => next !== undefined && next.unreadable === undefined && cycle.handlers.prepare?.(next.message));
  const handled = inHand.filter((entry): entry is InHand => entry !== undefined);

  // One command at a time on the connection: the download ahead ends before any action.
  await ahead?.settled;
  if (!options.dryRun) await applyDecisions(cycle.applier, handled);
  report(cycle, handled);
}

/** Raw copies archived and `received` in one transaction, before any handler sees them. */
async function recordReceived(cycle: Cycle, items: readonly Received[]): Promise<Map<string, number>> {
  if (cycle.options.dryRun || items.length === 0) return new Map();
  const { store, runId, archive } = cycle.deps;
  return store.recordReceived(
    runId,
    items.map((item) => ({
      key: { ...cycle.where, uid: item.message.uid },
      account: cycle.account.name,
      protocol: cycle.account.protocol,
      fingerprint: item.print,
      rawHash: item.rawHash,
      meta: item.meta,
      raw: item.message.raw,
    })),
    { archive },
  );
}

/** A failed message: recorded with its attempt; at maxAttempts quarantined (and moved aside if configured). */
async function failure(cycle: Cycle, uid: string, ref: number | null, meta: MessageMeta, thrown: unknown, durationMs: number): Promise<InHand> {
  const error = describeError(thrown);
  const event = { ...baseEvent(cycle.account, uid, ref, meta), status: 'failed' as const, error, code: messageErrorCode(thrown), durationMs };
  const { account } = cycle;
  // A temporary failure is kept, uncounted, and leaves the row `received`: the next run hands the message over again.
  const state = await recordFailure(cycle.deps, { ref, uid, account }, thrown, error);
  if (state !== 'quarantined') return { event, ref, disposition: undefined, quarantine: false };
  const quarantined = { ...event, status: 'quarantined' as const, error: `${error} (attempt ${account.maxAttempts} of ${account.maxAttempts}: quarantined; mailpoll retry ${ref} releases it)` };
  const folder = account.quarantineFolder;
  if (folder === undefined || !cycle.deps.mailbox.capabilities.move) return { event: quarantined, ref, disposition: undefined, quarantine: true };
  return { event: { ...quarantined, action: 'move', moveTo: folder }, ref, disposition: { uid, action: 'move', folder }, quarantine: true };
}

function report(cycle: Cycle, inHand: InHand[]): void {
  for (const { event } of inHand) {
    if (event.status === 'failed' || event.status === 'quarantined') cycle.result.failed += 1;
    else {
      cycle.result.processed += 1;
      if (event.transition) cycle.result.transitions += 1;
    }
    cycle.deps.reporter.report(event);
  }
}

function perCycleLimit(account: AccountConfig, options: CycleOptions): number | undefined {
  const limits = [account.maxMessages, options.limit].filter((n): n is number => n !== undefined);
  return limits.length === 0 ? undefined : Math.min(...limits);
}

/** Collect a batch before handling it: no other command may run while a fetch streams. */
async function fetchAll(mailbox: Mailbox, batch: Candidate[], headersOnly: boolean): Promise<Array<FetchedMessage | undefined>> {
  const messages: Array<FetchedMessage | undefined> = [];
  for await (const message of mailbox.fetch(batch, { headersOnly })) messages.push(message);
  return messages;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}

/** Test hook (CONTRIBUTING.md): MAILPOLL_TEST_FAULT=cycle makes a cycle fail the way a bug would. */
function injectTestFault(): void {
  if (process.env.MAILPOLL_TEST_FAULT === 'cycle') throw new TypeError('MAILPOLL_TEST_FAULT=cycle: a TypeError thrown inside the cycle');
}
