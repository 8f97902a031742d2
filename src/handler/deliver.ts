/**
 * The `deliver:` handler: built-in delivery of the message, unchanged, to a Maildir, an mbox
 * file, or an SMTP/LMTP server, as a LoadedHandler like a webhook's (README, "Built-in
 * delivery"). It returns nothing, so the account's `after` applies once the message is
 * delivered; a failure is the message's failure like a handler's.
 */
import type { DeliverTarget, ServerDeliverTarget } from '../config/types.js';
import type { HandlerResult, LoadedHandler, MailMessage } from './types.js';
import { deliverToMaildir } from './deliver/maildir.js';
import { deliverToMbox } from './deliver/mbox.js';
import { deliverOverSmtp } from './deliver/smtp.js';

/** Kept short of `handlerTimeout`, so that the delivery's own error wins the race. */
const DEADLINE_MARGIN_MS = 100;
const DEFAULT_WAIT_MS = 60_000;

export function createDeliverHandler(target: DeliverTarget, handlerTimeoutMs: number): LoadedHandler {
  const waitMs = handlerTimeoutMs > 0 && Number.isFinite(handlerTimeoutMs) ? Math.max(1, handlerTimeoutMs - DEADLINE_MARGIN_MS) : DEFAULT_WAIT_MS;
  return {
    parse: 'headers',
    fn: async (message, context): Promise<HandlerResult> => {
      if (context.dryRun) {
        context.log('dry run: would deliver to %s', target.display);
        return undefined;
      }
      const sender = envelopeSender(message);
      if (isServer(target)) await deliverOverSmtp(target, message.raw, sender, waitMs, context.account);
      else if (target.kind === 'maildir') await deliverToMaildir(target.path, message.raw);
      else await deliverToMbox(target.path, message.raw, sender, new Date(), { lockTimeoutMs: waitMs });
      return undefined;
    },
  };
}

function isServer(target: DeliverTarget): target is ServerDeliverTarget {
  return target.kind === 'smtp' || target.kind === 'lmtp';
}

/** The envelope sender: `Return-Path`, else the first `From` address, else empty (the null sender `<>`). */
export function envelopeSender(message: MailMessage): string {
  const address = returnPathOf(message.headers.get('return-path')) || message.from?.value[0]?.address || '';
  // Nothing that would break the From line or the MAIL FROM command.
  return /^[^\s<>]+$/.test(address) ? address : '';
}

function returnPathOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.replace(/[<>\s]/g, '');
  if (typeof value !== 'object' || value === null || !('value' in value) || !Array.isArray(value.value)) return undefined;
  const first: unknown = value.value[0];
  return typeof first === 'object' && first !== null && 'address' in first && typeof first.address === 'string' ? first.address : undefined;
}
