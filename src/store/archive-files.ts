/**
 * Large raw copies as files: `<store file>-archive/<ref>.eml`, one per message, beside the
 * store. SQLite copies a bound blob twice while inserting it (the bound value, then the
 * record it builds), so a 68 MB message cost ~136 MB of extra peak memory as a blob; as a
 * file it is written straight from the Buffer mailpoll already holds.
 *
 * `archive_files` holds one row per file (ref, stored_at, bytes); the path is derived from
 * the ref, never stored. Rows and files change in the ledger's transactions; a file is only
 * removed after the transaction that dropped its row has committed.
 */
import { closeSync, existsSync, fchmodSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StoreError, describeError } from '../errors.js';
import { PRIVATE_FILE_MODE, createPrivateFolder } from './private-files.js';

/**
 * From this size up a raw copy is a file, below it a blob in `archive`. Small copies stay
 * blobs: a file each would cost a create, an fsync and a rename per 20 KB message, while
 * the double copy SQLite makes of a blob only hurts for large ones.
 */
export const ARCHIVE_FILE_MIN_BYTES = 1024 * 1024;

/** The folder of a store's raw-copy files: `/x/mailpoll.db` -> `/x/mailpoll.db-archive`. */
export function archiveFolder(storeFile: string): string {
  return `${storeFile}-archive`;
}

export class ArchiveFiles {
  readonly folder: string;

  constructor(private readonly storeFile: string) {
    this.folder = archiveFolder(storeFile);
  }

  path(ref: number): string {
    return join(this.folder, `${ref}.eml`);
  }

  /**
   * Write `raw` as the file of `ref`: a temp file written and flushed, then renamed over the
   * final name, so a crash never leaves a half-written `<ref>.eml`. The caller makes the new
   * names durable with `syncFolder()` once its batch is written. The file is 0600 before its
   * first byte (a temp file left by a crash keeps its old mode through 'w': hence the fchmod).
   */
  write(ref: number, raw: Buffer): void {
    const path = this.path(ref);
    const temp = `${path}.tmp`;
    try {
      this.ensureFolder();
      const fd = openSync(temp, 'w', PRIVATE_FILE_MODE);
      try {
        fchmodSync(fd, PRIVATE_FILE_MODE);
        // Straight from the caller's Buffer: no copy of a message that may be tens of MB.
        for (let offset = 0; offset < raw.length; ) offset += writeSync(fd, raw, offset, raw.length - offset);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
    } catch (error) {
      removeQuietly(temp);
      throw new StoreError(`store ${this.storeFile}: cannot write the raw copy of ref ${ref} to ${path}: ${describeError(error)}`, { cause: error });
    }
  }

  /** fsync the folder: the names of files just written or renamed reach the disk too. */
  syncFolder(): void {
    try {
      syncDirectory(this.folder);
    } catch (error) {
      throw new StoreError(`store ${this.storeFile}: cannot flush the folder ${this.folder}: ${describeError(error)}`, { cause: error });
    }
  }

  /** The bytes of `ref`'s file; a StoreError naming the ref and the path when it cannot be read. */
  read(ref: number): Buffer {
    const path = this.path(ref);
    try {
      return readFileSync(path);
    } catch (error) {
      throw new StoreError(`store ${this.storeFile}: the raw copy of ref ${ref} cannot be read from ${path}: ${readFailure(error)}`, { cause: error });
    }
  }

  /**
   * Remove these refs' files where there are any. Best effort: a file left behind costs only
   * disk space, never a wrong answer (no row names it), so a failure is not the caller's.
   */
  remove(refs: readonly number[]): void {
    // Most stores never get a large message: no folder, nothing to try.
    if (refs.length === 0 || !existsSync(this.folder)) return;
    for (const ref of refs) removeQuietly(this.path(ref));
  }

  /**
   * Create the folder (0700) on first use, and make its own name durable in the store's folder.
   * Asked every time (one mkdir per large message): a folder removed meanwhile comes back.
   */
  private ensureFolder(): void {
    try {
      createPrivateFolder(this.folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw error;
    }
    syncDirectory(dirname(this.folder));
  }
}

/** unlink, ignoring every failure: ENOENT means done, anything else leaves a file no row names. */
function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // See above.
  }
}

function syncDirectory(folder: string): void {
  let fd: number;
  try {
    fd = openSync(folder, 'r');
  } catch (error) {
    // Windows cannot open a folder as a file; its renames are as durable as they get there.
    if (process.platform === 'win32') return;
    throw error;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readFailure(error: unknown): string {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
      return 'the file is missing';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a folder, not a file';
    default:
      return describeError(error);
  }
}
