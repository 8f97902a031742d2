import type Database from 'better-sqlite3';
import { StoreError } from '../errors.js';

/** What every part of the store shares: the connection, its file and the clock. */
export interface StoreContext {
  readonly db: Database.Database;
  /** Absolute path of the store file, for messages. */
  readonly file: string;
  /** Milliseconds since the epoch, as an integer. */
  now(): number;
}

/** A ref the caller got from this store no longer (or never) exists: a bug, said plainly. */
export function unknownRefError(context: StoreContext, ref: number): StoreError {
  return new StoreError(`store ${context.file}: no message with ref ${ref}`);
}
