/**
 * What `mailpoll try` prints: the fields of the message the handler saw, its decision and
 * what that would do on the server, or why it failed (with the handler's stack). Text for
 * a person (every line escaped by `out`), or one JSON document with `--json`.
 */
import { describeExtras } from '../domain.js';
import type { AddressObject } from 'mailparser';
import type { Decision } from '../decision/types.js';
import type { MailMessage } from '../handler/types.js';

export interface TriedAttachment {
  filename: string | null;
  contentType: string;
  size: number;
}

/** The message as the handler saw it, in the words of the report. */
export interface TriedMessage {
  /** The file, `-` (stdin) or `ref 42`. */
  source: string;
  ref: number | null;
  size: number;
  from: string | null;
  to: string | null;
  subject: string | null;
  date: string | null;
  messageId: string | null;
  /** Null when they could not be read (`parseError`). */
  attachments: TriedAttachment[] | null;
  parseError: string | null;
}

export interface TryResult {
  message: TriedMessage;
  /** `module /abs/handler.mjs`, `command ./handle.sh`, `webhook https://...`. */
  handler: string;
  status: 'ok' | 'failed';
  decision: Decision | undefined;
  error: string | null;
  code: string | null;
  /** `file:line:column` of the handler's first own frame, when the failure has a stack. */
  location: string | null;
  /** The stack of what the handler threw, without mailpoll's frames. */
  stack: string | null;
  durationMs: number;
}

export function describeMessage(message: MailMessage, source: string, attachments: TriedAttachment[] | null): TriedMessage {
  const date = message.date !== undefined && !Number.isNaN(message.date.getTime()) ? message.date.toISOString() : null;
  return {
    source,
    ref: message.ref ?? null,
    size: message.size,
    from: message.from?.text ?? null,
    to: addressText(message.to),
    subject: message.subject ?? null,
    date,
    messageId: message.messageId ?? null,
    attachments,
    parseError: message.parseError ?? null,
  };
}

/** What the Decision would do on the server: `move to Archive`, `delete it`, `mark it seen`, `keep it`. */
export function describeDecision(decision: Decision): string {
  const extras = describeExtras(decision.extras);
  return extras.length === 0 ? describeAction(decision) : `${extras.join(', ')}, then ${describeAction(decision)}`;
}

function describeAction(decision: Decision): string {
  switch (decision.action) {
    case 'move':
      return `move to ${decision.folder ?? ''}`;
    case 'delete':
      return 'delete it';
    case 'markSeen':
      return 'mark it seen';
    case 'keep':
      return 'keep it';
  }
}

export function formatTryJson(result: TryResult): string {
  const { decision } = result;
  return JSON.stringify({
    type: 'try',
    message: result.message,
    handler: result.handler,
    status: result.status,
    action: decision?.action ?? null,
    moveTo: decision?.folder ?? null,
    flags: decision?.extras?.flags ?? [],
    unflags: decision?.extras?.unflags ?? [],
    copyTo: decision?.extras?.copyTo ?? null,
    transition: decision?.transition ?? null,
    would: decision === undefined ? null : describeDecision(decision),
    error: result.error,
    code: result.code,
    location: result.location,
    stack: result.stack,
    durationMs: result.durationMs,
  });
}

/** One line each; `out` escapes what came from mail. */
export function formatTryText(result: TryResult): string[] {
  const { message } = result;
  const row = (name: string, value: string | number | null) => `${`${name}:`.padEnd(13)}${value === null ? '-' : String(value)}`;
  const lines = [
    row('message', `${message.source} (${message.size} bytes)`),
    row('from', message.from),
    row('to', message.to),
    row('subject', message.subject),
    row('date', message.date),
    row('message-id', message.messageId),
  ];
  if (message.parseError !== null) lines.push(row('parse error', `${message.parseError} (the handler gets raw and the header fields only)`));
  if (message.attachments !== null) {
    lines.push(row('attachments', message.attachments.length === 0 ? 'none' : message.attachments.length));
    for (const attachment of message.attachments) {
      lines.push(`  ${attachment.filename ?? '(no name)'}  ${attachment.contentType}  ${attachment.size} bytes`);
    }
  }
  lines.push(row('handler', result.handler));
  if (result.status === 'ok' && result.decision !== undefined) {
    const { decision } = result;
    lines.push(row('decision', `${decision.action}${decision.folder === undefined ? '' : `:${decision.folder}`}${decision.transition ? ' +transition' : ''}`));
    lines.push(`would ${describeDecision(decision)} (a try changes nothing)`);
    return lines;
  }
  lines.push(row('failed', `${result.error ?? ''}${result.code === null ? '' : ` (${result.code})`}`));
  if (result.location !== null) lines.push(row('at', result.location));
  if (result.stack !== null) {
    lines.push('stack:');
    for (const line of result.stack.split('\n')) lines.push(`  ${line}`);
  }
  return lines;
}

function addressText(value: AddressObject | AddressObject[] | undefined): string | null {
  if (value === undefined) return null;
  return (Array.isArray(value) ? value : [value]).map((address) => address.text).join(', ');
}
