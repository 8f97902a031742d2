/**
 * Which folders `folders:` names on this server: names and IMAP LIST patterns (`*` any depth,
 * `%` one level) matched against one LIST, or `all` minus the folders the server marks as
 * Trash, Junk, Sent or Drafts (SPECIAL-USE). The account's own move and quarantine targets are
 * never read: mail moved there would come back as new mail.
 */
import type { ImapFlow, ListResponse } from 'imapflow';
import { folderSegments, sameFolder } from '../folder-name.js';
import type { FolderListing } from '../types.js';

const SKIPPED_BY_ALL = new Set(['\\Trash', '\\Junk', '\\Sent', '\\Drafts']);

/** One LIST on `client`'s connection, matched against `patterns` (or `all`); `exclude`: folders never read. */
export async function listMatchingFolders(client: ImapFlow, patterns: readonly string[] | 'all', exclude: readonly string[]): Promise<FolderListing> {
  const entries: readonly ListResponse[] = await client.list();
  const prefix = client.namespace?.prefix ?? '';
  const selectable = entries
    .filter((entry) => !entry.flags.has('\\Noselect') && !entry.flags.has('\\NonExistent'))
    .map((entry) => ({ entry, name: configName(entry, prefix) }))
    .filter(({ name }) => !exclude.some((target) => sameFolder(target, name)));
  if (patterns === 'all') {
    const found = selectable.filter(({ entry }) => !(entry.specialUseSource === 'extension' && SKIPPED_BY_ALL.has(entry.specialUse ?? '')));
    return { found: found.map(({ name }) => name), unmatched: [] };
  }
  const found: string[] = [];
  const unmatched: string[] = [];
  for (const pattern of patterns) {
    const test = patternRegExp(pattern);
    const hits = selectable.filter(({ name }) => test.test(name)).map(({ name }) => name);
    if (hits.length === 0) unmatched.push(pattern);
    for (const hit of hits) if (!found.includes(hit)) found.push(hit);
  }
  return { found, unmatched };
}

/** `INBOX.Projects.A` (prefix `INBOX.`, delimiter `.`) as the config writes it: `Projects/A`. */
function configName(entry: ListResponse, prefix: string): string {
  let path = entry.path;
  if (prefix !== '' && path.startsWith(prefix) && path.length > prefix.length) path = path.slice(prefix.length);
  const delimiter = entry.delimiter || '/';
  return folderSegments(path.split(delimiter).join('/')).join('/');
}

/** A config-syntax pattern as a whole-name test; INBOX is case-insensitive, the rest exact. */
function patternRegExp(pattern: string): RegExp {
  const normalised = folderSegments(pattern).join('/');
  const body = [...normalised].map((char) => (char === '*' ? '.*' : char === '%' ? '[^/]*' : char.replace(/[\\^$.|?+()[\]{}]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}
