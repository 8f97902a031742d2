/**
 * What the ledger and the report record of a message, read from its parsed header block:
 * Message-ID, sender, subject, date and size, and the Date header as written (the fingerprint).
 */
import type { HeaderFields } from '../message/header-fields.js';
import type { MessageMeta } from '../store/types.js';

/** The ledger's and the report's fields of a message of `size` bytes, parsed or read by header-fields.ts. */
export function metaOf(message: HeaderFields, size: number): MessageMeta & { size: number } {
  return {
    messageId: message.messageId ?? null,
    sender: formatSender(message),
    subject: message.subject ?? null,
    date: isoDate(message.date),
    size,
  };
}

/** The Date header as written (the fingerprint must match what IMAP/POP3 give before download). */
export function sentDateOf(message: Pick<HeaderFields, 'headerLines'>): string | undefined {
  const line = message.headerLines.find((header) => header.key === 'date')?.line;
  return line?.replace(/^date:\s*/i, '');
}

/** `Name <address>` for each sender, without mailparser's quoting of the name. */
function formatSender(message: HeaderFields): string | null {
  const senders = message.from?.value ?? [];
  if (senders.length === 0) return message.from?.text || null;
  return senders.map((s) => (s.name ? `${s.name} <${s.address ?? ''}>` : (s.address ?? ''))).join(', ');
}

/** mailparser gives an Invalid Date for an unparseable Date header. */
function isoDate(date: Date | undefined): string | null {
  return date === undefined || Number.isNaN(date.getTime()) ? null : date.toISOString();
}
