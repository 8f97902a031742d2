/**
 * Delivery into a Maildir as the format requires (maildir(5), D. J. Bernstein's "Using
 * maildir format"): the message is written under a unique name into `tmp/`, fsync'd, renamed
 * into `new/`, and `new/` itself fsync'd, so that a crash leaves either no message or a whole
 * one, never a half-written file another reader can see.
 */
import { constants } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { writeNewFile } from '../write-new-file.js';

/** Per process: with time, microseconds and pid, names are unique even for several per microsecond. */
let sequence = 0;

/** `<seconds>.M<microseconds>P<pid>Q<sequence>.<host>`: the unique name the Maildir spec describes. */
export function uniqueName(now = Date.now(), micros = process.hrtime.bigint()): string {
  sequence += 1;
  const seconds = Math.floor(now / 1000);
  const usec = Number(micros / 1000n) % 1_000_000;
  // `/` and `:` may not appear in the host part: the spec's octal escapes.
  const host = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072');
  return `${seconds}.M${usec}P${process.pid}Q${sequence}.${host}`;
}

/** Writes `raw` into the Maildir at `root` (creating `tmp`, `new`, `cur` 0700 if missing); returns the file in `new/`. */
export async function deliverToMaildir(root: string, raw: Buffer): Promise<string> {
  for (const sub of ['tmp', 'new', 'cur']) await mkdir(path.join(root, sub), { recursive: true, mode: 0o700 });
  const name = uniqueName();
  const temporary = path.join(root, 'tmp', name);
  const final = path.join(root, 'new', name);
  // Exclusive: a name already in tmp/ (another writer's) is never overwritten.
  await writeNewFile(temporary, raw, { exclusive: true, sync: true });
  await rename(temporary, final);
  await syncDirectory(path.join(root, 'new'));
  return final;
}

/** fsync of a folder: makes a rename or a new entry in it durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
