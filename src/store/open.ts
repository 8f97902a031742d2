/**
 * Opening the store: create the folder and file on first use, recognise our own file, refuse
 * anything else with a one-line StoreError, and migrate only when the schema is behind.
 * The common path (an existing, current store) is two header reads and a few pragmas.
 */
import { statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../errors.js';
import { BUSY_TIMEOUT_MS, newerStoreError, notAStoreError, toStoreError } from './failure.js';
import { archiveFolder } from './archive-files.js';
import { isProcessAlive } from './leases.js';
import { defaultStoreFolder } from './path.js';
import { type Notice, createPrivateFile, createPrivateFolder, stderrNotice, tighten, tightenFilesIn } from './private-files.js';
import { APPLICATION_ID, NewerStoreVersion, SCHEMA_VERSION, migrateStore, readUserVersion } from './schema.js';
import { SqliteStore, SqliteWorkerStore } from './sqlite-store.js';
import type { Store } from './types.js';
import { readScalar, setPragma } from './pragma.js';

export interface OpenStoreOptions {
  /** The clock, in milliseconds since the epoch (timestamps, lease expiry, retention). Default `Date.now`. */
  now?: () => number;
  /** The host name written in leases; a dead pid is only judged on the same host. Default `os.hostname()`. */
  hostname?: string;
  /** Whether a pid on this host is running. Default `process.kill(pid, 0)`: ESRCH = dead, EPERM = alive. */
  isAlive?: (pid: number) => boolean;
  /** Where a line goes when a store file or folder is made private. Default stderr. */
  notice?: Notice;
  /** An empty store in memory, named `path` in messages: nothing is created on disk (a dry run without a store file). */
  memory?: boolean;
  /**
   * Open an existing store for reading only (`mailpoll try REF`): nothing created, tightened or
   * migrated; a store of an older schema is refused with the way out. Writes throw StoreError.
   */
  readOnly?: boolean;
  /**
   * Every `mailpoll --watch` on this store is a worker (the config's `workers: true`): the
   * processes sharing the file split its accounts. Also what `mailpoll workers` lists them with.
   */
  workers?: boolean;
}

/**
 * Open (or create) the store at `path`. Throws StoreError (exit 2) when the file cannot be
 * created or opened, is not a mailpoll store or is damaged, comes from a newer mailpoll, or
 * stays locked by another process beyond the busy timeout. Never resets an existing file.
 */
export function openStore(path: string, options: OpenStoreOptions = {}): Store {
  const file = resolve(path);
  let db: Database.Database;
  try {
    if (options.memory) db = new Database(':memory:');
    else if (options.readOnly) db = new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    else {
      ensureFolder(dirname(file));
      makePrivate(file, options.notice ?? stderrNotice);
      db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    }
  } catch (error) {
    throw toStoreError(error, file);
  }
  try {
    prepareConnection(db, file, options.readOnly === true);
    const clock = options.now ?? Date.now;
    const context = { db, file, now: () => Math.floor(clock()) };
    const owner = { hostname: options.hostname ?? osHostname(), pid: process.pid, isAlive: options.isAlive ?? isProcessAlive };
    return options.workers === true ? new SqliteWorkerStore(context, owner) : new SqliteStore(context, owner);
  } catch (error) {
    db.close();
    throw toStoreError(error, file);
  }
}

/** SQLite's page cache at most, in KiB. */
const PAGE_CACHE_KIB = 2048;

/** Bytes the WAL file is truncated to after a checkpoint. */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

function prepareConnection(db: Database.Database, file: string, readOnly: boolean): void {
  // The first read of the header: a file that is not SQLite fails here with SQLITE_NOTADB.
  // One read transaction, so that a second process creating the store meanwhile cannot make
  // it look half-made (no application_id yet, tables already).
  const { applicationId, version, empty } = db.transaction(() => {
    const applicationId = readScalar(db, 'PRAGMA application_id') as number;
    const version = readUserVersion(db);
    return { applicationId, version, empty: applicationId === 0 && version === 0 && isEmpty(db) };
  })();
  let fresh = false;
  if (applicationId !== APPLICATION_ID) {
    if (!empty) throw notAStoreError(file, 'a SQLite database of another application');
    fresh = true;
  }
  if (version > SCHEMA_VERSION) throw newerStoreError(file, version);
  if (readOnly) {
    if (fresh || version < SCHEMA_VERSION) throw olderStoreError(file, fresh);
    // journal_mode is already WAL (it is a write to set it); the rest hold for this connection only.
    setPragma(db, 'foreign_keys = ON');
    setPragma(db, 'temp_store = MEMORY');
    return;
  }

  // Only possible before the first table, and before WAL writes the header.
  if (fresh) setPragma(db, 'auto_vacuum = INCREMENTAL');
  setPragma(db, 'journal_mode = WAL');
  setPragma(db, 'synchronous = NORMAL');
  // Statement journals and IN-list tables in memory: as temp files (the default) every write
  // of a row with its raw copy costs several times as much (figures: bench/ANALYSIS.md).
  setPragma(db, 'temp_store = MEMORY');
  // After a checkpoint, a WAL swollen by a batch of big messages shrinks back to this (watch mode).
  setPragma(db, `journal_size_limit = ${WAL_SIZE_LIMIT}`);
  // better-sqlite3 builds SQLite with a 16 MB page cache, which the archive's raw copies
  // (written once, hardly read again) fill within a thousand messages; the ledger's own pages
  // fit in a fraction of this (figures: bench/ANALYSIS.md).
  setPragma(db, `cache_size = -${PAGE_CACHE_KIB}`);

  if (version < SCHEMA_VERSION) {
    // Off while migrating (better-sqlite3 turns it on by default): see schema.ts.
    setPragma(db, 'foreign_keys = OFF');
    try {
      migrateStore(db);
    } catch (error) {
      if (error instanceof NewerStoreVersion) throw newerStoreError(file, error.version);
      throw error;
    }
  }
  // After the migrations: one that rebuilds a table must not cascade its DROP (schema.ts).
  setPragma(db, 'foreign_keys = ON');
}

/**
 * `mkdir -p`, by hand: Node's recursive mkdirSync spins forever where mkdir keeps answering
 * ENOENT (e.g. under /proc). A folder created meanwhile by another process is fine.
 * Folders mailpoll creates are 0700 (as the XDG spec asks); existing ones are not its to change.
 */
function ensureFolder(folder: string): void {
  const missing: string[] = [];
  for (let current = folder; !statSync(current, { throwIfNoEntry: false }); current = dirname(current)) {
    missing.push(current);
    if (dirname(current) === current) break;
  }
  for (const dir of missing.reverse()) {
    try {
      createPrivateFolder(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(dir).isDirectory()) throw error;
    }
  }
}

/**
 * Before SQLite opens `file`: create it 0600 if it is new (SQLite then creates -wal and -shm
 * with its mode), and narrow what an older mailpoll left readable by others: the file, its
 * -wal and -shm, the archive folder (and its files), and the default state folder, which is
 * mailpoll's own. A folder the user chose for the store is theirs: it is left as it is.
 */
function makePrivate(file: string, notice: Notice): void {
  const folder = dirname(file);
  if (folder === resolve(defaultStoreFolder())) tighten(folder, 'folder', notice);
  createPrivateFile(file);
  for (const path of [file, `${file}-wal`, `${file}-shm`]) tighten(path, 'file', notice);
  const archive = archiveFolder(file);
  if (tighten(archive, 'folder', notice)) tightenFilesIn(archive, notice);
}

/** A read-only open cannot bring a store up to date. */
function olderStoreError(file: string, empty: boolean): StoreError {
  if (empty) return new StoreError(`store ${file}: empty, no message recorded yet`);
  return new StoreError(`store ${file}: written by an older mailpoll; run mailpoll history once to bring it up to date, then try again`);
}

/** No table, index or view yet: a new file (or an empty one someone created for us). */
function isEmpty(db: Database.Database): boolean {
  return readScalar(db, 'SELECT count(*) FROM sqlite_schema') === 0;
}
