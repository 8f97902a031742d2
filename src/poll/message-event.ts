/** The report's event of one message, built from what the cycle knows of it and its Decision. */
import type { AccountConfig } from '../config/types.js';
import type { Decision } from '../decision/types.js';
import type { MessageEvent } from '../report/types.js';
import type { MessageMeta, MessageRecord } from '../store/types.js';

/** An event with the message's fields and nothing decided yet (`keep`, ok). */
export function baseEvent(account: AccountConfig, uid: string, ref: number | null, meta: MessageMeta): MessageEvent {
  return {
    type: 'message',
    ref,
    account: account.name,
    protocol: account.protocol,
    folder: account.folder,
    uid,
    messageId: meta.messageId,
    from: meta.sender,
    subject: meta.subject,
    date: meta.date,
    size: meta.size ?? 0,
    action: 'keep',
    moveTo: null,
    flags: [],
    unflags: [],
    copyTo: null,
    transition: false,
    status: 'ok',
    error: null,
    code: null,
    recovered: false,
    expired: false,
    durationMs: 0,
  };
}

export function decisionFields(decision: Decision): Pick<MessageEvent, 'action' | 'moveTo' | 'flags' | 'unflags' | 'copyTo' | 'transition'> {
  const extras = decision.extras;
  return {
    action: decision.action,
    moveTo: decision.folder ?? null,
    flags: [...(extras?.flags ?? [])],
    unflags: [...(extras?.unflags ?? [])],
    copyTo: extras?.copyTo ?? null,
    transition: decision.transition,
  };
}

/** The event of a Decision read back from the ledger (carried out after a crash). */
export function recordEvent(account: AccountConfig, record: MessageRecord, decision: Decision): MessageEvent {
  return { ...baseEvent(account, record.uid, record.ref, record), ...decisionFields(decision) };
}
