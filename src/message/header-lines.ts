/**
 * A top-level header block as mailparser reads it, without running its stream parser: the
 * block's fields split as its splitter splits them, its limit on a header block, and its own
 * decoding of header lines into values (`processHeaders`). What the main thread records of
 * a message (header-fields.ts) and the message a `parse = 'headers'` handler receives
 * (parse.ts) are both built from these; test/header-fields.test.ts holds them to a real
 * mailparser parse over every fixture.
 */
type MailParserClass = (typeof import('mailparser'))['MailParser'];

export type HeaderLine = { key: string; line: string };
export type HeaderDecoder = (lines: HeaderLine[]) => Map<string, unknown>;

/** mailparser's limit on a header block: each line counts at least 64 bytes, 1 MiB in all. */
const MAX_HEAD_COST = 1024 * 1024;
const LINE_MIN_COST = 64;

/** Whether mailparser refuses this header block as over its limit (`EMAXLEN`). */
export function isOverHeaderLimit(head: Buffer): boolean {
  let cost = 0;
  let start = 0;
  while (start < head.length) {
    const newline = head.indexOf(0x0a, start);
    const end = newline === -1 ? head.length : newline + 1;
    cost += Math.max(end - start, LINE_MIN_COST);
    if (cost > MAX_HEAD_COST) return true;
    start = end;
  }
  return false;
}

/** mailparser's decoding of header lines into values, from one parser that never parses. */
export function headerDecoder(MailParser: MailParserClass): HeaderDecoder {
  const parser = new MailParser() as unknown as { processHeaders?: HeaderDecoder };
  const decode = parser.processHeaders;
  if (typeof decode !== 'function') throw new Error('mailparser has no processHeaders: the header reader needs the version in package.json');
  return (lines) => decode.call(parser, lines);
}

/**
 * The fields of a header block (a `binary` string), split as mailparser's splitter does
 * (mailsplit's Headers): lines at LF or CRLF, continuation lines (space or tab) joined with
 * CRLF, the key up to the first colon (of a continuation line when the line has none), lower
 * case; a first line `From ` (mbox) or `POST ` is not a field. `keep` picks the fields kept.
 */
export function splitHeaderLines(block: string, keep: (key: string) => boolean = () => true): HeaderLine[] {
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
  return fields.filter((field) => keep(field.key));
}

/** The key of a field whose colon is at `colon`: none (-1) gives the empty key. */
function keyBefore(line: string, colon: number): string {
  return colon < 0 ? '' : line.slice(0, colon).toLowerCase().trim();
}
