import { createHash } from 'node:crypto';

/** What identifies a message independently of its UID. */
export interface FingerprintParts {
  /** The Message-ID header; angle brackets, case and surrounding space do not matter. */
  messageId?: string | null | undefined;
  /** The Date header as written; runs of whitespace do not matter. */
  sentDate?: string | null | undefined;
  /** Size in bytes (RFC822.SIZE, file size). */
  size?: number | null | undefined;
}

/**
 * What finds a message's record again after a UIDVALIDITY change: sha256 (first 32 hex
 * digits) over the normalised Message-ID, Date header and size. A candidate, never a proof:
 * a sender chooses these headers, so the cycle skips a message only when the sha256 of its
 * raw source equals the recorded one. Null when the message has neither a Message-ID nor a
 * Date header: size alone would confuse unrelated messages.
 */
export function fingerprint(parts: FingerprintParts): string | null {
  const messageId = normaliseMessageId(parts.messageId);
  const sentDate = normaliseDate(parts.sentDate);
  if (!messageId && !sentDate) return null;
  const size = typeof parts.size === 'number' && Number.isFinite(parts.size) ? String(Math.trunc(parts.size)) : '';
  return createHash('sha256').update(`${messageId}\0${sentDate}\0${size}`).digest('hex').slice(0, 32);
}

function normaliseMessageId(value: string | null | undefined): string {
  let id = (value ?? '').trim().toLowerCase();
  if (id.startsWith('<') && id.endsWith('>')) id = id.slice(1, -1).trim();
  return id;
}

function normaliseDate(value: string | null | undefined): string {
  return (value ?? '').replace(/\s+/g, ' ').trim();
}
