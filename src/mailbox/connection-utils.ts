/**
 * What the IMAP and POP3 adapters share around a server connection: reading the trusted CA,
 * bounding a step by a deadline, and shaping a server's text into our one-line messages.
 */
import { readFile } from 'node:fs/promises';
import type { AccountConfig } from '../config/types.js';
import { ConfigError, describeError } from '../errors.js';
import { errorCode } from './net-errors.js';

/** The account's `ca:` file (PEM), or undefined for the system's CAs. Unreadable: a ConfigError. */
export async function readCa(account: Pick<AccountConfig, 'name' | 'ca'>): Promise<Buffer | undefined> {
  const file = account.ca;
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (error) {
    throw new ConfigError(`${account.name}: ca: cannot read ${file} (${errorCode(error) ?? describeError(error)}). Check the path.`, {
      account: account.name,
      cause: error,
    });
  }
}

/**
 * `work`, or the error `onTimeout` returns after `ms` (it also ends the connection: a stalled
 * session cannot be resumed). The timer never keeps the process alive.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** `text` ending in a full stop, so a fix can follow it. */
export function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
