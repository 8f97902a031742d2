/**
 * Folder names between the config and the server: `Inbox/Incidents` as the server names it
 * (INBOX, the hierarchy delimiter, the personal namespace), the comparison with the opened
 * folder, and move targets created on first use.
 */
import type { ImapFlow } from 'imapflow';
import { MailboxError } from '../../errors.js';
import { sentence, type ConnectionGuard } from '../connection-utils.js';
import { errorCode } from '../net-errors.js';
import { said, serverText } from './errors.js';

/** `Inbox/Incidents` as the server names it: `INBOX` + the server's hierarchy delimiter. */
export function serverPath(guard: ConnectionGuard, client: ImapFlow, folder: string): string {
  const segments = folder.split('/').filter((segment) => segment !== '');
  if (segments.length === 0) {
    throw new MailboxError(`${guard.name}: empty folder name "${folder}". Set folder: (e.g. INBOX).`, { account: guard.name });
  }
  if (segments[0]!.toUpperCase() === 'INBOX') segments[0] = 'INBOX';
  const delimiter = client.namespace?.delimiter;
  if (delimiter === null && segments.length > 1) {
    throw new MailboxError(`${guard.name}: ${guard.where} has no folder hierarchy, so "${folder}" cannot exist. Use a top-level folder.`, {
      account: guard.name,
    });
  }
  // imapflow adds the personal namespace prefix (e.g. `INBOX.`) where the server needs one.
  return segments.join(delimiter ?? '/');
}

/** Whether `folder` (config syntax) is `opened` (the server path of the selected folder). */
export function isSameFolder(guard: ConnectionGuard, client: ImapFlow, folder: string, opened: string): boolean {
  let path: string;
  try {
    path = serverPath(guard, client, folder);
  } catch {
    return false; // a name the server cannot have is not the opened folder
  }
  // As imapflow sends it: the personal namespace prefix (e.g. `INBOX.`) where the server needs one.
  const prefix = client.namespace?.prefix;
  if (path.toUpperCase() !== 'INBOX' && prefix && !path.startsWith(prefix)) path = prefix + path;
  const delimiter = client.namespace?.delimiter ?? '/';
  return inboxFolded(path, delimiter) === inboxFolded(opened, delimiter);
}

/** A server path with a leading INBOX segment in capitals: INBOX is the one case-insensitive name. */
function inboxFolded(path: string, delimiter: string): string {
  const [first, ...rest] = path.split(delimiter);
  if (first === undefined || first.toUpperCase() !== 'INBOX') return path;
  return ['INBOX', ...rest].join(delimiter);
}

/** The server path of a move target, created (with its parents when needed) if missing; `known`: paths seen on this connection. */
export async function ensureFolder(guard: ConnectionGuard, client: ImapFlow, folder: string, known: Set<string>): Promise<string> {
  const path = serverPath(guard, client, folder);
  if (known.has(path)) return path;
  // STATUS names one mailbox literally. LIST cannot: its `*` and `%` are wildcards with no
  // escape. imapflow answers a refused STATUS with a `LIST "" <path>` probe and returns false
  // when that pattern matches anything, so only a real STATUS answer proves the folder exists;
  // otherwise CREATE decides (imapflow takes its ALREADYEXISTS as success).
  let exists = false;
  try {
    exists = (await client.status(path, { messages: true })) !== false;
  } catch (error) {
    if (errorCode(error) !== 'NotFound') throw error;
  }
  if (!exists) {
    try {
      await client.mailboxCreate(path);
    } catch (createError) {
      // Some servers only create a folder whose parent exists: create the parents, retry.
      const segments = folder.split('/').filter((segment) => segment !== '');
      for (let depth = 1; depth < segments.length; depth += 1) {
        const parent = serverPath(guard, client, segments.slice(0, depth).join('/'));
        if (parent === 'INBOX') continue;
        await client.mailboxCreate(parent).catch(() => undefined);
      }
      await client.mailboxCreate(path).catch((retryError: unknown) => {
        const why = sentence(serverText(retryError) ? said(guard, retryError) : said(guard, createError));
        throw new MailboxError(`${guard.name} (${guard.where}): cannot create folder ${path}: ${why} Create it on the server or change the move target.`, {
          account: guard.name,
          cause: retryError,
        });
      });
    }
  }
  known.add(path);
  return path;
}

/** The folder to open is not there: say so, with the folders that are (a hint, when the server lists them). */
export async function missingFolder(guard: ConnectionGuard, client: ImapFlow, folder: string, path: string, cause: unknown): Promise<MailboxError> {
  let known = '';
  try {
    const folders = await client.list();
    const names = folders.map((entry) => entry.path).slice(0, 12);
    if (names.length > 0) known = ` Folders there: ${names.join(', ')}${folders.length > names.length ? ', ...' : ''}.`;
  } catch {
    // the listing is only a hint
  }
  return new MailboxError(`${guard.name}: folder "${folder}" (${path}) does not exist on ${guard.where}. Check folder:.${known}`, { account: guard.name, cause });
}
