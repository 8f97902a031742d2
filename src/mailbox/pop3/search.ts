/**
 * `search:` on POP3, which has no SEARCH: each listed message's header block comes from
 * `TOP n 0` (pipelined where the server allows it; skipped when only sizes are asked about)
 * and is matched by `local-search.ts`. The verbose log says that the filtering is local.
 */
import type { SearchCriteria } from '../../config/search.js';
import { matchesLocally, needsHeaders } from '../local-search.js';
import type { Candidate } from '../types.js';
import { refused } from './errors.js';
import type { Listing } from './listing.js';
import { runCommands, type Session } from './session.js';
import type { ConnectionGuard } from '../connection-utils.js';

/** The candidates that match `criteria`, in order. */
export async function selectMatching(
  guard: ConnectionGuard,
  session: Session,
  listing: Listing,
  candidates: Candidate[],
  criteria: SearchCriteria,
  now: number,
  log: (line: string) => void,
): Promise<Candidate[]> {
  let headers: Array<Buffer | undefined> = candidates.map(() => undefined);
  const withHeaders = needsHeaders(criteria);
  if (withHeaders && candidates.length > 0) {
    const numbers = candidates.map((candidate) => listing.byUid.get(candidate.uid)?.number);
    const replies = await runCommands(
      session,
      numbers.flatMap((number) => (number === undefined ? [] : [{ line: `TOP ${number} 0`, multiline: true }])),
    );
    let next = 0;
    headers = numbers.map((number) => {
      if (number === undefined) return undefined;
      const reply = replies[next++]!;
      if (!reply.ok) throw refused(guard, `TOP ${number} 0`, 'reading headers for search', reply.text);
      return reply.body ?? Buffer.alloc(0);
    });
  }
  const chosen = candidates.filter((candidate, index) => matchesLocally(criteria, { headers: headers[index], size: candidate.size, flags: [] }, now));
  log(
    `* search applied by mailpoll (POP3 has no server-side search), on ${withHeaders ? 'each header block (TOP n 0) and size' : 'sizes'}: ` +
      `${chosen.length} of ${candidates.length} message${candidates.length === 1 ? '' : 's'} match`,
  );
  return chosen;
}
