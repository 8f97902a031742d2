/**
 * The account's `search:` applied by mailpoll itself, where the server cannot search (POP3)
 * or there is no server (Maildir): on each message's header block, size and flags. It means
 * what the IMAP search means: text matches case-insensitively inside the decoded header
 * (RFC 2047 words decoded), dates compare the day written in the Date header, sizes are
 * strictly larger or smaller. The body is never searched here: `validate` refuses `body`
 * (and `raw`, keywords on POP3 and Maildir, flags on POP3).
 */
import { boundDay, checkSearch, type SearchCriteria } from '../config/search.js';
import type { Protocol } from '../domain.js';
import { ConfigError } from '../errors.js';

/** What is known of one message without its body. */
export interface LocalMessage {
  /** The header block (POP3: TOP n 0; Maildir: the file up to the first empty line); undefined when no criterion needs it. */
  headers: Buffer | undefined;
  size: number | undefined;
  flags: readonly string[];
}

const HEADER_KEYS = ['from', 'to', 'cc', 'subject', 'header', 'since', 'before'] as const;

/** Whether deciding `criteria` needs each message's header block (else size and flags do). */
export function needsHeaders(criteria: SearchCriteria): boolean {
  if (HEADER_KEYS.some((key) => criteria[key] !== undefined)) return true;
  return (criteria.or ?? []).some(needsHeaders) || (criteria.not !== undefined && needsHeaders(criteria.not));
}

/** A search this protocol cannot apply (a config that skipped `validate`): refused, never a silent empty selection. */
export function refuseUnsearchable(criteria: SearchCriteria, protocol: Protocol, account: string): void {
  const problems = checkSearch(criteria, protocol, 'search');
  if (problems.length > 0) throw new ConfigError(`${account}: ${problems.join('; ')}`, { account });
}

/** Does the message match every key of `criteria` (`now`: where durations count back from)? */
export function matchesLocally(criteria: SearchCriteria, message: LocalMessage, now: number): boolean {
  const fields = message.headers === undefined ? new Map<string, string[]>() : parseHeaderBlock(message.headers);
  return matches(criteria, fields, message, now);
}

function matches(criteria: SearchCriteria, fields: Map<string, string[]>, message: LocalMessage, now: number): boolean {
  const has = (name: string, needle: string): boolean => {
    const values = fields.get(name.toLowerCase());
    if (values === undefined) return false;
    const wanted = needle.toLowerCase();
    return values.some((value) => value.toLowerCase().includes(wanted));
  };
  for (const key of ['from', 'to', 'cc', 'subject'] as const) {
    const needle = criteria[key];
    if (needle !== undefined && !has(key, needle)) return false;
  }
  for (const [name, needle] of Object.entries(criteria.header ?? {})) if (!has(name, needle)) return false;
  if (criteria.since !== undefined || criteria.before !== undefined) {
    const day = sentDay(fields.get('date')?.[0]);
    if (day === undefined) return false;
    if (criteria.since !== undefined && day < boundDay(criteria.since, now)) return false;
    if (criteria.before !== undefined && day >= boundDay(criteria.before, now)) return false;
  }
  const size = message.size;
  if (criteria.larger !== undefined && !(size !== undefined && size > criteria.larger)) return false;
  if (criteria.smaller !== undefined && !(size !== undefined && size < criteria.smaller)) return false;
  const flag = (name: string): boolean => message.flags.includes(name);
  if (criteria.seen !== undefined && flag('\\Seen') !== criteria.seen) return false;
  if (criteria.flagged !== undefined && flag('\\Flagged') !== criteria.flagged) return false;
  if (criteria.keyword !== undefined && !flag(criteria.keyword)) return false;
  if (criteria.unkeyword !== undefined && flag(criteria.unkeyword)) return false;
  if (criteria.or !== undefined && !criteria.or.some((entry) => matches(entry, fields, message, now))) return false;
  if (criteria.not !== undefined && matches(criteria.not, fields, message, now)) return false;
  return true;
}

/** Header name (lower case) -> its values, unfolded and decoded, in order. */
export function parseHeaderBlock(block: Buffer): Map<string, string[]> {
  const text = block.toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  const head = end === -1 ? text : text.slice(0, end);
  const fields = new Map<string, string[]>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const match = /^([^:\s]+)\s*:\s*(.*)$/.exec(line);
    if (!match) continue;
    const name = match[1]!.toLowerCase();
    fields.set(name, [...(fields.get(name) ?? []), decodeWords(match[2]!.trim())]);
  }
  return fields;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** The day a Date header names, as written (its own time zone, as IMAP's SENTSINCE reads it): `YYYY-MM-DD`. */
export function sentDay(value: string | undefined): string | undefined {
  const match = /(\d{1,2})\s+([a-z]{3})[a-z]*\s+(\d{2,4})/i.exec(value ?? '');
  if (!match) return undefined;
  const month = MONTHS.indexOf(match[2]!.toLowerCase());
  if (month === -1) return undefined;
  let year = Number(match[3]);
  if (year < 50) year += 2000;
  else if (year < 1000) year += 1900;
  return `${String(year).padStart(4, '0')}-${String(month + 1).padStart(2, '0')}-${match[1]!.padStart(2, '0')}`;
}

/** RFC 2047 encoded words (`=?UTF-8?B?...?=`, `=?ISO-8859-1?Q?...?=`) decoded; whitespace between two of them dropped. */
function decodeWords(value: string): string {
  if (!value.includes('=?')) return value;
  return value
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g, (whole, charset: string, encoding: string, text: string) => {
      const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : quotedPrintableWord(text);
      try {
        return new TextDecoder(charset.split('*')[0]!.toLowerCase()).decode(bytes);
      } catch {
        return whole;
      }
    });
}

function quotedPrintableWord(text: string): Buffer {
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index]!;
    if (char === '_') bytes.push(0x20);
    else if (char === '=' && /^[0-9a-f]{2}$/i.test(text.slice(index + 1, index + 3))) {
      bytes.push(parseInt(text.slice(index + 1, index + 3), 16));
      index += 2;
    } else bytes.push(char.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}
