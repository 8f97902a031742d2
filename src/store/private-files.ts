/**
 * The store holds days of raw mail: its files are 0600 and its folders 0700, whatever the
 * umask, and files left wider by an older mailpoll (or a copy) are tightened when the store
 * is opened, with one line on stderr per path.
 *
 * No window: every file is created with its final mode (open/mkdir with 0600/0700, which a
 * umask can only narrow), never created wide and chmod-ed afterwards. The -wal and -shm
 * files are created by SQLite itself, which gives them the database file's own mode; so the
 * database file is created here, empty and 0600, before SQLite opens it. (Setting the process
 * umask around the open would work too, but the umask is process-wide: every file the libuv
 * thread pool creates meanwhile would get it.)
 */
import { chmodSync, closeSync, constants, fchmodSync, lstatSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../errors.js';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_FOLDER_MODE = 0o700;

/** A line for stderr: a path mailpoll made private, or could not. */
export type Notice = (line: string) => void;

export const stderrNotice: Notice = (line) => {
  process.stderr.write(`mailpoll: ${line}\n`);
};

/**
 * Create `file` empty and 0600 unless something is there already. Any failure is left to
 * the caller's own open of the file, which explains it better (SQLite: "no write permission
 * in the folder", "it is a folder").
 */
export function createPrivateFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, PRIVATE_FILE_MODE);
  } catch {
    return;
  }
  try {
    // Exactly 0600 even under an odd umask (0277 would leave 0400, unwritable).
    fchmodSync(fd, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/** `mkdir` with mode 0700, and exactly 0700 whatever the umask. Throws as mkdir does (EEXIST included). */
export function createPrivateFolder(folder: string): void {
  mkdirSync(folder, PRIVATE_FOLDER_MODE);
  chmodSync(folder, PRIVATE_FOLDER_MODE);
}

/**
 * Narrow `path` to `mode` if it is wider (group or others may read, write or enter it),
 * saying so once. Nothing there, a symlink, or a type other than `kind`: left alone. A chmod
 * that fails (a file of another user) is said too, but is not an error: the store still works.
 * True when the mode was changed.
 */
export function tighten(path: string, kind: 'file' | 'folder', notice: Notice): boolean {
  const mode = kind === 'file' ? PRIVATE_FILE_MODE : PRIVATE_FOLDER_MODE;
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return false;
  }
  if (kind === 'file' ? !stats.isFile() : !stats.isDirectory()) return false;
  const old = stats.mode & 0o777;
  if ((old & 0o077) === 0) return false;
  const wanted = old & ~0o077 & 0o777;
  try {
    chmodSync(path, wanted);
  } catch (error) {
    notice(`${path} is readable by other users (mode ${octal(old)}) and could not be made private: ${describeError(error)}. Run chmod ${octal(mode)} on it.`);
    return false;
  }
  notice(`made ${path} private: mode ${octal(old)} -> ${octal(wanted)}`);
  return true;
}

/**
 * The files of a folder just tightened (an archive written by an older mailpoll): each
 * narrowed to 0600 without a line of its own, one line for all of them.
 */
export function tightenFilesIn(folder: string, notice: Notice): void {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return;
  }
  let count = 0;
  for (const name of names) if (tighten(join(folder, name), 'file', () => {})) count += 1;
  if (count > 0) notice(`made ${count} file${count === 1 ? '' : 's'} in ${folder} private: mode ${octal(PRIVATE_FILE_MODE)}`);
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}
