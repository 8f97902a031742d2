/**
 * Stored secrets: one JSON file beside the store (`mailpoll.secrets`), each value encrypted
 * with AES-256-GCM (a fresh 12-byte IV per write, the secret's name as additional data so a
 * value cannot be moved to another name), the key from `key.ts`. Names and dates are plain,
 * values never are.
 *
 * Why a file and not a table in the SQLite store: a rotated OAuth2 refresh token must be on
 * disk before it is used, whatever the store is doing (a run holds it in transactions, a dry
 * run never writes it); `secret set` needs no store, and a store copied for debugging carries
 * no credentials. Every change is written to a temporary file (0600), fsync'd, renamed over
 * the old one and the folder fsync'd, under a lock file, so a crash leaves the old file or
 * the new one, never a mix, and two processes never lose each other's changes.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, describeError } from '../errors.js';
import { defaultStorePath } from '../store/path.js';
import { isPostgresUrl } from '../store/postgres/store-url.js';
import { loadKey } from './key.js';

/** Where the secrets and their key file are. */
export interface SecretsLocation {
  file: string;
  keyFile: string;
}

/** The secrets beside the store file `storeFile`. */
export function secretsBeside(storeFile: string): SecretsLocation {
  // A PostgreSQL store keeps no files: the secrets stay in the default store's folder.
  const dir = path.dirname(isPostgresUrl(storeFile) ? defaultStorePath() : storeFile);
  return { file: path.join(dir, 'mailpoll.secrets'), keyFile: path.join(dir, 'mailpoll.key') };
}

/** What `secret list` shows: never a value. */
export interface SecretEntry {
  name: string;
  created: string;
  updated: string;
}

interface StoredSecret {
  created: string;
  updated: string;
  iv: string;
  tag: string;
  data: string;
}

interface SecretsFile {
  version: 1;
  secrets: Record<string, StoredSecret>;
}

const NAME = /^[A-Za-z0-9._:@-]{1,200}$/;

/** Why `name` cannot name a secret, or undefined. */
export function secretNameProblem(name: string): string | undefined {
  return NAME.test(name) ? undefined : 'expected a name of letters, digits and . _ : @ - (at most 200)';
}

/** How long a lock file may be held before it is taken for the leftover of a crash. */
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 10_000;

export class SecretStore {
  constructor(
    readonly location: SecretsLocation,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Names and dates, sorted by name. */
  async list(): Promise<SecretEntry[]> {
    const { secrets } = await this.#read();
    return Object.entries(secrets)
      .map(([name, { created, updated }]) => ({ name, created, updated }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The value of `name`, or undefined when there is no such secret. */
  async get(name: string): Promise<string | undefined> {
    const stored = (await this.#read()).secrets[name];
    if (stored === undefined) return undefined;
    const key = loadKey(this.location.keyFile, this.env, false);
    if (key === undefined) {
      throw new ConfigError(`${this.location.file}: cannot decrypt the secret "${name}": its key file ${this.location.keyFile} is missing. Restore it from a backup, set MAILPOLL_KEY, or store the secret again with \`mailpoll secret set ${name}\`.`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(stored.iv, 'base64'));
      decipher.setAAD(Buffer.from(name, 'utf8'));
      decipher.setAuthTag(Buffer.from(stored.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(stored.data, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw this.#noKey(name);
    }
  }

  /** Store `value` under `name` (durably: on disk when this resolves). */
  async set(name: string, value: string, now = new Date()): Promise<void> {
    await this.#update((file) => {
      const key = loadKey(this.location.keyFile, this.env, true)!;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(name, 'utf8'));
      const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
      const at = now.toISOString();
      file.secrets[name] = {
        created: file.secrets[name]?.created ?? at,
        updated: at,
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        data: data.toString('base64'),
      };
      return true;
    });
  }

  /** Remove `name`; false when there was no such secret. */
  async delete(name: string): Promise<boolean> {
    let found = false;
    await this.#update((file) => {
      found = Object.hasOwn(file.secrets, name);
      delete file.secrets[name];
      return found;
    });
    return found;
  }

  #noKey(name: string): ConfigError {
    return new ConfigError(
      `${this.location.file}: cannot decrypt the secret "${name}": the key (MAILPOLL_KEY, else ${this.location.keyFile}) is not the one it was stored with. Use that key, or store the secret again with \`mailpoll secret set ${name}\`.`,
    );
  }

  async #read(): Promise<SecretsFile> {
    let text: string;
    try {
      text = await readFile(this.location.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, secrets: {} };
      throw new ConfigError(`cannot read ${this.location.file}: ${describeError(error)}`, { cause: error });
    }
    try {
      const parsed = JSON.parse(text) as SecretsFile;
      if (parsed.version === 1 && parsed.secrets !== null && typeof parsed.secrets === 'object') return parsed;
    } catch {
      // reported below
    }
    throw new ConfigError(`${this.location.file}: not a mailpoll secrets file; restore it from a backup or move it away`);
  }

  /** Read, change (`change` answers whether anything changed) and write back, under the lock. */
  async #update(change: (file: SecretsFile) => boolean): Promise<void> {
    await mkdir(path.dirname(this.location.file), { recursive: true, mode: 0o700 });
    const release = await this.#lock();
    try {
      const file = await this.#read();
      if (change(file)) await this.#write(file);
    } finally {
      await release();
    }
  }

  async #write(file: SecretsFile): Promise<void> {
    const target = this.location.file;
    const temporary = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await open(temporary, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
    try {
      await handle.chmod(0o600);
      await handle.writeFile(`${JSON.stringify(file, null, 1)}\n`);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(temporary, { force: true });
      throw error;
    }
    await handle.close();
    await rename(temporary, target);
    // The rename itself is durable only once the folder is.
    const folder = await open(path.dirname(target), 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }

  async #lock(): Promise<() => Promise<void>> {
    const lockFile = `${this.location.file}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const handle = await open(lockFile, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
        await handle.writeFile(String(process.pid));
        await handle.close();
        return () => rm(lockFile, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new ConfigError(`cannot write ${this.location.file}: ${describeError(error)}. Check the folder's permissions.`, { cause: error });
        }
      }
      const held = await stat(lockFile).then((stats) => Date.now() - stats.mtimeMs, () => 0);
      if (held > STALE_LOCK_MS) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new ConfigError(`${lockFile}: another mailpoll is changing the stored secrets; if none runs, remove this file`);
      await sleep(50);
    }
  }
}
