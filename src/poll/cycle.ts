/**
 * One account's poll cycle. The story of one message:
 *
 *   list -> fetch (BODY.PEEK: reading changes nothing) -> parse -> handler -> Decision
 *   -> server action -> report.
 *
 * Nothing on the server changes before the handler has succeeded: a message whose
 * parse, handler or decision fails gets no disposition at all and is retried next run.
 *
 * Work goes in batches: bodies of one batch are fetched in one streamed command and
 * collected (imapflow runs no other command while a fetch is iterated), then handled,
 * then their dispositions are applied grouped by action. No round trip per message.
 */
import type { AccountConfig } from '../config/types.js';
import { planDecision } from '../decision/plan.js';
import type { Decision } from '../decision/types.js';
import { describeError, MailpollError } from '../errors.js';
import { createHandlerContext, runHandler } from '../handler/run.js';
import type { Handler, HandlerContext, MailMessage } from '../handler/types.js';
import type { Candidate, Disposition, FetchedMessage, Mailbox, MailboxCapabilities } from '../mailbox/types.js';
import { parseMessage } from '../message/parse.js';
import type { MessageEvent, Reporter } from '../report/types.js';
import { batchCandidates, type BatchLimits } from './batches.js';

export interface CycleOptions {
  /** Run handlers but change nothing on the server. */
  dryRun: boolean;
  /** At most this many messages (on top of the account's maxMessages). */
  limit?: number | undefined;
  /** Stop after the first successfully processed message (seeds 000/001). */
  first?: boolean | undefined;
  /** Aborted: finish the message in hand, then stop. */
  signal?: AbortSignal | undefined;
  /** Batch sizes; defaults suit most mailboxes. */
  batch?: BatchLimits | undefined;
}

export interface CycleDeps {
  mailbox: Mailbox;
  handler: Handler;
  reporter: Reporter;
  /** Where handler `context.log` lines go (stderr). */
  writeLog?: ((line: string) => void) | undefined;
  now?: () => number;
}

export interface CycleResult {
  account: string;
  status: 'ok' | 'error';
  fetched: number;
  processed: number;
  failed: number;
  transitions: number;
  /** Why the account stopped early (connection, login, TLS, timeout). */
  error: MailpollError | undefined;
  /** A message was processed and `first` was set: the caller stops too. */
  stoppedAfterFirst: boolean;
}

const DEFAULT_BATCH: BatchLimits = { maxCount: 100, maxBytes: 32 * 1024 * 1024 };

/** A handled message waiting for its server action. */
interface Handled {
  event: MessageEvent;
  disposition: Disposition | undefined;
}

export async function pollAccount(account: AccountConfig, deps: CycleDeps, options: CycleOptions): Promise<CycleResult> {
  const { mailbox, reporter } = deps;
  const now = deps.now ?? Date.now;
  const result: CycleResult = {
    account: account.name,
    status: 'ok',
    fetched: 0,
    processed: 0,
    failed: 0,
    transitions: 0,
    error: undefined,
    stoppedAfterFirst: false,
  };
  const context = createHandlerContext(account.name, options.dryRun, deps.writeLog);
  const stop = (): boolean => options.signal?.aborted === true || result.stoppedAfterFirst;

  try {
    await mailbox.open();
    const candidates = await mailbox.list({ onlyUnseen: account.onlyUnseen, limit: perCycleLimit(account, options) });
    // --first wants one message: don't download a batch of them.
    const limits = options.first ? { maxCount: 1, maxBytes: Infinity } : (options.batch ?? DEFAULT_BATCH);

    for (const batch of batchCandidates(candidates, limits)) {
      if (stop()) break;
      const fetched = await fetchAll(mailbox, batch);
      result.fetched += fetched.length;

      const handled: Handled[] = [];
      for (const message of fetched) {
        if (stop()) break;
        const outcome = await handleMessage(account, mailbox.capabilities, deps.handler, message, context, options, now);
        handled.push(outcome);
        if (outcome.disposition !== undefined || outcome.event.status === 'dry-run') {
          if (options.first) result.stoppedAfterFirst = true;
        }
      }

      if (!options.dryRun) await applyDispositions(mailbox, handled);
      for (const { event } of handled) {
        if (event.status === 'failed') result.failed += 1;
        else {
          result.processed += 1;
          if (event.transition) result.transitions += 1;
        }
        reporter.report(event);
      }
    }
  } catch (error) {
    result.status = 'error';
    result.error = asAccountError(account, error);
  } finally {
    await mailbox.close().catch(() => undefined);
  }
  return result;
}

function perCycleLimit(account: AccountConfig, options: CycleOptions): number | undefined {
  const limits = [account.maxMessages, options.limit].filter((n): n is number => n !== undefined);
  return limits.length === 0 ? undefined : Math.min(...limits);
}

/** Collect a batch before handling it: no other command may run while a fetch streams. */
async function fetchAll(mailbox: Mailbox, batch: Candidate[]): Promise<FetchedMessage[]> {
  const messages: FetchedMessage[] = [];
  for await (const message of mailbox.fetch(batch)) messages.push(message);
  return messages;
}

/** parse -> handler -> Decision. Any failure leaves the message without a disposition. */
async function handleMessage(
  account: AccountConfig,
  capabilities: MailboxCapabilities,
  handler: Handler,
  fetched: FetchedMessage,
  context: HandlerContext,
  options: CycleOptions,
  now: () => number,
): Promise<Handled> {
  const started = now();
  let message: MailMessage | undefined;
  try {
    message = await parseMessage(fetched, { account: account.name, folder: account.folder });
    const outcome = await runHandler(handler, message, context, account, { timeoutMs: account.handlerTimeout });
    const decision = planDecision(outcome, capabilities, account);
    const event = messageEvent(account, fetched, message, decision, options.dryRun ? 'dry-run' : 'ok', null, now() - started);
    const disposition = options.dryRun ? undefined : { uid: fetched.uid, action: decision.action, folder: decision.folder };
    return { event, disposition };
  } catch (error) {
    const event = messageEvent(account, fetched, message, undefined, 'failed', describeError(error), now() - started);
    return { event, disposition: undefined };
  }
}

/** Apply the batch's dispositions in one grouped call; a failed action fails its message. */
async function applyDispositions(mailbox: Mailbox, handled: Handled[]): Promise<void> {
  const pending = handled.filter((h): h is Handled & { disposition: Disposition } => h.disposition !== undefined);
  if (pending.length === 0) return;
  const results = await mailbox.apply(pending.map((h) => h.disposition));
  const byUid = new Map(results.map((r) => [r.uid, r]));
  for (const item of pending) {
    const outcome = byUid.get(item.disposition.uid);
    if (outcome === undefined || !outcome.ok) {
      item.event.status = 'failed';
      item.event.error = `${item.disposition.action} failed: ${describeError(outcome?.error ?? 'no result from the server')}`;
    }
  }
}

function messageEvent(
  account: AccountConfig,
  fetched: FetchedMessage,
  message: MailMessage | undefined,
  decision: Decision | undefined,
  status: MessageEvent['status'],
  error: string | null,
  durationMs: number,
): MessageEvent {
  return {
    type: 'message',
    account: account.name,
    protocol: account.protocol,
    folder: account.folder,
    uid: fetched.uid,
    messageId: message?.messageId ?? null,
    from: formatSender(message),
    subject: message?.subject ?? null,
    date: isoDate(message?.date),
    size: fetched.size,
    action: decision?.action ?? 'keep',
    moveTo: decision?.folder ?? null,
    transition: decision?.transition ?? false,
    status,
    error,
    durationMs,
  };
}

/** `Name <address>` for each sender, without mailparser's quoting of the name. */
function formatSender(message: MailMessage | undefined): string | null {
  const senders = message?.from?.value ?? [];
  if (senders.length === 0) return message?.from?.text || null;
  return senders.map((s) => (s.name ? `${s.name} <${s.address ?? ''}>` : (s.address ?? ''))).join(', ');
}

/** mailparser gives an Invalid Date for an unparseable Date header. */
function isoDate(date: Date | undefined): string | null {
  return date === undefined || Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function asAccountError(account: AccountConfig, error: unknown): MailpollError {
  if (error instanceof MailpollError) return error;
  return new MailpollError(`${account.name}: ${describeError(error)}`, { account: account.name, cause: error });
}
