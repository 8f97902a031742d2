/**
 * The key that encrypts stored secrets: `MAILPOLL_KEY` (64 hex digits, or the base64 of 32
 * bytes), else a key file beside the store, created 0600 on first use (random, 64 hex digits).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { ConfigError, describeError } from '../errors.js';

export const KEY_BYTES = 32;
export const KEY_VARIABLE = 'MAILPOLL_KEY';

/** 32 bytes from 64 hex digits or base64 (with or without padding); undefined when it is neither. */
export function parseKey(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(value)) {
    const key = Buffer.from(value, 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  return undefined;
}

/**
 * The key: from `env.MAILPOLL_KEY` when set, else read from `keyFile`; `create` makes the
 * file (0600 whatever the umask, never overwriting one that appeared meanwhile) when it is
 * missing. Without `create` a missing key file is undefined: nothing was ever stored.
 */
export function loadKey(keyFile: string, env: NodeJS.ProcessEnv, create: boolean): Buffer | undefined {
  const fromEnv = env[KEY_VARIABLE];
  if (fromEnv !== undefined && fromEnv !== '') {
    const key = parseKey(fromEnv);
    if (key === undefined) throw new ConfigError(`${KEY_VARIABLE}: expected 64 hex digits or the base64 of 32 bytes (e.g. from \`openssl rand -hex 32\`)`);
    return key;
  }
  const existing = readKeyFile(keyFile);
  if (existing !== undefined || !create) return existing;
  const key = randomBytes(KEY_BYTES);
  let fd: number;
  try {
    fd = openSync(keyFile, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(keyFile);
    throw new ConfigError(`cannot create the key file ${keyFile}: ${describeError(error)}. Check the folder's permissions, or set ${KEY_VARIABLE}.`, { cause: error });
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, `${key.toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return key;
}

function readKeyFile(keyFile: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(keyFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read the key file ${keyFile}: ${describeError(error)}`, { cause: error });
  }
  const key = parseKey(text);
  if (key === undefined) throw new ConfigError(`${keyFile}: not a mailpoll key (expected 64 hex digits); restore it from a backup, or set ${KEY_VARIABLE}`);
  return key;
}
