/**
 * Many small mailboxes on the bench's private Dovecot, fast: one passwd-file user per account
 * (the test Dovecot's passdb reads `users/<name>`), and the messages written straight into a
 * pristine Maildir tree (new/, no Dovecot files) with one `chown -R` at the end; IMAP
 * APPEND or one delivery at a time would take minutes for 1,000 accounts. Before every case
 * the whole tree is put back with one `cp -a --link` (Maildir never rewrites a message file:
 * flags are renames), so every case starts with every message there and unseen. Dovecot
 * numbers the messages afresh in each case; each case has a fresh store too.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Dovecot } from '../../test/helpers/dovecot.js';
import { generateMessage } from './content.js';
import { fmtCount } from './format.js';
import { PASSWORD } from './server.js';

const execFileAsync = promisify(execFile);

export interface AccountsSpec {
  accounts: number;
  messages: number;
  /** Target size of each message, bytes. */
  size: number;
  seed: number;
}

export interface SeededAccounts extends AccountsSpec {
  users: string[];
  /** Sum of the messages' sizes as written. */
  bytes: number;
  seedS: number;
}

/** `u0001` ... : names that sort as they are numbered. */
export function userName(index: number, accounts: number): string {
  return `u${String(index + 1).padStart(Math.max(4, String(accounts).length), '0')}`;
}

/** Work on `items` with at most `width` promises in flight. */
async function inBatches<T>(items: T[], width: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index] as T, index);
      }
    }),
  );
}

export class AccountMail {
  readonly #dovecot: Dovecot;
  readonly #pristine: string;
  readonly #mail: string;

  constructor(dovecot: Dovecot) {
    this.#dovecot = dovecot;
    this.#pristine = path.join(dovecot.dir, 'pristine-accounts');
    this.#mail = path.join(dovecot.dir, 'mail');
  }

  async seed(spec: AccountsSpec, progress: (line: string) => void): Promise<SeededAccounts> {
    const started = Date.now();
    const users = Array.from({ length: spec.accounts }, (_, index) => userName(index, spec.accounts));
    let bytes = 0;
    // Every account gets the same messages (the content is not what this bench measures):
    // generated once, written 1,000 times.
    const messages = Array.from({ length: spec.messages }, (_, index) => generateMessage(spec.seed, index, spec.size).raw);
    const stamp = Math.floor(Date.UTC(2026, 0, 5) / 1000);
    await inBatches(users, 32, async (user) => {
      await this.#dovecot.addUser(user, PASSWORD);
      const maildir = path.join(this.#pristine, user, 'Maildir');
      for (const sub of ['cur', 'new', 'tmp']) await mkdir(path.join(maildir, sub), { recursive: true, mode: 0o700 });
      for (const [index, raw] of messages.entries()) {
        // Maildir names: unique, and in delivery order (Dovecot numbers new/ by name).
        await writeFile(path.join(maildir, 'new', `${stamp + index}.M${index}P1Q${index}.bench`), raw, { mode: 0o600 });
        bytes += raw.length;
      }
    });
    // The mail processes run as the owner of the users' homes (addUser made them).
    const owner = await stat(path.join(this.#mail, users[0] ?? ''));
    await execFileAsync('chown', ['-R', `${owner.uid}:${owner.gid}`, this.#pristine]);
    const seedS = (Date.now() - started) / 1000;
    progress(`  seeded ${fmtCount(spec.accounts)} accounts × ${spec.messages} messages (${(bytes / 1e6).toFixed(1)} MB) in ${seedS.toFixed(1)} s`);
    return { ...spec, users, bytes, seedS };
  }

  /** Every account's Maildir as seeded: all messages in new/, no Dovecot files. */
  async restore(users: string[]): Promise<void> {
    await inBatches(users, 32, (user) => rm(path.join(this.#mail, user, 'Maildir'), { recursive: true, force: true }));
    await execFileAsync('cp', ['-a', '--link', `${this.#pristine}/.`, this.#mail]);
  }

  /**
   * What the server holds now, from the Maildirs themselves (an IMAP STATUS per account
   * would take longer than the case): messages, and those not yet seen (in new/, or in cur/
   * without the S flag).
   */
  async state(users: string[]): Promise<{ messages: number; unseen: number }> {
    let messages = 0;
    let unseen = 0;
    await inBatches(users, 32, async (user) => {
      const maildir = path.join(this.#mail, user, 'Maildir');
      const fresh = await readdir(path.join(maildir, 'new')).catch(() => []);
      const current = await readdir(path.join(maildir, 'cur')).catch(() => []);
      messages += fresh.length + current.length;
      unseen += fresh.length + current.filter((name) => !/:2,[A-Z]*S/.test(name)).length;
    });
    return { messages, unseen };
  }
}
