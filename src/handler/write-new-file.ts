/**
 * A file written whole or not at all under a temporary name, before the caller renames it into
 * place: never through a symbolic link, 0600 whatever the umask, removed again when the write
 * fails. What Maildir delivery and saved attachments share.
 */
import { constants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';

export interface WriteNewFileOptions {
  /** O_EXCL: fail if the name exists (a Maildir unique name); else an earlier leftover is replaced. */
  exclusive: boolean;
  /** fsync before closing: the bytes are on disk before the rename makes them visible. */
  sync: boolean;
}

export async function writeNewFile(file: string, content: Buffer, options: WriteNewFileOptions): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (options.exclusive ? constants.O_EXCL : constants.O_TRUNC);
  const handle = await open(file, flags, 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(content);
    if (options.sync) await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(file).catch(() => {});
    throw error;
  }
  await handle.close();
}
