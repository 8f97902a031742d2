/**
 * Maildir adapter (https://cr.yp.to/proto/maildir.html, Maildir++ folders as Dovecot and
 * Courier lay them out).
 *
 * - A message is a file in `new/` (not yet seen by a mail client) or `cur/`; its name is
 *   `<unique>` or `<unique>:2,<flags>`. The unique part is the message's uid: it survives
 *   flag changes and moves between `new/` and `cur/`.
 * - Flags are single letters, kept sorted: S seen, R replied, F flagged, T trashed,
 *   D draft; lowercase letters are Dovecot keywords (kept as they are, not reported).
 * - Folders are sibling directories of the root Maildir: `Archive/2024` is `<root>/.Archive.2024`.
 *
 * Other programs (a mail client, Dovecot, an MDA) may work on the same Maildir at the same
 * time: a message is looked up again by uid when its file is no longer where `list` saw it.
 * One that is gone entirely is skipped by `fetch`, and counts as done for `apply` (re-applying
 * a decision recorded before a crash must be idempotent): only a rename that would replace
 * another file, an unusable folder name or a file system error fails.
 *
 * Only regular files are messages. A symlink (it could point at /etc/shadow), a FIFO, a folder
 * or a device in new/ or cur/ is skipped with a warning and left as it is: never read, handed
 * over, archived, moved or deleted. Files are opened with O_NOFOLLOW | O_NONBLOCK and checked
 * again on the open descriptor, so one swapped for a symlink or a FIFO after the scan is
 * refused too, without blocking on the FIFO.
 */
import { constants, type Dirent, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { copyFile as copyFileTo, link, lstat, mkdir, open, readdir, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AccountConfig } from '../config/types.js';
import { hasExtras, type ActionExtras } from '../domain.js';
import type { SearchCriteria } from '../config/search.js';
import { MailboxError } from '../errors.js';
import { matchesLocally, needsHeaders, refuseUnsearchable } from './local-search.js';
import { escapeControls } from '../report/sanitize.js';
import { MAILDIR_FLAGS } from './flag-name.js';
import type {
  Candidate,
  Disposition,
  DispositionResult,
  FetchedMessage,
  ListOptions,
  Mailbox,
  MailboxCapabilities,
  MailboxStatus,
} from './types.js';

type Sub = 'new' | 'cur';

/** Where a message's file is: `<dir>/<sub>/<name>`. */
interface Location {
  dir: string;
  sub: Sub;
  name: string;
}

interface Entry extends Location {
  uid: string;
  /** The raw flag letters of the info part (`:2,FS` -> `FS`), empty in `new/`. */
  letters: string;
  stats: Stats;
}

/** Maildir flag letters -> IMAP system flags. */
const FLAG_NAMES: Record<string, string> = {
  S: '\\Seen',
  R: '\\Answered',
  F: '\\Flagged',
  T: '\\Deleted',
  D: '\\Draft',
};

const INFO = ':2,';

const CAPABILITIES: MailboxCapabilities = { move: true, markSeen: true, copy: true, flags: MAILDIR_FLAGS, idle: false, commitEndsSession: false };

/** Tries of one disposition when its file is renamed by another program meanwhile. */
const APPLY_TRIES = 3;

/**
 * How message files are opened: never through a symlink (ELOOP instead), and without
 * blocking when the name is a FIFO (a FIFO with no writer would hang the run in open()).
 */
const OPEN_MESSAGE = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export interface MaildirMailboxOptions {
  /** Where a warning goes (a non-file skipped). Default: stderr. */
  warn?: ((line: string) => void) | undefined;
  /** The verbose log (what `search:` selected). Default: none. */
  log?: ((line: string) => void) | undefined;
}

/** A Mailbox over the local Maildir at `account.path`. Nothing is touched before `open()`. */
export function createMaildirMailbox(account: AccountConfig, options: MaildirMailboxOptions = {}): Mailbox {
  const name = account.name;
  /** Last known place of every uid `list` returned, updated by `apply`. */
  const known = new Map<string, Location>();
  const warn = options.warn ?? ((line: string) => void process.stderr.write(`mailpoll: ${line}\n`));
  /** The uids in each copy target folder (read once per folder): a copy made before is found under any flags. */
  const copies = new Map<string, Set<string>>();
  const log = options.log;
  /** Non-files already warned about: the folder is scanned several times per cycle, said once. */
  const skipped = new Set<string>();

  /** A name in new/ or cur/ that is not a regular file: say so once, leave it alone. */
  function skipNonFile(file: string, stats: Stats): void {
    if (skipped.has(file)) return;
    skipped.add(file);
    warn(`${name}: warning: skipped ${escapeControls(file)}: ${kindOf(stats)}, not a message file; left as it is`);
  }

  function root(): string {
    if (account.path === undefined || account.path === '') {
      throw new MailboxError(`${name}: no path is set for this maildir account. Set path to the Maildir folder.`, {
        account: name,
      });
    }
    return path.resolve(account.path);
  }

  function error(message: string, cause?: unknown): MailboxError {
    return new MailboxError(`${name}: ${message}`, { account: name, cause });
  }

  async function scanAll(): Promise<Entry[]> {
    const dir = root();
    const [fresh, current] = await Promise.all([scan(dir, 'new', error, skipNonFile), scan(dir, 'cur', error, skipNonFile)]);
    return [...fresh, ...current];
  }

  /** The file of `uid` now: where it was last seen, or found again by a scan. */
  async function locate(uid: string): Promise<Location | undefined> {
    const last = known.get(uid);
    if (last && (await isFile(fullPath(last)))) return last;
    const found = (await scanAll()).find((entry) => entry.uid === uid);
    if (found) {
      known.set(uid, found);
      return found;
    }
    known.delete(uid);
    return undefined;
  }

  /**
   * Carry out one disposition. A message that is not there (any more) is done; when its file
   * is renamed by another program between lookup and rename/unlink (flags changed, new/ ->
   * cur/), it is looked up again.
   */
  async function applyOne(disposition: Disposition): Promise<void> {
    const { uid, action } = disposition;
    // What comes with the action first: a copy of the message as it was, then its flags.
    if (hasExtras(disposition.extras) && !(await applyExtras(uid, disposition.extras))) return;
    if (action === 'keep') return;
    if (action !== 'delete' && action !== 'markSeen' && action !== 'move') {
      const unknown: string = action;
      throw error(`unknown action "${unknown}" for message ${uid}`);
    }
    // The target first: a bad folder name is an error whether or not the message is there.
    let target: { dir: string; subfolder: boolean; folder: string } | undefined;
    if (action === 'move') {
      const folder = disposition.folder;
      if (folder === undefined) throw error(`cannot move message ${uid}: no folder given`);
      target = { ...folderDir(root(), folder), folder };
    }

    for (let attempt = 0; attempt < APPLY_TRIES; attempt += 1) {
      const from = await locate(uid);
      if (!from) return;
      const source = fullPath(from);
      switch (action) {
        case 'delete':
          try {
            await unlink(source);
          } catch (cause) {
            if (isNotFound(cause)) continue;
            throw error(`cannot delete ${source}: ${describeFsError(cause)}`, cause);
          }
          known.delete(uid);
          return;

        case 'markSeen': {
          const letters = sortLetters(`${lettersOf(from.name)}S`);
          const to: Location = { dir: from.dir, sub: 'cur', name: `${uid}${INFO}${letters}` };
          if (!(await moveFile(from, to))) continue;
          known.set(uid, to);
          return;
        }

        case 'move': {
          const dir = await ensureFolder(target!.dir, target!.subfolder, target!.folder);
          // The message keeps its place: new/ stays new/, cur/ keeps its name and so its flags.
          const to: Location = { dir, sub: from.sub, name: from.name };
          if (!(await moveFile(from, to))) continue;
          // The message has left this Maildir unless the target is the folder itself.
          if (path.resolve(dir) === path.resolve(from.dir)) known.set(uid, to);
          else known.delete(uid);
          return;
        }
      }
    }
    throw error(`message ${uid} keeps being renamed by another program; try again`);
  }

  /** The copy and flags of `extras`. False when the message is not there (nothing left to do). */
  async function applyExtras(uid: string, extras: ActionExtras): Promise<boolean> {
    const add = extras.flags.map(letterOf);
    const remove = extras.unflags.map(letterOf);
    let copyDir: string | undefined;
    if (extras.copyTo !== undefined) {
      let target: { dir: string; subfolder: boolean };
      try {
        target = folderDir(root(), extras.copyTo);
      } catch (cause) {
        throw error(`cannot copy message ${uid}: ${(cause as Error).message}`, cause);
      }
      copyDir = await ensureFolder(target.dir, target.subfolder, extras.copyTo);
    }
    for (let attempt = 0; attempt < APPLY_TRIES; attempt += 1) {
      const from = await locate(uid);
      if (!from) return false;
      if (copyDir !== undefined && !(await copyFile(from, copyDir))) continue;
      copyDir = undefined;
      if (add.length === 0 && remove.length === 0) return true;
      const letters = sortLetters([...lettersOf(from.name), ...add].filter((letter) => !remove.includes(letter)).join(''));
      // Unchanged (a flag set again, one cleared that was not there): nothing to rename.
      if (letters === sortLetters(lettersOf(from.name)) && (from.sub === 'cur' || letters === '')) return true;
      const to: Location = { dir: from.dir, sub: 'cur', name: `${uid}${INFO}${letters}` };
      if (!(await moveFile(from, to))) continue;
      known.set(uid, to);
      return true;
    }
    throw error(`message ${uid} keeps being renamed by another program; try again`);
  }

  /** The Maildir letter of a flag a handler may set; the planner refuses the others before this. */
  function letterOf(flag: string): string {
    const letter = Object.keys(FLAG_NAMES).find((key) => FLAG_NAMES[key] === flag);
    if (letter === undefined || !MAILDIR_FLAGS.includes(flag)) throw error(`a Maildir stores only the flags ${MAILDIR_FLAGS.join(' and ')}; ${flag} cannot be set or cleared`);
    return letter;
  }

  /**
   * A copy of the message under its own name in the folder `dir` (same new/ or cur/ and flags),
   * written to tmp/ and fsync'd, then linked into place. Its unique name there already (with
   * whatever flags) is this copy, made by an earlier attempt: copying again adds none. False
   * when the source went away.
   */
  async function copyFile(from: Location, dir: string): Promise<boolean> {
    const uid = uidOf(from.name);
    let there = copies.get(dir);
    if (there === undefined) {
      const entries = await Promise.all((['new', 'cur'] as const).map((sub) => scan(dir, sub, error, skipNonFile)));
      there = new Set(entries.flat().map((entry) => entry.uid));
      copies.set(dir, there);
    }
    if (there.has(uid)) return true;
    const target = path.join(dir, from.sub, from.name);
    const temporary = path.join(dir, 'tmp', from.name);
    try {
      await unlink(temporary).catch(() => undefined);
      await copyFileTo(fullPath(from), temporary, constants.COPYFILE_EXCL);
      // Its mtime is its INTERNALDATE for Dovecot: the copy keeps the original's.
      const times = await stat(fullPath(from));
      await utimes(temporary, times.atime, times.mtime);
      const handle = await open(temporary, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await link(temporary, target).catch((cause: unknown) => {
        if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
      });
      there.add(uid);
      return true;
    } catch (cause) {
      if (isNotFound(cause) && !(await exists(fullPath(from)))) return false;
      throw error(`cannot copy ${fullPath(from)} to ${target}: ${describeFsError(cause)}`, cause);
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }

  /**
   * Atomic rename; refuses to replace an existing file (Maildir names are unique, but a
   * replace would lose mail). False when the source is gone (renamed or removed meanwhile).
   */
  async function moveFile(from: Location, to: Location): Promise<boolean> {
    const source = fullPath(from);
    const target = fullPath(to);
    if (source === target) return true;
    if (await exists(target)) throw error(`cannot move ${source}: ${target} already exists`);
    try {
      await rename(source, target);
      return true;
    } catch (cause) {
      if (isNotFound(cause) && !(await exists(source))) return false;
      throw error(`cannot move ${source} to ${target}: ${describeFsError(cause)}`, cause);
    }
  }

  /** The Maildir++ folder at `dir`, created (cur/ new/ tmp/ + maildirfolder) when missing. */
  async function ensureFolder(dir: string, subfolder: boolean, folder: string): Promise<string> {
    if (await isMaildir(dir)) return dir;
    try {
      for (const sub of ['tmp', 'new', 'cur']) await mkdir(path.join(dir, sub), { recursive: true, mode: 0o700 });
      // Dovecot and Courier mark subfolders with an empty `maildirfolder` file.
      if (subfolder) await writeFile(path.join(dir, 'maildirfolder'), '', { flag: 'a', mode: 0o600 });
    } catch (cause) {
      throw error(`cannot create folder ${folder} at ${dir}: ${describeFsError(cause)}`, cause);
    }
    return dir;
  }

  return {
    protocol: 'maildir',
    capabilities: CAPABILITIES,

    async open(): Promise<MailboxStatus> {
      const dir = root();
      if (!(await isMaildir(dir))) throw error(`${dir} is not a Maildir (no cur/, new/, tmp/). Check path.`);
      const entries = await scanAll();
      return {
        folder: dir,
        total: entries.length,
        unseen: entries.filter(isUnseen).length,
      };
    },

    /**
     * `new/` and `cur/`, or with `onlyUnseen` `new/` plus `cur/` without S, and with `skipKeyword`
     * (`\Flagged`, `\Seen`) without its letter (a message flagged
     * T, trashed, still counts: like IMAP's UNSEEN, which ignores \Deleted). Oldest first by
     * mtime, then name; dotfiles and anything that is not a file are skipped.
     */
    async list({ onlyUnseen, skipKeyword, limit, skip, search, now }: ListOptions): Promise<Candidate[]> {
      if (search !== undefined) refuseUnsearchable(search, 'maildir', name);
      const skipLetter = skipKeyword === undefined ? undefined : letterOf(skipKeyword);
      let entries = (await scanAll()).filter(
        (entry) => (!onlyUnseen || search?.seen !== undefined || isUnseen(entry)) && (skipLetter === undefined || !entry.letters.includes(skipLetter)),
      );
      entries.sort((a, b) => a.stats.mtimeMs - b.stats.mtimeMs || compareText(a.name, b.name));
      // What the ledger has finished with is left out before `limit` counts, and so is what does not match.
      if (skip) entries = await skip(entries.map((entry) => entry.uid)).then((leftOut) => entries.filter((entry) => !leftOut.has(entry.uid)));
      if (search !== undefined) entries = await selectMatching(entries, search, now ?? Date.now(), (line) => log?.(`info: ${name}: ${line}`));
      const chosen = limit === undefined ? entries : entries.slice(0, Math.max(0, limit));
      for (const entry of chosen) known.set(entry.uid, { dir: entry.dir, sub: entry.sub, name: entry.name });
      return chosen.map((entry) => ({
        uid: entry.uid,
        size: entry.stats.size,
        flags: flagNames(entry.letters),
        date: entry.stats.mtime,
      }));
    },

    /**
     * Read the candidates one at a time, each file whole (exact bytes). A message whose file
     * has disappeared since `list` (another program deleted or moved it away) yields nothing
     * and does not throw; any other read failure throws a MailboxError.
     */
    async *fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage> {
      for (const candidate of candidates) {
        const message = await readMessage(candidate.uid);
        if (message) yield message;
      }
    },

    /** The unique names of `uids` that are in new/ or cur/ now (one scan; none for no uids). */
    isPolledFolder(folder: string): boolean {
      try {
        return path.resolve(folderDir(root(), folder).dir) === path.resolve(root());
      } catch {
        return false; // an unusable name is refused by apply, with its reason
      }
    },

    async present(uids: string[]): Promise<Set<string>> {
      const present = new Set<string>();
      if (uids.length === 0) return present;
      const wanted = new Set(uids);
      for (const entry of await scanAll()) {
        if (!wanted.has(entry.uid)) continue;
        present.add(entry.uid);
        known.set(entry.uid, { dir: entry.dir, sub: entry.sub, name: entry.name });
      }
      return present;
    },

    /**
     * One result per disposition, in order; a failure is reported in its result, never
     * thrown. A message that is no longer there is done, whatever the action. Nothing is
     * pending: a file is renamed or unlinked at once.
     */
    async apply(dispositions: Disposition[]): Promise<DispositionResult[]> {
      const results: DispositionResult[] = [];
      for (const disposition of dispositions) {
        try {
          await applyOne(disposition);
          results.push({ uid: disposition.uid, status: 'done' });
        } catch (cause) {
          const failure =
            cause instanceof MailboxError ? cause : error(`message ${disposition.uid}: ${describeFsError(cause)}`, cause);
          results.push({ uid: disposition.uid, status: 'failed', error: failure });
        }
      }
      return results;
    },

    async commit(): Promise<string[]> {
      return [];
    },

    async close(): Promise<void> {},
  };

  async function readMessage(uid: string): Promise<FetchedMessage | undefined> {
    // Two tries: the file may be renamed (flags changed, new/ -> cur/) between locate and open.
    for (let attempt = 0; attempt < 2; attempt++) {
      const where = await locate(uid);
      if (!where) return undefined;
      const file = fullPath(where);
      let handle: FileHandle;
      try {
        handle = await open(file, OPEN_MESSAGE);
      } catch (cause) {
        if (isNotFound(cause)) continue;
        // Replaced by a symlink since the scan.
        if ((cause as NodeJS.ErrnoException).code === 'ELOOP') return skipSwapped(uid, file);
        throw error(`cannot read ${escapeControls(file)}: ${describeFsError(cause)}`, cause);
      }
      try {
        const stats = await handle.stat();
        // Replaced by a FIFO, a folder or a device since the scan.
        if (!stats.isFile()) return skipSwapped(uid, file, stats);
        const raw = await handle.readFile();
        return { uid, raw, size: raw.length, flags: flagNames(lettersOf(where.name)), date: stats.mtime };
      } catch (cause) {
        throw error(`cannot read ${escapeControls(file)}: ${describeFsError(cause)}`, cause);
      } finally {
        await handle.close();
      }
    }
    return undefined;
  }

  /** A file that stopped being a regular file between scan and open: not fetched, not known. */
  async function skipSwapped(uid: string, file: string, stats?: Stats): Promise<undefined> {
    known.delete(uid);
    const now = stats ?? (await lstat(file).catch(() => undefined));
    if (now) skipNonFile(file, now);
    return undefined;
  }
}

/**
 * Directory of the Maildir++ folder `folder` (`Archive/2024` -> `<root>/.Archive.2024`);
 * `INBOX` (any case) is the root itself. Throws a plain Error for an unusable name.
 */
function folderDir(accountPath: string, folder: string): { dir: string; subfolder: boolean } {
  const resolved = path.resolve(accountPath);
  // A path whose basename starts with `.` is already a Maildir++ subfolder: the root is its parent.
  const root = path.basename(resolved).startsWith('.') ? path.dirname(resolved) : resolved;
  if (folder.toUpperCase() === 'INBOX') return { dir: root, subfolder: false };
  const parts = folder.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..' || part.includes('\0'))) {
    throw new Error(`invalid folder name ${JSON.stringify(folder)}: empty, '.' or '..' parts are not allowed`);
  }
  return { dir: path.join(root, `.${parts.join('.')}`), subfolder: true };
}

async function scan(
  dir: string,
  sub: Sub,
  error: (message: string, cause?: unknown) => MailboxError,
  skipNonFile: (file: string, stats: Stats) => void,
): Promise<Entry[]> {
  const base = path.join(dir, sub);
  let names: Dirent[];
  try {
    names = await readdir(base, { withFileTypes: true });
  } catch (cause) {
    throw error(`cannot read ${base}: ${describeFsError(cause)}`, cause);
  }
  const entries = await Promise.all(
    names
      .filter((dirent) => !dirent.name.startsWith('.'))
      .map(async (dirent): Promise<Entry | undefined> => {
        // lstat: a symlink is not followed. A file removed since readdir is simply not there.
        const file = path.join(base, dirent.name);
        const stats = await lstat(file).catch(() => undefined);
        if (!stats) return undefined;
        if (!stats.isFile()) {
          skipNonFile(file, stats);
          return undefined;
        }
        return { dir, sub, name: dirent.name, uid: uidOf(dirent.name), letters: lettersOf(dirent.name), stats };
      }),
  );
  return entries.filter((entry): entry is Entry => entry !== undefined);
}

function uidOf(name: string): string {
  const at = name.indexOf(INFO);
  return at === -1 ? name : name.slice(0, at);
}

function lettersOf(name: string): string {
  const at = name.indexOf(INFO);
  return at === -1 ? '' : name.slice(at + INFO.length);
}

function sortLetters(letters: string): string {
  return [...new Set(letters)].sort(compareText).join('');
}

function flagNames(letters: string): string[] {
  return [...new Set(letters)].flatMap((letter) => FLAG_NAMES[letter] ?? []);
}

function isUnseen(entry: Entry): boolean {
  return entry.sub === 'new' || !entry.letters.includes('S');
}

/** Plain code-unit order (ASCII for Maildir names), not locale order. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `search:` applied here (a Maildir has no server to ask): flags from the file name, the size
 * of the file, the header block read from its start when a criterion needs it.
 */
async function selectMatching(entries: Entry[], criteria: SearchCriteria, now: number, log: (line: string) => void): Promise<Entry[]> {
  const withHeaders = needsHeaders(criteria);
  const chosen: Entry[] = [];
  for (const entry of entries) {
    const headers = withHeaders ? await readHeaderBlock(fullPath(entry)) : undefined;
    if (matchesLocally(criteria, { headers, size: entry.stats.size, flags: flagNames(entry.letters) }, now)) chosen.push(entry);
  }
  log(`search applied by mailpoll (a Maildir has no server to search), on ${withHeaders ? 'each header block and size' : 'flags and sizes'}: ${chosen.length} of ${entries.length} match`);
  return chosen;
}

/** The start of a message file up to its first empty line (at most 256 KiB); empty when it cannot be read (gone since the scan). */
async function readHeaderBlock(file: string): Promise<Buffer> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, OPEN_MESSAGE);
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < HEADER_BLOCK_LIMIT) {
      const { bytesRead, buffer } = await handle.read(Buffer.alloc(16 * 1024), 0, 16 * 1024, total);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (/\r?\n\r?\n/.test(buffer.subarray(0, bytesRead).toString('latin1'))) break;
    }
    return Buffer.concat(chunks);
  } catch {
    return Buffer.alloc(0);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

const HEADER_BLOCK_LIMIT = 256 * 1024;

function fullPath(location: Location): string {
  return path.join(location.dir, location.sub, location.name);
}

async function isMaildir(dir: string): Promise<boolean> {
  const subs = await Promise.all(['cur', 'new', 'tmp'].map((sub) => stat(path.join(dir, sub)).catch(() => undefined)));
  return subs.every((stats) => stats?.isDirectory() === true);
}

/** A regular file (a symlink is not followed: it is not a message). */
async function isFile(file: string): Promise<boolean> {
  return (await lstat(file).catch(() => undefined))?.isFile() === true;
}

/** Anything at `file`, a dangling symlink included (a rename would replace it). */
async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (cause) {
    return !isNotFound(cause);
  }
}

/** What a skipped name is, in words. */
function kindOf(stats: Stats): string {
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a named pipe (FIFO)';
  if (stats.isDirectory()) return 'a folder';
  if (stats.isSocket()) return 'a socket';
  if (stats.isBlockDevice() || stats.isCharacterDevice()) return 'a device';
  return 'not a regular file';
}

function isNotFound(cause: unknown): boolean {
  return (cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function describeFsError(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EXDEV') return 'target is on another file system';
  return code ?? (cause instanceof Error ? cause.message : String(cause));
}
