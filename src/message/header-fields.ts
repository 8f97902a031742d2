/**
 * The header fields mailpoll itself records of every message (Message-ID, From, Subject,
 * Date, and the Date header as written for the fingerprint), read without parsing the
 * message: where a module handler parses in its worker thread, the main thread needs only
 * these. A header-only mailparser parse costs about 50 times as much (bench/ANALYSIS.md,
 * "The per-message path, round two").
 *
 * The values are the ones `parseMessage` gives: the top-level header block is taken and
 * decoded as it takes it (legacy 8-bit lines, and over mailparser's header limit the
 * readable block), split into fields as mailparser's splitter splits them, and the lines of
 * these four keys decoded by mailparser's own header decoding (test/header-fields.test.ts
 * compares the two over every fixture).
 */
import type { MailMessage } from '../handler/types.js';
import { decodeLegacyHeaders, headerBlockEnd, loadMailparser, readableHeaderBlock, withoutParseTimeDate } from './parse.js';

/** What the ledger and the report read of a message (`poll/message-meta.ts`). */
export type HeaderFields = Pick<MailMessage, 'messageId' | 'from' | 'subject' | 'date' | 'headerLines'>;

type HeaderLine = { key: string; line: string };
type HeaderDecoder = (lines: HeaderLine[]) => Map<string, unknown>;

/** The keys read; `headerLines` holds only their lines. */
const KEYS = new Set(['message-id', 'from', 'subject', 'date']);
/** mailparser's limit on a header block: each line counts at least 64 bytes, 1 MiB in all. */
const MAX_HEAD_COST = 1024 * 1024;
const LINE_MIN_COST = 64;

let decoder: Promise<HeaderDecoder> | undefined;

/** mailparser's decoding of header lines into values, from one parser that never parses. */
function loadDecoder(): Promise<HeaderDecoder> {
  decoder ??= loadMailparser().then(({ MailParser }) => {
    const parser = new MailParser() as unknown as { processHeaders?: HeaderDecoder };
    const decode = parser.processHeaders;
    if (typeof decode !== 'function') throw new Error('mailparser has no processHeaders: the header reader needs the version in package.json');
    return (lines) => decode.call(parser, lines);
  });
  return decoder;
}

/** Message-ID, From, Subject and Date of `raw`, as a header-only `parseMessage` gives them. */
export async function readHeaderFields(raw: Buffer): Promise<HeaderFields> {
  const decode = await loadDecoder();
  let head = raw.subarray(0, headerBlockEnd(raw));
  // Past mailparser's limit, parseMessage reads the capped block instead (parse.ts).
  if (headerCost(head) > MAX_HEAD_COST) head = readableHeaderBlock(raw);
  const lines = splitFields(decodeLegacyHeaders(head).toString('binary'));
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

/** What mailparser's splitter counts for a header block against its limit. */
function headerCost(head: Buffer): number {
  let cost = 0;
  let start = 0;
  while (start < head.length) {
    const newline = head.indexOf(0x0a, start);
    const end = newline === -1 ? head.length : newline + 1;
    cost += Math.max(end - start, LINE_MIN_COST);
    if (cost > MAX_HEAD_COST) return cost;
    start = end;
  }
  return cost;
}

/**
 * The fields of a header block with one of KEYS, split as mailparser's splitter does
 * (mailsplit's Headers): lines at LF or CRLF, continuation lines (space or tab) joined with
 * CRLF, the key up to the first colon (of a continuation line when the line has none), lower
 * case; a first line `From ` (mbox) or `POST ` is not a field.
 */
function splitFields(block: string): HeaderLine[] {
  let end = block.length;
  while (end > 0 && (block.charCodeAt(end - 1) === 0x0a || block.charCodeAt(end - 1) === 0x0d)) end -= 1;
  const rawLines = block.slice(0, end).split(/\r?\n/);
  const folded = (line: string) => line.startsWith(' ') || line.startsWith('\t');
  const fields: HeaderLine[] = [];
  let index = 1;
  let first = rawLines[0] ?? '';
  while (index < rawLines.length && folded(rawLines[index]!)) first += `\r\n${rawLines[index++]!}`;
  if (!/^From /i.test(first) && !/^POST /i.test(first)) fields.push({ key: keyBefore(first, first.indexOf(':')), line: first });
  let keyPending = false;
  for (; index < rawLines.length; index += 1) {
    const line = rawLines[index]!;
    if (folded(line)) {
      const entry = fields[fields.length - 1]!;
      if (keyPending) {
        const colon = line.indexOf(':');
        if (colon >= 0) {
          entry.key = keyBefore(`${entry.line}\r\n${line}`, entry.line.length + 2 + colon);
          keyPending = false;
        }
      }
      entry.line += `\r\n${line}`;
    } else {
      const colon = line.indexOf(':');
      fields.push({ key: keyBefore(line, colon), line });
      keyPending = colon < 0;
    }
  }
  return fields.filter((field) => KEYS.has(field.key));
}

/** The key of a field whose colon is at `colon`: none (-1) gives the empty key. */
function keyBefore(line: string, colon: number): string {
  return colon < 0 ? '' : line.slice(0, colon).toLowerCase().trim();
}
