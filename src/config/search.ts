/**
 * The `search:` key: which messages are candidates at all. Its shape, docs, zod schema and
 * the checks that depend on the protocol. IMAP sends it as one UID SEARCH
 * (`mailbox/imap/search-query.ts`); POP3 and Maildir apply it to each message's header block,
 * size and flags (`mailbox/local-search.ts`).
 */
import * as z from 'zod';
import type { Protocol } from '../domain.js';
import { parseDuration } from '../duration.js';

/** A date bound: a calendar day, or "this long before now" (resolved to a day at each search). */
export type DateBound = { day: string } | { agoMs: number };

/** The resolved criteria; every key set must match (AND). */
export interface SearchCriteria {
  from?: string | undefined;
  to?: string | undefined;
  cc?: string | undefined;
  subject?: string | undefined;
  body?: string | undefined;
  header?: Record<string, string> | undefined;
  since?: DateBound | undefined;
  before?: DateBound | undefined;
  larger?: number | undefined;
  smaller?: number | undefined;
  keyword?: string | undefined;
  unkeyword?: string | undefined;
  seen?: boolean | undefined;
  flagged?: boolean | undefined;
  /** At least one of these matches. */
  or?: SearchCriteria[] | undefined;
  /** This does not match. */
  not?: SearchCriteria | undefined;
  /** A literal IMAP SEARCH string (X-GM-RAW on Gmail): the whole search, alone. */
  raw?: string | undefined;
}

/** The keys of a `search` object (and of each `or` entry and `not`). */
export const SEARCH_KEY_DOCS = {
  from: { description: 'The From header contains this text (case-insensitive).' },
  to: { description: 'The To header contains this text.' },
  cc: { description: 'The Cc header contains this text.' },
  subject: { description: 'The Subject contains this text.' },
  body: { description: 'The body contains this text (IMAP only: POP3 and Maildir would have to download every message to know).' },
  header: { description: '`{Name: text}`: each named header contains its text (an empty text: the header is present).' },
  since: { description: 'Sent on or after this day (the Date header): an ISO date `2026-01-31` or a duration back from now, `7d`.' },
  before: { description: 'Sent before this day (the Date header): an ISO date or a duration back from now, `30d`.' },
  larger: { description: 'Larger than this size: bytes or `500KB`, `5MB`.' },
  smaller: { description: 'Smaller than this size.' },
  keyword: { description: 'Has this IMAP keyword (`$Processed`). IMAP only.' },
  unkeyword: { description: 'Does not have this IMAP keyword. IMAP only.' },
  seen: { description: '`true`: read messages only; `false`: unread only (what `onlyUnseen` means). IMAP and Maildir.' },
  flagged: { description: '`true`: flagged (starred) messages only; `false`: the others. IMAP and Maildir.' },
  or: { description: 'A list of search objects, at least two: one of them matches.' },
  not: { description: 'A search object that must not match.' },
  raw: {
    description:
      'A literal IMAP SEARCH string (`OR FROM a SUBJECT b`), the whole search on its own (printable ASCII); on Gmail (X-GM-EXT-1) it is sent as X-GM-RAW (`has:attachment older_than:2d`). IMAP only.',
  },
} as const;

const text = () => z.string().min(1, { error: 'expected a non-empty string' });

const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `2026-01-31` (a real day) or a duration such as `7d`. */
const dateBound = () =>
  z
    .unknown()
    .meta({ type: 'string' })
    .transform((value, ctx): DateBound => {
      const expected = 'expected an ISO date like 2026-01-31 or a duration like 7d';
      if (typeof value === 'string') {
        const day = DAY_PATTERN.exec(value.trim());
        if (day) {
          const date = new Date(`${day[0]}T00:00:00Z`);
          if (!Number.isNaN(date.getTime()) && date.toISOString().startsWith(day[0])) return { day: day[0] };
        } else {
          const ms = parseDuration(value);
          if (ms !== undefined && ms > 0) return { agoMs: ms };
        }
      }
      ctx.addIssue({ code: 'custom', message: expected, input: value });
      return z.NEVER;
    });

/** The raw string goes on the wire as it is: one line of printable ASCII. */
const rawSearch = () =>
  text().refine((value) => /^[\x20-\x7e]+$/.test(value), { error: 'expected one line of printable ASCII (use the other search keys for other text)' });

/** The `search` schema; `size` and `flag` are the config's own value schemas. */
export function searchSchema(size: () => z.ZodType<number, unknown>, flag: () => z.ZodType<boolean, unknown>): z.ZodType<SearchCriteria, unknown> {
  const schema: z.ZodType<SearchCriteria, unknown> = z.lazy(() =>
    z
      .strictObject({
        from: text().optional().describe(SEARCH_KEY_DOCS.from.description),
        to: text().optional().describe(SEARCH_KEY_DOCS.to.description),
        cc: text().optional().describe(SEARCH_KEY_DOCS.cc.description),
        subject: text().optional().describe(SEARCH_KEY_DOCS.subject.description),
        body: text().optional().describe(SEARCH_KEY_DOCS.body.description),
        header: z.record(z.string().regex(/^[!-9;-~]+$/, { error: 'expected a header name' }), z.string()).optional().describe(SEARCH_KEY_DOCS.header.description),
        since: dateBound().optional().describe(SEARCH_KEY_DOCS.since.description),
        before: dateBound().optional().describe(SEARCH_KEY_DOCS.before.description),
        larger: size().optional().describe(SEARCH_KEY_DOCS.larger.description),
        smaller: size().optional().describe(SEARCH_KEY_DOCS.smaller.description),
        keyword: z.string().regex(/^\$?[A-Za-z0-9_.-]+$|^\\Flagged$/, { error: 'expected a keyword like $Processed' }).optional().describe(SEARCH_KEY_DOCS.keyword.description),
        unkeyword: z.string().regex(/^\$?[A-Za-z0-9_.-]+$|^\\Flagged$/, { error: 'expected a keyword like $Processed' }).optional().describe(SEARCH_KEY_DOCS.unkeyword.description),
        seen: flag().optional().describe(SEARCH_KEY_DOCS.seen.description),
        flagged: flag().optional().describe(SEARCH_KEY_DOCS.flagged.description),
        or: z.array(schema).min(2, { error: 'expected a list of at least two search objects' }).optional().describe(SEARCH_KEY_DOCS.or.description),
        not: schema.optional().describe(SEARCH_KEY_DOCS.not.description),
        raw: rawSearch().optional().describe(SEARCH_KEY_DOCS.raw.description),
      })
      .superRefine((value, ctx) => {
        const keys = Object.keys(value).filter((key) => value[key as keyof typeof value] !== undefined);
        if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'expected at least one search key', input: value });
        if (value.raw !== undefined && keys.length > 1) {
          ctx.addIssue({ code: 'custom', path: ['raw'], message: 'expected raw alone: a raw search is the whole search (write the rest into it)', input: value.raw });
        }
      }),
  );
  return schema;
}

/** What each protocol cannot search, and why (refused by `validate`). */
const UNSUPPORTED: Partial<Record<Protocol, Partial<Record<keyof SearchCriteria, string>>>> = {
  pop3: {
    body: 'POP3 would have to download every message to search its body; search it in the handler instead',
    keyword: 'POP3 has no keywords',
    unkeyword: 'POP3 has no keywords',
    seen: 'POP3 has no seen flag',
    flagged: 'POP3 has no flags',
    raw: 'a raw search is an IMAP SEARCH string; use the other search keys',
  },
  maildir: {
    body: 'a Maildir would have to read every message whole to search its body; search it in the handler instead',
    keyword: 'mailpoll does not read Maildir keywords',
    unkeyword: 'mailpoll does not read Maildir keywords',
    raw: 'a raw search is an IMAP SEARCH string; use the other search keys',
  },
};

/** Problem lines (`path: message`) for search keys `protocol` cannot apply, at any depth. */
export function checkSearch(criteria: SearchCriteria, protocol: Protocol, path: string): string[] {
  const problems: string[] = [];
  const reasons = UNSUPPORTED[protocol] ?? {};
  for (const [key, value] of Object.entries(criteria)) {
    if (value === undefined) continue;
    const reason = reasons[key as keyof SearchCriteria];
    if (reason !== undefined) problems.push(`${path}.${key}: not searchable in ${protocol} accounts (${reason}); remove it`);
  }
  criteria.or?.forEach((entry, index) => problems.push(...checkSearch(entry, protocol, `${path}.or[${index}]`)));
  if (criteria.not !== undefined) problems.push(...checkSearch(criteria.not, protocol, `${path}.not`));
  return problems;
}

/** The day (`YYYY-MM-DD`, UTC) a bound stands for at `now`. */
export function boundDay(bound: DateBound, now: number): string {
  if ('day' in bound) return bound.day;
  return new Date(now - bound.agoMs).toISOString().slice(0, 10);
}

/** The account's search with `onlyUnseen` folded in (`seen: false`; a `seen` of its own wins); undefined: every message. */
export function effectiveSearch(search: SearchCriteria | undefined, onlyUnseen: boolean): SearchCriteria | undefined {
  if (!onlyUnseen) return search;
  if (search === undefined) return { seen: false };
  return search.seen === undefined ? { ...search, seen: false } : search;
}
