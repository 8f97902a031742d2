/**
 * Read what is really in a Maildir (Dovecot's storage or a maildir account) without
 * going through mailpoll: every message with its folder, flags and subject.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoredMessage {
  /** '' for the root (INBOX), else the Maildir++ folder without the leading dot: `Archive.2024`. */
  folder: string;
  /** Maildir info letters, e.g. 'S' for seen; '' for a message in new/. */
  flags: string;
  subject: string;
  file: string;
}

export async function readMaildir(root: string): Promise<StoredMessage[]> {
  const folders = [''];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (entry.isDirectory() && entry.name.startsWith('.') && entry.name !== '.' && entry.name !== '..') {
      folders.push(entry.name.slice(1));
    }
  }
  const messages: StoredMessage[] = [];
  for (const folder of folders) {
    const base = folder === '' ? root : join(root, `.${folder}`);
    for (const sub of ['new', 'cur'] as const) {
      let names: string[];
      try {
        names = await readdir(join(base, sub));
      } catch {
        continue;
      }
      for (const name of names) {
        const file = join(base, sub, name);
        const text = await readFile(file, 'latin1');
        const subject = /^Subject: (.*)$/im.exec(text)?.[1]?.trim() ?? '';
        const info = name.includes(':2,') ? (name.split(':2,')[1] ?? '') : '';
        messages.push({ folder, flags: info, subject, file });
      }
    }
  }
  return messages.sort((a, b) => a.subject.localeCompare(b.subject));
}

/** The one message with this subject, or an error listing what is there. */
export function bySubject(messages: StoredMessage[], subject: string): StoredMessage | undefined {
  return messages.find((message) => message.subject === subject);
}
