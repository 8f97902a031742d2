/** A Maildir with given messages, to poll as a `protocol: maildir` account (no server needed). */
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from './temp.js';

/** Writes each source into `new/` of a fresh Maildir, in order (one second apart); returns its path. */
export async function maildirWith(sources: Array<string | Buffer>, label = 'src'): Promise<string> {
  const path = join(await makeTempDir(label), 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  for (const [index, source] of sources.entries()) {
    const file = join(path, 'new', `${1_767_000_000 + index}.M${index}P1.source`);
    await writeFile(file, source);
    await utimes(file, 1_767_000_000 + index, 1_767_000_000 + index);
  }
  return path;
}
