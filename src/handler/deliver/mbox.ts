/**
 * Delivery into an mbox file in the mboxrd dialect: a `From <sender> <asctime date>` line,
 * the message with every line matching `^>*From ` quoted by one more `>` (so that reading
 * it back removes exactly one and gets the source byte for byte), and an empty line after.
 *
 * Locking: Node has no flock(2), so writers agree through the traditional dotlock, a
 * `<file>.lock` created with O_EXCL (what procmail, mutt, Dovecot and mail.local take too;
 * `flock(1)` per message would cost a process spawn each). The lock holds `pid host`; a lock
 * whose process on this host is gone, or that is older than STALE_MS, is taken over. The
 * append is fsync'd before the lock is released.
 */
import { constants } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { syncDirectory } from './maildir.js';

/** A lock older than this is a crashed writer's (sendmail's mail.local uses 5 minutes too). */
const STALE_MS = 5 * 60_000;
const RETRY_MS = 25;
const CHUNK = 64 * 1024;

export interface MboxOptions {
  /** Give up waiting for the lock after this long. */
  lockTimeoutMs: number;
}

/** Appends `raw` to the mbox `file` (created 0600 if missing) under its dotlock. */
export async function deliverToMbox(file: string, raw: Buffer, sender: string, date: Date, options: MboxOptions): Promise<void> {
  const entry = mboxEntry(raw, sender, date);
  const release = await takeDotlock(`${file}.lock`, options.lockTimeoutMs);
  try {
    const created = (await stat(file).catch(() => undefined)) === undefined;
    const handle = await open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      // A file that does not end with an empty line (written by something else) gets one, so our From line starts a message.
      const size = (await handle.stat()).size;
      const separator = size === 0 ? '' : await missingSeparator(file, size);
      // In pieces, not one copy of the whole entry: the lock, not write(2)'s atomicity, keeps writers apart.
      if (separator !== '') await handle.write(separator);
      for (const piece of entry) await handle.write(piece);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (created) await syncDirectory(path.dirname(file));
  } finally {
    await release();
  }
}

/** Pieces of the mboxrd entry for `raw`: From line, quoted source in chunks, final newline, empty line. */
export function* mboxEntry(raw: Buffer, sender: string, date: Date): Generator<Buffer> {
  yield Buffer.from(`From ${sender || 'MAILER-DAEMON'} ${asctime(date)}\n`, 'latin1');
  // latin1 maps each byte to one character and back: any bytes, 8-bit or not, survive as they are.
  const quoted = raw.toString('latin1').replace(/^(>*From )/gm, '>$1');
  for (let start = 0; start < quoted.length; start += CHUNK) yield Buffer.from(quoted.slice(start, start + CHUNK), 'latin1');
  yield Buffer.from(quoted.endsWith('\n') ? '\n' : '\n\n');
}

/** The newlines a file of `size` bytes lacks to end with an empty line. */
async function missingSeparator(file: string, size: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const tail = Buffer.alloc(Math.min(2, size));
    await handle.read(tail, 0, tail.length, size - tail.length);
    const text = tail.toString('latin1');
    if (text.endsWith('\n\n') || text === '\n') return '';
    return text.endsWith('\n') ? '\n' : '\n\n';
  } finally {
    await handle.close();
  }
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Thu Dec  3 13:26:18 2026`, in UTC: the date of the `From ` line. */
export function asctime(date: Date): string {
  const time = date.toISOString().slice(11, 19);
  return `${WEEKDAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${String(date.getUTCDate()).padStart(2, ' ')} ${time} ${date.getUTCFullYear()}`;
}

/** Takes the dotlock `lock`, waiting up to `timeoutMs`; resolves with its release. */
async function takeDotlock(lock: string, timeoutMs: number): Promise<() => Promise<void>> {
  const owner = `${process.pid} ${hostname()}\n`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      await handle.writeFile(owner);
      await handle.close();
      return () => unlink(lock).catch(() => {});
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await isStale(lock)) {
      await unlink(lock).catch(() => {});
      continue;
    }
    if (Date.now() >= deadline) throw new Error(`mbox lock ${lock} is held by another writer (${(await readFile(lock, 'utf8').catch(() => '')).trim() || 'unknown'}); remove it if no writer is running`);
    await sleep(RETRY_MS);
  }
}

/** A lock left by a process of this host that no longer runs, or older than STALE_MS. */
async function isStale(lock: string): Promise<boolean> {
  const [info, content] = await Promise.all([stat(lock).catch(() => undefined), readFile(lock, 'utf8').catch(() => '')]);
  if (info === undefined) return false;
  if (Date.now() - info.mtimeMs > STALE_MS) return true;
  const [pid, host] = content.trim().split(' ');
  if (host !== hostname() || !/^\d+$/.test(pid ?? '')) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
