/**
 * The sha256 the ledger keeps of a message's source (`raw_sha256`): the proof that a message
 * found under another name (a UIDVALIDITY change, POP3 without UIDL) is one already handled.
 * It is taken over what was downloaded. When only the header block was (a `parse = 'headers'`
 * handler, no raw copies kept), the hash is of that block and says so: `header:<hex>`. A
 * header hash is compared with the header block of a whole source; a whole-source hash cannot
 * be checked against a header block, and such a message is not recognised (handed over again,
 * never skipped on a guess).
 */
import { createHash } from 'node:crypto';
import type { FetchedMessage } from '../mailbox/types.js';

const HEADER_PREFIX = 'header:';

export function sha256(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

/** The hash recorded for a downloaded message. */
export function sourceHash(message: Pick<FetchedMessage, 'raw' | 'headersOnly'>): string {
  return message.headersOnly === true ? `${HEADER_PREFIX}${sha256(message.raw)}` : sha256(message.raw);
}

/** Whether the recorded hash proves `message` is the message it was taken of. Null: no proof. */
export function sameSource(recorded: string | null, message: Pick<FetchedMessage, 'raw' | 'headersOnly'>, hash: string): boolean {
  if (recorded === null) return false;
  if (recorded.startsWith(HEADER_PREFIX) && message.headersOnly !== true) return recorded === `${HEADER_PREFIX}${sha256(headerBlock(message.raw))}`;
  return recorded === hash;
}

/** The header block of a source as IMAP's BODY[HEADER] gives it: up to and with the empty line. */
export function headerBlock(raw: Buffer): Buffer {
  const end = raw.indexOf('\r\n\r\n');
  if (end !== -1) return raw.subarray(0, end + 4);
  const bare = raw.indexOf('\n\n');
  return bare === -1 ? raw : raw.subarray(0, bare + 2);
}
