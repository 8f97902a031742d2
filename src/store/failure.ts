/**
 * SQLite and file-system failures -> `StoreError`, one line each: what, where, the fix.
 * SQLite's own codes stay in here; what leaves the store is always a StoreError (exit 2).
 * mailpoll never "repairs" a store by starting over: a damaged or foreign file is refused.
 */
import { type Stats, accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError, describeError } from '../errors.js';
import { SCHEMA_VERSION } from './schema.js';

/** How long a writer waits for another process's write lock before giving up (ms). */
export const BUSY_TIMEOUT_MS = 5000;

const where = "Use --store PATH or 'store:' in the config to put it somewhere writable.";

export function notAStoreError(file: string, why: string, cause?: unknown): StoreError {
  return new StoreError(
    `store ${file} is not a mailpoll store or is damaged (${why}). Move it away to start a new one; mailpoll never resets it by itself.`,
    { cause },
  );
}

export function newerStoreError(file: string, version: number): StoreError {
  return new StoreError(
    `store ${file} was written by a newer mailpoll (store version ${version}; this mailpoll knows up to ${SCHEMA_VERSION}). Upgrade mailpoll, or use another store with --store PATH.`,
  );
}

export function lockedStoreError(file: string, cause?: unknown): StoreError {
  return new StoreError(
    `store ${file} is locked by another process (still busy after ${BUSY_TIMEOUT_MS / 1000} s). Another mailpoll may be writing to it; try again, or find the process that holds the file.`,
    { cause },
  );
}

export function cannotOpenStoreError(file: string, why: string, cause?: unknown): StoreError {
  return new StoreError(`cannot open store ${file}: ${why}. ${where}`, { cause });
}

/** Map anything thrown by better-sqlite3 or node:fs while using the store at `file`. */
export function toStoreError(error: unknown, file: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = errorCode(error);
  if (code === 'SQLITE_NOTADB') return notAStoreError(file, 'file is not a database', error);
  if (code.startsWith('SQLITE_CORRUPT')) return notAStoreError(file, 'database disk image is malformed', error);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return lockedStoreError(file, error);
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return cannotOpenStoreError(file, diagnoseOpen(file, error), error);
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR' || code === 'EEXIST' || code === 'ENOENT') {
    return cannotOpenStoreError(file, fsReason(code, error), error);
  }
  if (code === 'SQLITE_FULL') {
    return new StoreError(`store ${file}: the disk is full. Free some space and run again; the step that failed was not recorded.`, { cause: error });
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return new StoreError(`store ${file}: I/O error (${code}: ${describeError(error)}). Check the disk and the file system.`, { cause: error });
  }
  return new StoreError(`store ${file}: ${describeError(error)}${code ? ` (${code})` : ''}`, { cause: error });
}

function errorCode(error: unknown): string {
  if (error instanceof Database.SqliteError) return error.code;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

function fsReason(code: string, error: unknown): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${pathOf(error)})`;
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
    case 'EEXIST':
      return `a part of the path is a file, not a folder (${pathOf(error)})`;
    case 'ENOENT':
      return `no such file or folder (${pathOf(error)})`;
    default:
      return describeError(error);
  }
}

function pathOf(error: unknown): string {
  const path = (error as NodeJS.ErrnoException | undefined)?.path;
  return typeof path === 'string' ? path : describeError(error);
}

/** SQLite says only "unable to open database file": find out why from the file system. */
function diagnoseOpen(file: string, error: unknown): string {
  const folder = dirname(file);
  const dir = statQuietly(folder);
  if (!dir) return `the folder ${folder} does not exist`;
  if (!dir.isDirectory()) return `${folder} is a file, not a folder`;
  const target = statQuietly(file);
  if (target?.isDirectory()) return 'it is a folder, not a file';
  if (!writable(folder)) return `no write permission in ${folder} (the store keeps -wal and -shm files beside it)`;
  if (target && !writable(file)) return 'the file is read-only';
  return describeError(error);
}

function statQuietly(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
