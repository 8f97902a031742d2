/**
 * The bench's mail server: the tests' private Dovecot (test/helpers/dovecot.ts), one user per
 * mailbox state (`n2000`, `n10000`, `big`, `empty`, ...), each seeded once, snapshotted as
 * a pristine Maildir and restored before every timed run, so every run starts from the
 * same state (same files, same UIDs, same UIDVALIDITY, no Dovecot index).
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { startDovecot, type Dovecot, type DovecotOptions } from '../../test/helpers/dovecot.js';
import { generateMessage } from './content.js';

const execFileAsync = promisify(execFile);

export const PASSWORD = 'bench-secret';

export interface MailboxSpec {
  /** Dovecot user name, also the scenario's key. */
  user: string;
  count: number;
  /** Target size of each message, bytes. */
  size: number;
  /** One attachment of exactly this many decoded bytes in every message (the large-message case). */
  attachmentBytes?: number;
  seed: number;
}

export interface SeededMailbox extends MailboxSpec {
  /** Sum of the messages' sizes as written (LF line ends). */
  bytes: number;
  /** Sum of the sizes as the server sends them (CRLF line ends: what IMAP/POP3 transfer). */
  wireBytes: number;
  /** Largest single message as sent (CRLF). */
  largestWire: number;
  attachments: number;
}

export interface FolderState {
  messages: number;
  unseen: number;
}

/** What the server log says a client did during a run. */
export interface SessionStats {
  sessions: number;
  /** IMAP: bytes the server sent (`out=`); POP3: bytes of RETRieved messages (`retr=n/bytes`). */
  sentBytes: number;
  /** POP3 RETR count, IMAP body_count. */
  bodies: number;
  /** Logins, and those over TLS (implicit or STARTTLS): Dovecot marks them `TLS`. */
  logins: number;
  tlsLogins: number;
}

export class BenchServer {
  readonly dovecot: Dovecot;
  readonly #pristine = new Map<string, string>();
  #logOffset = 0;

  private constructor(dovecot: Dovecot) {
    this.dovecot = dovecot;
  }

  /** `options`: e.g. higher process limits for many accounts at once (bench/accounts.ts). */
  static async start(options: DovecotOptions = {}): Promise<BenchServer> {
    return new BenchServer(await startDovecot(options));
  }

  get host(): string {
    return this.dovecot.host;
  }

  get ports(): Dovecot['ports'] {
    return this.dovecot.ports;
  }

  get caFile(): string {
    return this.dovecot.caFile;
  }

  async stop(): Promise<void> {
    await this.dovecot.stop();
  }

  /** Create the user, deliver its messages, let Dovecot assign UIDs, keep a pristine copy. */
  async seed(spec: MailboxSpec, progress: (line: string) => void): Promise<SeededMailbox> {
    await this.dovecot.addUser(spec.user, PASSWORD);
    let bytes = 0;
    let wireBytes = 0;
    let largestWire = 0;
    let attachments = 0;
    const started = Date.now();
    for (let index = 0; index < spec.count; index += 1) {
      const message = generateMessage(spec.seed, index, spec.size, spec.attachmentBytes);
      await this.dovecot.deliver(spec.user, message.raw, { date: new Date(Date.UTC(2026, 0, 5) + index * 1000) });
      bytes += message.raw.length;
      const wire = message.raw.length + countNewlines(message.raw);
      wireBytes += wire;
      largestWire = Math.max(largestWire, wire);
      if (message.hasAttachment) attachments += 1;
      if (index > 0 && index % 2000 === 0) progress(`  seeding ${spec.user}: ${index}/${spec.count}`);
    }
    // An empty mailbox has no Maildir yet: make one.
    if (spec.count === 0) await this.dovecot.deliver(spec.user, 'Subject: x\n\nx\n').then((file) => rm(file));
    // Selecting the folder once makes Dovecot move new/ to cur/ and write dovecot-uidlist and
    // dovecot-uidvalidity: the pristine copy keeps them, so UIDs and UIDVALIDITY (and POP3
    // UIDLs) are the same in every run.
    await this.#withClient(spec.user, async (client) => {
      const lock = await client.getMailboxLock('INBOX');
      lock.release();
    });
    const pristine = path.join(this.dovecot.dir, 'pristine', spec.user);
    await mkdir(path.dirname(pristine), { recursive: true });
    await execFileAsync('cp', ['-a', this.dovecot.maildir(spec.user), pristine]);
    await removeIndexes(pristine);
    this.#pristine.set(spec.user, pristine);
    progress(`  seeded ${spec.user}: ${spec.count} messages, ${(bytes / 1e6).toFixed(1)} MB, ${attachments} with attachments (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return { ...spec, bytes, wireBytes, largestWire, attachments };
  }

  /**
   * Put the user's Maildir back to its pristine state (ownership kept). The messages are
   * hard links to the pristine files: Maildir never rewrites a message file (a flag is a
   * rename, an expunge an unlink), and linking 10,000 files is several times faster than
   * copying them, which keeps a full bench within its time. Dovecot's own files at the
   * top (dovecot-uidlist, ...) are copied, since it may write them in place.
   */
  async restore(user: string): Promise<void> {
    const pristine = this.#pristine.get(user);
    if (!pristine) throw new Error(`no pristine copy of ${user}`);
    const maildir = this.dovecot.maildir(user);
    await rm(maildir, { recursive: true, force: true });
    await execFileAsync('cp', ['-a', '--link', pristine, maildir]);
    for (const entry of await readdir(pristine, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const target = path.join(maildir, entry.name);
      await rm(target);
      await execFileAsync('cp', ['-a', path.join(pristine, entry.name), target]);
    }
  }

  /** Messages and unseen messages in INBOX, as the server sees them (IMAP STATUS). */
  async status(user: string): Promise<FolderState> {
    const state = await this.#withClient(user, async (client) => {
      const status = await client.status('INBOX', { messages: true, unseen: true });
      if (!status) throw new Error('STATUS failed');
      return { messages: status.messages ?? -1, unseen: status.unseen ?? -1 };
    });
    return state;
  }

  /** Remember where the log is now: `sessionStats` reports what happened after this point. */
  async markLog(): Promise<void> {
    this.#logOffset = (await this.dovecot.logLines()).length;
  }

  /**
   * Sessions of `user` since `markLog()`, once they have all ended. Dovecot's log process
   * writes lines a moment after the fact: wait until at least `minSessions` sessions have
   * ended, none is open, and the log stayed that way for 100 ms (at most `waitMs`).
   */
  async sessionStats(user: string, minSessions = 0, waitMs = 5000): Promise<SessionStats> {
    return this.#waitQuiet(this.#logOffset, user, minSessions, waitMs);
  }

  async #waitQuiet(offset: number, user: string, minSessions: number, waitMs: number): Promise<SessionStats> {
    const deadline = Date.now() + waitMs;
    let quietSince = 0;
    let lastLength = -1;
    for (;;) {
      const lines = (await this.dovecot.logLines()).slice(offset);
      const stats = parseSessions(lines, user);
      const settled = stats.open <= 0 && stats.sessions >= minSessions;
      if (settled && lines.length === lastLength) {
        if (Date.now() - quietSince >= 100) return stats;
      } else {
        quietSince = Date.now();
      }
      lastLength = lines.length;
      if (Date.now() > deadline) return stats;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async #withClient<T>(user: string, work: (client: ImapFlow) => Promise<T>): Promise<T> {
    const client = new ImapFlow({
      host: this.dovecot.host,
      port: this.dovecot.ports.imap,
      secure: false,
      doSTARTTLS: false,
      auth: { user, pass: PASSWORD },
      logger: false,
    });
    const offset = (await this.dovecot.logLines()).length;
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.logout().catch(() => client.close());
      // The next timed run must not see this session's end in its window.
      await this.#waitQuiet(offset, user, 1, 3000);
    }
  }
}

function countNewlines(buffer: Buffer): number {
  let count = 0;
  let at = buffer.indexOf(0x0a);
  while (at !== -1) {
    count += 1;
    at = buffer.indexOf(0x0a, at + 1);
  }
  return count;
}

/** Dovecot's index files are rebuilt from the Maildir and dovecot-uidlist: leave them out. */
async function removeIndexes(maildir: string): Promise<void> {
  for (const name of await readdir(maildir)) {
    if (/^dovecot(\.list)?\.index/.test(name)) await rm(path.join(maildir, name), { force: true });
  }
}

/**
 * Count logins and ends of `user`'s sessions and what they transferred. Dovecot 2.3 logs
 * `imap-login: Info: Login: user=<u>, ...` / `pop3-login: ...` (with `, TLS,` when the
 * connection is encrypted), and at the end
 * `imap(u)<..>: Disconnected: ... in=I out=O ... body_count=B body_bytes=...` or
 * `pop3(u)<..>: Disconnected: ... top=t/p, retr=R/BYTES, del=d/m, size=s`.
 */
export function parseSessions(lines: string[], user: string): SessionStats & { open: number } {
  let logins = 0;
  let tlsLogins = 0;
  let ends = 0;
  let sentBytes = 0;
  let bodies = 0;
  for (const line of lines) {
    if (/(imap|pop3)-login: (Info: )?Login: user=</.test(line) && line.includes(`user=<${user}>`)) {
      logins += 1;
      if (/, TLS\b/.test(line)) tlsLogins += 1;
    }
    const imap = line.includes(`imap(${user})`) && /Disconnected|Logged out|Connection closed/.test(line);
    const pop3 = line.includes(`pop3(${user})`) && /Disconnected|Logged out|Connection closed/.test(line);
    if (imap) {
      ends += 1;
      sentBytes += Number(/\bout=(\d+)/.exec(line)?.[1] ?? 0);
      bodies += Number(/\bbody_count=(\d+)/.exec(line)?.[1] ?? 0);
    } else if (pop3) {
      ends += 1;
      const retr = /\bretr=(\d+)\/(\d+)/.exec(line);
      bodies += Number(retr?.[1] ?? 0);
      sentBytes += Number(retr?.[2] ?? 0);
    }
  }
  return { sessions: ends, sentBytes, bodies, logins, tlsLogins, open: logins - ends };
}
