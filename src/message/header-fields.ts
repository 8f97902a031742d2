/**
 * The header fields mailpoll itself records of every message (Message-ID, From, Subject,
 * Date, and the Date header as written for the fingerprint), read without parsing the
 * message: where a module handler parses in its worker thread, the main thread needs only
 * these, and not the whole header map a header-only `parseMessage` builds.
 *
 * The values are the ones `parseMessage` gives: the top-level header block is taken and
 * decoded as it takes it (legacy 8-bit lines, and over mailparser's header limit the
 * readable block), split into fields as mailparser's splitter splits them, and the lines of
 * these four keys decoded by mailparser's own header decoding (header-lines.ts;
 * test/header-fields.test.ts compares the two over every fixture).
 */
import type { MailMessage } from '../handler/types.js';
import { headerDecoder, isOverHeaderLimit, splitHeaderLines, type HeaderDecoder } from './header-lines.js';
import { decodeLegacyHeaders, headerBlockEnd, loadMailparser, readableHeaderBlock, withoutParseTimeDate } from './parse.js';

/** What the ledger and the report read of a message (`poll/message-meta.ts`). */
export type HeaderFields = Pick<MailMessage, 'messageId' | 'from' | 'subject' | 'date' | 'headerLines'>;

/** The keys read; `headerLines` holds only their lines. */
const KEYS = new Set(['message-id', 'from', 'subject', 'date']);
const isKey = (key: string) => KEYS.has(key);

let decoder: Promise<HeaderDecoder> | undefined;

/** Message-ID, From, Subject and Date of `raw`, as a header-only `parseMessage` gives them. */
export async function readHeaderFields(raw: Buffer): Promise<HeaderFields> {
  decoder ??= loadMailparser().then(({ MailParser }) => headerDecoder(MailParser));
  const decode = await decoder;
  let head = raw.subarray(0, headerBlockEnd(raw));
  // Past mailparser's limit, parseMessage reads the capped block instead (parse.ts).
  if (isOverHeaderLimit(head)) head = readableHeaderBlock(raw);
  const lines = splitHeaderLines(decodeLegacyHeaders(head).toString('binary'), isKey);
  const headers = decode(lines);
  const fields = {
    headers,
    headerLines: lines,
    messageId: headers.get('message-id') as string | undefined,
    from: headers.get('from') as MailMessage['from'],
    subject: headers.get('subject') as string | undefined,
    date: headers.get('date') as Date | undefined,
  };
  withoutParseTimeDate(fields);
  return { messageId: fields.messageId, from: fields.from, subject: fields.subject, date: fields.date, headerLines: lines };
}
