/**
 * The account's `search:` as imapflow's query object: one UID SEARCH, with CHARSET UTF-8
 * when a value is not ASCII (imapflow adds it). Dates compare the Date header (SENTSINCE,
 * SENTBEFORE) as POP3 and Maildir do locally, so one config selects the same mail over
 * every protocol. A `raw` search goes out as written, or as X-GM-RAW on Gmail.
 */
import type { ImapFlow, SearchObject } from 'imapflow';
import { boundDay, type SearchCriteria } from '../../config/search.js';

/** The query for `criteria` at `now` (durations such as `7d` count back from it). */
export function toImapQuery(criteria: SearchCriteria, now: number, gmail: boolean): SearchObject {
  const query: SearchObject = {};
  const copy = ['from', 'to', 'cc', 'subject', 'body', 'larger', 'smaller', 'keyword', 'unkeyword', 'seen', 'flagged'] as const;
  for (const key of copy) {
    const value = criteria[key];
    if (value !== undefined) (query as Record<string, unknown>)[key] = value;
  }
  if (criteria.header !== undefined) query.header = { ...criteria.header };
  if (criteria.since !== undefined) query.sentSince = `${boundDay(criteria.since, now)}T00:00:00.000Z`;
  if (criteria.before !== undefined) query.sentBefore = `${boundDay(criteria.before, now)}T00:00:00.000Z`;
  if (criteria.or !== undefined) query.or = criteria.or.map((entry) => toImapQuery(entry, now, gmail));
  if (criteria.not !== undefined) query.not = toImapQuery(criteria.not, now, gmail);
  if (criteria.raw !== undefined && gmail) query.gmraw = criteria.raw;
  return query;
}

/**
 * The SEARCH keys of a `raw` search on a server that is not Gmail: the text as written, after
 * UNSEEN when only unread mail is wanted. (Checked as one line of printable ASCII by validate.)
 */
export function rawSearchText(criteria: SearchCriteria): string | undefined {
  if (criteria.raw === undefined) return undefined;
  const flags = [criteria.seen === false ? 'UNSEEN' : criteria.seen === true ? 'SEEN' : '', criteria.flagged === true ? 'FLAGGED' : criteria.flagged === false ? 'UNFLAGGED' : ''];
  return [...flags.filter((flag) => flag !== ''), `(${criteria.raw})`].join(' ');
}

/** imapflow's command runner, which `search()` itself uses: a TEXT token goes on the wire as written (an ATOM would be quoted). */
interface CommandRunner {
  exec(command: string, attributes: unknown[], options: { untagged: Record<string, (untagged: RawUntagged | undefined) => Promise<void>> }): Promise<{ next(): void }>;
}
interface RawUntagged {
  numbers?: number[] | undefined;
  attributes?: Array<{ value?: unknown }> | undefined;
}

/**
 * The UIDs of the selected folder that match `criteria` (undefined: all), oldest first, from
 * one UID SEARCH. False when the server refused the search.
 */
export async function searchUids(client: ImapFlow, criteria: SearchCriteria | undefined, now: number): Promise<number[] | false> {
  const gmail = client.capabilities.has('X-GM-EXT-1');
  const raw = gmail || criteria === undefined ? undefined : rawSearchText(criteria);
  if (raw === undefined) {
    const result = await client.search(criteria === undefined ? { all: true } : toImapQuery(criteria, now, gmail), { uid: true });
    return Array.isArray(result) ? result : false;
  }
  const found: number[] = [];
  const runner = client as unknown as CommandRunner;
  try {
    // `next()` lets imapflow send the following command: without it the connection waits forever.
    const response = await runner.exec('UID SEARCH', [{ type: 'TEXT', value: raw }], {
      untagged: {
        SEARCH: async (untagged) => {
          const values = untagged?.numbers ?? (untagged?.attributes ?? []).map((attribute) => Number(attribute.value));
          for (const value of values) if (Number.isSafeInteger(value) && value > 0) found.push(value);
        },
      },
    });
    response.next();
  } catch (error) {
    // A NO or BAD answer: the server refused what was written.
    const status = (error as { responseStatus?: unknown }).responseStatus;
    if (status === 'NO' || status === 'BAD') return false;
    throw error;
  }
  return found;
}
