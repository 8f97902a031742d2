/**
 * A fetched message -> the MailMessage handlers receive: mailparser's `simpleParser` with
 * its defaults, plus where the message came from and its exact source.
 *
 * What mailparser 3.14 does with bad input (test/maildir.test.ts checks it):
 * - garbage, empty or truncated input does not throw: it yields what it can (a truncated
 *   multipart keeps the parts seen so far, an attachment cut short is just shorter);
 *   binary garbage gives a message without subject, from or text;
 * - an unknown charset decodes as best it can; broken base64 gives empty/partial content;
 * - it throws only past its safety limits (code `EMAXLEN`): a header block of one MIME node
 *   over 1 MiB, each line counting at least 64 bytes, so also ~16,000 short header lines
 *   (`Max header size for a MIME node exceeded`); more than 1000 MIME nodes, the message and
 *   every part and multipart counted, which deep nesting reaches too (`Max allowed child
 *   nodes exceeded`). Such a message still goes to the handler, with what can be read: `raw`,
 *   the top-level header fields (see `readableHeaderBlock`) and `parseError`, so that the
 *   handler decides rather than the message being quarantined unseen;
 * - an unparseable `Date:` header becomes the time of parsing; we undo that (see below);
 * - raw 8-bit header bytes are decoded as UTF-8, so an old client's ISO-8859-1 subject
 *   comes out as `Gr��e`; we decode such lines first (see `decodeLegacyHeaders`).
 */
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { ParseError } from '../errors.js';
import type { MailMessage } from '../handler/types.js';
import type { FetchedMessage } from '../mailbox/types.js';
import { headerDecoder, isOverHeaderLimit, splitHeaderLines, type HeaderDecoder, type HeaderLine } from './header-lines.js';

const PARSE_OPTIONS = { skipTextToHtml: true, skipTextLinks: true } as const;

// mailparser (with iconv-lite, linkify-it, ...) is the heaviest import: a run with no new
// mail (the every-minute cron case) never loads it.
let mailparser: Promise<typeof import('mailparser')> | undefined;
export function loadMailparser(): Promise<typeof import('mailparser')> {
  mailparser ??= import('mailparser');
  return mailparser;
}

export interface ParseMessageMeta {
  /** Account name. */
  account: string;
  /** Folder the message was read from, `/`-separated as configured. */
  folder: string;
  /**
   * Parse the top-level header block only (the handler module says `export const parse =
   * 'headers'`): subject, from, to, cc, date, messageId, headers, ... as in a full parse, at a
   * fraction of the cost; `text`, `html`, `textAsHtml` and `attachments` throw when read.
   */
  headersOnly?: boolean | undefined;
}

/** What a headers-only message does not have: reading one is a handler bug, said loudly. */
const BODY_FIELDS = ['text', 'html', 'textAsHtml', 'attachments'] as const;
const CRLF = Buffer.from('\r\n');
const notParsed = (field: string) => `mailMessage.${field} is not parsed: the handler module exports parse = 'headers' (remove it, or read mailMessage.raw)`;

/**
 * Parse one fetched message. When mailparser refuses it (over its limits), the message
 * comes back with the header fields that could be read, no body, and `parseError` set.
 * Throws a ParseError `cannot parse message: <reason>` (with mailparser's code) only if even
 * that fails; the cycle reports that as a failure of this message only.
 */
export async function parseMessage(fetched: FetchedMessage, meta: ParseMessageMeta): Promise<MailMessage> {
  const mailparserModule = await loadMailparser();
  if (meta.headersOnly === true) {
    const head = fetched.raw.subarray(0, headerBlockEnd(fetched.raw));
    // Over mailparser's limit its parse refuses the block, and refusedMessage says why.
    if (!isOverHeaderLimit(head)) return headerMessage(fetched, meta, head, mailparserModule);
  }
  const { simpleParser } = mailparserModule;
  let parsed;
  try {
    // textAsHtml (text turned into HTML with linkified URLs) costs several times the rest of
    // the parse (bench/ANALYSIS.md) and is derived data: handlers get text and html as sent.
    const source = meta.headersOnly === true ? headerSource(fetched.raw) : fetched.raw;
    parsed = await simpleParser(decodeLegacyHeaders(source), PARSE_OPTIONS);
  } catch (error) {
    return refusedMessage(fetched, meta, error);
  }
  withoutParseTimeDate(parsed);
  if (meta.headersOnly === true) {
    withoutBody(parsed, notParsed);
  }
  return Object.assign(parsed, origin(fetched, meta));
}

/** The top-level fields simpleParser copies from the header map, by key, in its order. */
const MESSAGE_FIELDS = [
  ['subject', 'subject'], ['references', 'references'], ['date', 'date'], ['to', 'to'], ['from', 'from'], ['cc', 'cc'], ['bcc', 'bcc'],
  ['message-id', 'messageId'], ['in-reply-to', 'inReplyTo'], ['reply-to', 'replyTo'],
] as const;
/** The field of a one-time passcode, as mailparser matches it (no space before the colon). */
const OTP_HEADER = /^otp-token:/i;
let decodeHeaders: HeaderDecoder | undefined;

/**
 * The header-only message without mailparser's stream parser: the block split and decoded as
 * the parse does (header-lines.ts), then the message built as simpleParser builds it from its
 * `headers` event: `headers`, `headerLines`, `otp` (mailparser's own steps: the values of
 * every OTP-Token line given to its public `parseOtpToken`), and the fields copied from the
 * header map, without the stream's cost (bench/ANALYSIS.md, "The per-message path, round two").
 */
function headerMessage(fetched: FetchedMessage, meta: ParseMessageMeta, head: Buffer, mailparserModule: typeof import('mailparser')): MailMessage {
  decodeHeaders ??= headerDecoder(mailparserModule.MailParser);
  const headerLines = splitHeaderLines(decodeLegacyHeaders(head).toString('binary'));
  const headers = decodeHeaders(headerLines);
  const parsed: { headers: Map<string, unknown>; headerLines: HeaderLine[]; date?: Date | undefined } = { headers, headerLines };
  const fields = parsed as Record<string, unknown>;
  const otpValues = headerLines.filter(({ line }) => OTP_HEADER.test(line)).map(({ line }) => line.slice(line.indexOf(':') + 1));
  const otp = otpValues.length > 0 ? mailparserModule.parseOtpToken(otpValues) : undefined;
  if (otp) fields.otp = otp;
  for (const [key, field] of MESSAGE_FIELDS) if (headers.has(key)) fields[field] = headers.get(key);
  withoutParseTimeDate(parsed);
  withoutBody(parsed, notParsed);
  return Object.assign(parsed as unknown as MailMessage, origin(fetched, meta));
}

function origin(fetched: FetchedMessage, meta: ParseMessageMeta) {
  return { uid: fetched.uid, account: meta.account, folder: meta.folder, flags: fetched.flags, size: fetched.size, raw: fetched.raw };
}

/**
 * A message mailparser refused: its top-level header fields, read again within mailparser's
 * limits (`readableHeaderBlock`), `raw` as always, no body, and why in `parseError`.
 */
async function refusedMessage(fetched: FetchedMessage, meta: ParseMessageMeta, error: unknown): Promise<MailMessage> {
  const reason = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  let parsed;
  try {
    const { simpleParser } = await loadMailparser();
    parsed = await simpleParser(decodeLegacyHeaders(readableHeaderBlock(fetched.raw)), PARSE_OPTIONS);
  } catch {
    throw new ParseError(`cannot parse message: ${reason}`, { cause: error, parserCode: typeof code === 'string' ? code : undefined });
  }
  withoutParseTimeDate(parsed);
  withoutBody(parsed, (field) => `mailMessage.${field} is not available: mailparser refused this message (${reason}); check mailMessage.parseError, read mailMessage.raw`);
  return Object.assign(parsed, origin(fetched, meta), {
    parseError: reason,
    ...(typeof code === 'string' ? { parseErrorCode: code } : {}),
  });
}

/**
 * mailparser replaces a Date header it cannot parse with the current time, which would make
 * every such message look brand new to a handler filtering on age. Report no date instead;
 * the original text stays in `headerLines`.
 */
export function withoutParseTimeDate(parsed: { date?: Date | undefined; headers: Map<string, unknown>; headerLines: ReadonlyArray<{ key: string; line: string }> }): void {
  if (parsed.date !== undefined && !hasValidDateHeader(parsed.headerLines)) {
    parsed.date = undefined;
    parsed.headers.delete('date');
  }
}

/** Header fields a handler decides by: kept whatever the other fields take up. */
const KEY_FIELDS = new Set([
  'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'subject', 'date', 'message-id', 'in-reply-to', 'references',
  'return-path', 'mime-version', 'content-type', 'content-transfer-encoding', 'list-id', 'list-unsubscribe', 'auto-submitted',
]);
/** Caps of the fallback header block, far inside mailparser's 1 MiB (one line per field, each costing at least 64). */
const FALLBACK_MAX_FIELD = 16 * 1024;
const FALLBACK_MAX_OTHER_FIELDS = 1000;
const FALLBACK_MAX_OTHER_BYTES = 256 * 1024;

/**
 * The top-level header block, split at the first empty line, as mailparser can read it: each
 * field unfolded onto one line and cut at 16 KB; the first of each key field (From, Subject,
 * Date, Message-ID, ...) always kept, other fields in order while they fit (1000 fields,
 * 256 KB). Followed by an empty line and no body.
 */
export function readableHeaderBlock(raw: Buffer): Buffer {
  const head = raw.subarray(0, headerBlockEnd(raw));
  const kept: Buffer[] = [];
  const seen = new Set<string>();
  let others = 0;
  let otherBytes = 0;
  for (const field of headerFields(head)) {
    const colon = field.indexOf(0x3a);
    if (colon <= 0) continue; // not a field: a stray line
    const name = field.toString('latin1', 0, colon).trim().toLowerCase();
    const line = unfold(field);
    if (KEY_FIELDS.has(name) && !seen.has(name)) {
      seen.add(name);
    } else {
      if (others >= FALLBACK_MAX_OTHER_FIELDS || otherBytes + line.length > FALLBACK_MAX_OTHER_BYTES) continue;
      others += 1;
      otherBytes += line.length;
    }
    kept.push(line, CRLF);
  }
  kept.push(CRLF);
  return Buffer.concat(kept);
}

/** Each field of a header block: a line and the continuation lines (starting with space or tab) after it. */
function* headerFields(head: Buffer): Generator<Buffer> {
  let start = 0;
  let position = 0;
  while (position < head.length) {
    const newline = head.indexOf(0x0a, position);
    const next = newline === -1 ? head.length : newline + 1;
    if (next < head.length && head[next] !== 0x20 && head[next] !== 0x09) {
      yield head.subarray(start, next);
      start = next;
    }
    position = next;
  }
  if (start < head.length) yield head.subarray(start);
}

/** One field on one line (line breaks removed, as RFC 5322 unfolding does), at most FALLBACK_MAX_FIELD bytes. */
function unfold(field: Buffer): Buffer {
  const bytes: number[] = [];
  for (const byte of field) {
    if (byte === 0x0d || byte === 0x0a) continue;
    if (bytes.length === FALLBACK_MAX_FIELD) {
      // Cut short: not inside a UTF-8 character (a lead byte and its continuation bytes).
      let end = bytes.length;
      while (end > 0 && (bytes[end - 1]! & 0xc0) === 0x80) end -= 1;
      if (end > 0 && bytes[end - 1]! >= 0xc0) bytes.length = end - 1;
      break;
    }
    bytes.push(byte);
  }
  return Buffer.from(bytes);
}

/** The top-level header block and an empty line: the same headers, no body to parse. */
function headerSource(raw: Buffer): Buffer {
  const end = headerBlockEnd(raw);
  if (end === raw.length) return raw;
  return Buffer.concat([raw.subarray(0, end), CRLF]);
}

/** The body fields throw when read, saying why they are missing (`explain`). */
function withoutBody(parsed: object, explain: (field: string) => string): void {
  for (const field of BODY_FIELDS) {
    delete (parsed as Record<string, unknown>)[field];
    // Not enumerable: spreading or logging the message does not trip over them.
    Object.defineProperty(parsed, field, {
      configurable: true,
      enumerable: false,
      get() {
        throw new Error(explain(field));
      },
    });
  }
}

function hasValidDateHeader(headerLines: ReadonlyArray<{ key: string; line: string }>): boolean {
  const header = headerLines.find((entry) => entry.key === 'date');
  if (!header) return true; // nothing to correct: the date came from elsewhere
  const colon = header.line.indexOf(':');
  const value = header.line.slice(colon + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
  return !Number.isNaN(new Date(value).getTime());
}

/**
 * RFC 5322 headers are ASCII; RFC 6532 allows raw UTF-8. Old or careless clients put raw
 * bytes of another charset there (ISO-8859-1 `Gr\xfc\xdfe`), which mailparser decodes as
 * UTF-8 into U+FFFD. For the top-level header block only, every line that is not valid
 * UTF-8 is decoded with the charset of the message's own Content-Type (what the sender's
 * client was using), or windows-1252 when there is none or it is UTF-8, and handed to
 * mailparser as UTF-8. The body is passed through unchanged, and `raw` stays the exact source.
 */
export function decodeLegacyHeaders(raw: Buffer): Buffer {
  const end = headerBlockEnd(raw);
  const head = raw.subarray(0, end);
  if (isUtf8(head)) return raw;

  const decode = legacyDecoder(head.toString('latin1'));
  const lines: Buffer[] = [];
  let start = 0;
  while (start < head.length) {
    const newline = head.indexOf(0x0a, start);
    const stop = newline === -1 ? head.length : newline + 1;
    const line = head.subarray(start, stop);
    lines.push(isUtf8(line) ? line : Buffer.from(decode(line), 'utf8'));
    start = stop;
  }
  return Buffer.concat([...lines, raw.subarray(end)]);
}

/** Offset just past the top-level header block (before the empty line), or the whole buffer. */
export function headerBlockEnd(raw: Buffer): number {
  let start = 0;
  while (start < raw.length) {
    if (raw[start] === 0x0a || (raw[start] === 0x0d && raw[start + 1] === 0x0a)) return start;
    const newline = raw.indexOf(0x0a, start);
    if (newline === -1) return raw.length;
    start = newline + 1;
  }
  return raw.length;
}

function legacyDecoder(head: string): (bytes: Buffer) => string {
  const contentType = /^content-type:[^\n]*(?:\n[ \t][^\n]*)*/im.exec(head)?.[0] ?? '';
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
  if (charset !== undefined) {
    try {
      const decoder = new TextDecoder(charset);
      // Node's own windows-1252 (also what `iso-8859-1` and `us-ascii` mean in WHATWG) has
      // decoded 0x80-0x9F as C1 controls in some versions: use ours for it.
      if (decoder.encoding !== 'utf-8' && decoder.encoding !== 'windows-1252') {
        return (bytes) => decoder.decode(bytes);
      }
    } catch {
      // unknown to this Node (or not a charset at all): fall back
    }
  }
  return decodeWindows1252;
}

/** windows-1252: ISO-8859-1 with printable characters in 0x80-0x9F (€, curly quotes, ...). */
const CP1252_HIGH =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

function decodeWindows1252(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) text += byte >= 0x80 && byte < 0xa0 ? CP1252_HIGH[byte - 0x80] : String.fromCharCode(byte);
  return text;
}
