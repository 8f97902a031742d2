/**
 * Carrying Decisions out on a mailbox: the doing half beside the pure `plan.ts`.
 *
 * One durability barrier before anything changes on the server, one grouped `apply`, then the
 * ledger: what the server did at once is `done` now; what it confirms only later (an IMAP
 * delete until its expunge, a POP3 DELE until QUIT) waits in `pending` and is `done` only
 * once `commit` names it. A refused action counts as a failed attempt; at maxAttempts the
 * message is quarantined, and moved aside where a quarantineFolder is set. The cycle does not
 * call any of this under --dry-run.
 *
 * Right before each batch of server actions the account's lease is confirmed (renewed), and
 * the ledger writes that follow carry it as their fence: a process that lost the mailbox to
 * another (paused past its lease) changes nothing on the server and records nothing.
 */
import type { AccountConfig } from '../config/types.js';
import { ConnectionError, describeError, MailpollError, MessageCode, messageErrorCode, TimeoutError } from '../errors.js';
import { hasExtras } from '../domain.js';
import type { Disposition, Mailbox } from '../mailbox/types.js';
import type { Decision } from './types.js';

/** The ledger's part in carrying out (the Store has these; named here so that decision/ does not import store/). */
export interface ApplyLedger {
  /** The durability barrier: every `handled` row on disk before the server changes anything. */
  sync(): Promise<void>;
  markDone(refs: readonly number[], fence?: ApplyLease): Promise<void>;
  /** deleteAfter's deletes, confirmed: the kept message is off the server. */
  markExpired(refs: readonly number[], fence?: ApplyLease): Promise<void>;
  recordActionFailed(ref: number, error: string, maxAttempts: number, fence?: ApplyLease): Promise<'handled' | 'quarantined'>;
}

/** The account's lease as carrying out uses it (poll/fence.ts makes it from the store's Lease). */
export interface ApplyLease {
  /** The mailbox and the lease's token: the fence of the ledger writes. */
  readonly identity: string;
  readonly token: string;
  /** Renew the lease right before server actions; throws (LeaseLostError) when another process holds it now. */
  confirm(): Promise<void>;
}

/** A message whose Decision is committed in the ledger, with the report it gets (carrying out may change it). */
export interface Carried {
  ref: number | null;
  /** Undefined: nothing to do on the server (a failed handler, a dry run). */
  disposition: Disposition | undefined;
  /** The disposition moves a quarantined message aside: it stays `quarantined`, not `done`. */
  quarantine: boolean;
  event: { status: 'ok' | 'failed' | 'dry-run' | 'quarantined'; error: string | null; code: string | null };
}

/** Carrying out for one cycle: its mailbox, its ledger, and what waits for the server's confirmation. */
export interface Applier {
  readonly mailbox: Mailbox;
  readonly ledger: ApplyLedger;
  readonly account: Pick<AccountConfig, 'name' | 'maxAttempts' | 'quarantineFolder'>;
  /** uid -> ref of the dispositions the server confirms only at the next `commit`. */
  readonly pending: Map<string, number>;
  /** Refs among `pending` that are deleteAfter's deletes of kept messages: `markExpired`, not `markDone`, once confirmed. */
  readonly expiring: Set<number>;
  /** Undefined: no lease to confirm (a caller that holds none), the writes unfenced. */
  readonly lease: ApplyLease | undefined;
}

// Deletes wait for one commit together: each EXPUNGE costs the server a rewrite of its
// indexes, so fewer is faster; this many bounds how long they stay flagged.
const COMMIT_EVERY = 1000;

/** What the adapter is asked to do for a Decision. */
export function dispositionOf(uid: string, decision: Decision): Disposition {
  return { uid, action: decision.action, folder: decision.folder, ...(hasExtras(decision.extras) ? { extras: decision.extras } : {}) };
}

export function createApplier(mailbox: Mailbox, ledger: ApplyLedger, account: Applier['account'], lease?: ApplyLease): Applier {
  return { mailbox, ledger, account, pending: new Map(), expiring: new Set(), lease };
}

/** Before a batch of server actions: the lease still ours (throws otherwise), then every `handled` row on disk. */
export async function prepareActions(applier: Applier): Promise<void> {
  await applier.lease?.confirm();
  await applier.ledger.sync();
}

/**
 * Apply the dispositions of messages whose Decisions are committed: one durability barrier,
 * one grouped call, then `done` in one transaction for what the server did at once. A
 * refused action (not a lost link) counts as a failed attempt: the message stays `handled`
 * and its Decision is applied again, without the handler, once `retryDelay` has passed; at
 * `maxAttempts` it is quarantined instead.
 */
export async function applyDecisions(applier: Applier, items: readonly Carried[]): Promise<void> {
  const { ledger, mailbox, account, lease } = applier;
  const todo = items.filter((item): item is Carried & { disposition: Disposition } => item.disposition !== undefined);
  if (todo.length === 0) return;
  await prepareActions(applier);
  const results = await mailbox.apply(todo.map((item) => item.disposition));
  const byUid = new Map(results.map((result) => [result.uid, result]));
  const done: number[] = [];
  const quarantined: Array<Carried & { disposition: Disposition }> = [];
  for (const item of todo) {
    const outcome = byUid.get(item.disposition.uid);
    if (outcome !== undefined && outcome.status !== 'failed') {
      if (item.quarantine || item.ref === null) continue;
      if (outcome.status === 'done') done.push(item.ref);
      else applier.pending.set(item.disposition.uid, item.ref);
      continue;
    }
    const error = `${item.disposition.action} failed: ${describeError(outcome?.error ?? 'no answer from the server')}`;
    if (item.quarantine) {
      item.event.error = `${item.event.error ?? ''}; moving it to ${item.disposition.folder ?? '?'} failed: ${describeError(outcome?.error)}`;
      continue;
    }
    // A lost link refused nothing: the decision is simply applied on the next run, uncounted.
    if (outcome === undefined || isLinkFailure(outcome.error)) {
      item.event.status = 'failed';
      item.event.code = outcome === undefined ? 'E_CONNECTION' : messageErrorCode(outcome.error);
      item.event.error = `${error}; the handler's decision is kept and applied again on the next run`;
      continue;
    }
    item.event.code = MessageCode.actionRefused;
    const state = item.ref === null ? 'handled' : await ledger.recordActionFailed(item.ref, error, account.maxAttempts, lease);
    if (state === 'quarantined') {
      item.event.status = 'quarantined';
      item.event.error = `${error} (failed ${account.maxAttempts} times: quarantined, its decision is no longer applied; mailpoll retry ${item.ref} releases it)`;
      quarantined.push(item);
      continue;
    }
    item.event.status = 'failed';
    item.event.error = `${error}; the handler's decision is kept and applied again by a run after retryDelay`;
  }
  if (done.length > 0) await ledger.markDone(done, lease);
  await moveAside(applier, quarantined);
}

function isLinkFailure(error: unknown): boolean {
  return error instanceof ConnectionError || error instanceof TimeoutError;
}

/**
 * Messages quarantined because the server kept refusing their action go to quarantineFolder,
 * like those whose handler kept failing. Unless that folder is what the server refused.
 */
async function moveAside(applier: Applier, items: ReadonlyArray<Carried & { disposition: Disposition }>): Promise<void> {
  const folder = applier.account.quarantineFolder;
  const { mailbox } = applier;
  if (folder === undefined || !mailbox.capabilities.move) return;
  const movable = items.filter((item) => !(item.disposition.action === 'move' && item.disposition.folder === folder));
  if (movable.length === 0) return;
  const results = await mailbox.apply(movable.map((item) => ({ uid: item.disposition.uid, action: 'move' as const, folder })));
  const byUid = new Map(results.map((result) => [result.uid, result]));
  for (const item of movable) {
    const outcome = byUid.get(item.disposition.uid);
    if (outcome !== undefined && outcome.status !== 'failed') item.event.error = `${item.event.error ?? ''}; moved to ${folder}`;
    else item.event.error = `${item.event.error ?? ''}; moving it to ${folder} failed: ${describeError(outcome?.error ?? 'no answer from the server')}`;
  }
}

/**
 * Commit now if enough is pending, where a commit leaves the session open (IMAP: the expunge
 * every 1,000 deletes). Call it only while no fetch is streaming. Throws as `commitPending`.
 */
export async function commitIfDue(applier: Applier): Promise<void> {
  if (applier.pending.size >= COMMIT_EVERY && !applier.mailbox.capabilities.commitEndsSession) await commitPending(applier);
}

/**
 * `commit` the mailbox; what it confirmed is `done`. Throws when the server did not confirm:
 * those messages stay `handled`, and the next run applies their Decisions again.
 */
export async function commitPending(applier: Applier): Promise<void> {
  const { pending, ledger, lease } = applier;
  if (pending.size === 0) return;
  await lease?.confirm();
  const confirmed = await applier.mailbox.commit();
  const refs: number[] = [];
  const expired: number[] = [];
  for (const uid of confirmed) {
    const ref = pending.get(uid);
    if (ref !== undefined) (applier.expiring.delete(ref) ? expired : refs).push(ref);
  }
  if (refs.length > 0) await ledger.markDone(refs, lease);
  if (expired.length > 0) await ledger.markExpired(expired, lease);
  for (const uid of confirmed) pending.delete(uid);
}

/**
 * The last commit of a cycle, also after a failure (deletes flagged before it are completed if
 * the link still works). Returns why it failed, saying that those deletes are carried out by
 * the next run; undefined when everything pending is confirmed.
 */
export async function commitAtEnd(applier: Applier): Promise<MailpollError | undefined> {
  const count = applier.pending.size;
  try {
    await commitPending(applier);
    return undefined;
  } catch (error) {
    return new MailpollError(`${describeError(error)} mailpoll carries out the ${count} delete(s) on the next run, without calling the handler again.`, {
      account: applier.account.name,
      cause: error,
    });
  }
}
