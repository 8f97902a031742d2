/**
 * A private Dovecot for tests: its own config, ports, certificates, users and Maildirs in
 * a temporary directory, nothing shared with the system's Dovecot or with other test files
 * running in parallel. See /work/shared/NOTES-protocols.md for the facts behind the settings.
 *
 *   const dovecot = await startDovecot();
 *   await dovecot.addUser('ann', 'secret');
 *   await dovecot.deliver('ann', message({ subject: 'hi' }));
 *   ...
 *   await dovecot.stop();
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImapFlow } from 'imapflow';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface DeliverOptions {
  /** Deliver as already read: into `cur/` with the `S` flag. Default false (`new/`). */
  seen?: boolean;
  /** `/`-separated folder below INBOX, e.g. `Archive/2024` (Maildir++ `.Archive.2024`). Default INBOX. */
  folder?: string;
  /** INTERNALDATE (the file's mtime). Default now. */
  date?: Date;
}

export interface Dovecot {
  host: '127.0.0.1';
  /** `imap`/`pop3`: plaintext with STARTTLS/STLS offered; `imaps`/`pop3s`: implicit TLS. */
  ports: { imap: number; imaps: number; pop3: number; pop3s: number };
  /** PEM of the CA that signed the server certificate (SAN DNS:localhost, IP:127.0.0.1). */
  caFile: string;
  /** The instance's directory (config, log, passwd, mail). */
  dir: string;
  /** Add a passwd-file user; usable at once. */
  addUser(user: string, password: string): Promise<void>;
  /** Write a message into the user's Maildir; returns the file's path. */
  deliver(user: string, raw: string | Buffer, options?: DeliverOptions): Promise<string>;
  /** The user's Maildir root (INBOX). */
  maildir(user: string): string;
  /**
   * Make Dovecot number the user's INBOX again, as after its uidlist and indexes were lost:
   * a new UIDVALIDITY (the old one + 1) and UIDs from 1 in file-name order.
   */
  renumber(user: string): Promise<void>;
  /** The Dovecot log, one entry per line. */
  logLines(): Promise<string[]>;
  /** End every open IMAP/POP3 session (they outlive the master otherwise). */
  killSessions(): Promise<void>;
  /** Stop the master and every session, remove the directory. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * An independent IMAP client (not connected yet) to check what the server really holds:
   * implicit TLS trusting the test CA by default, logger off, errors absorbed.
   */
  imapClient(user: string, password: string, options?: { port?: number; secure?: boolean; doSTARTTLS?: boolean }): ImapFlow;
}

export interface DovecotOptions {
  /**
   * What IMAP announces as its CAPABILITY after login (Dovecot's `imap_capability`): a list
   * without UIDPLUS, MOVE or IDLE tests a client's fallbacks. It only changes the announced
   * list: Dovecot still accepts the commands left out. Default: Dovecot's own list.
   */
  imapCapability?: string[];
  /** Dovecot settings appended to the generated config as they are. Default none. */
  extraConfig?: string;
  /**
   * OAuth2 logins: an `oauth2` passdb (before the passwd-file one, which then serves only
   * PLAIN and LOGIN) that checks each token by POSTing it to `introspectionUrl` (RFC 7662:
   * answer `{"active": true, "username": "ann"}`). `mechanisms`: what is announced and
   * accepted besides PLAIN and LOGIN. Default: no OAuth2.
   */
  oauth2?: { introspectionUrl: string; mechanisms: Array<'oauthbearer' | 'xoauth2'> };
}

const DOVECOT_BIN = firstExisting(['/usr/sbin/dovecot', '/usr/local/sbin/dovecot']) ?? 'dovecot';
/** As root, mail processes refuse uid 0: they run as the system user `mail`. */
const MAIL_USER = 'mail';
const READY_TIMEOUT_MS = 15_000;

function firstExisting(candidates: string[]): string | undefined {
  return candidates.find((file) => existsSync(file));
}

/** Run openssl with `args` in `cwd`; rejects with openssl's stderr. */
export async function openssl(args: string[], options: { cwd?: string; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { cwd: options.cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`openssl ${args[0]} failed: ${stderr.trim() || error.message}`, { cause: error }));
      else resolve(stdout);
    });
    // openssl may exit before reading stdin (most calls give it none to read): the EPIPE that
    // follows is not a failure of the command, whose exit status the callback above reports.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}

interface Certificates {
  caPem: string;
  certPem: string;
  keyPem: string;
}

// Generating keys is the slowest part of a start: do it once per test process.
let certificates: Promise<Certificates> | undefined;

function getCertificates(): Promise<Certificates> {
  if (!certificates) {
    certificates = createCertificates();
    // A failure must not be cached for the next instance in this process.
    certificates.catch(() => {
      certificates = undefined;
    });
  }
  return certificates;
}

async function createCertificates(): Promise<Certificates> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailpoll-ca-'));
  try {
    // P-256 keys: instant to generate, and every TLS stack here speaks ECDSA.
    const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await openssl(['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650',
      '-subj', '/CN=mailpoll test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { cwd: dir });
    await openssl(['req', '-new', ...ecKey, '-keyout', 'server.key', '-out', 'server.csr',
      '-subj', '/CN=localhost'], { cwd: dir });
    await writeFile(path.join(dir, 'server.ext'), [
      'subjectAltName = DNS:localhost, IP:127.0.0.1',
      'basicConstraints = CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
      '',
    ].join('\n'));
    await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
      '-set_serial', `0x${Date.now().toString(16)}`, '-days', '3650', '-extfile', 'server.ext',
      '-out', 'server.crt'], { cwd: dir });
    const read = (name: string) => readFile(path.join(dir, name), 'utf8');
    return { caPem: await read('ca.pem'), certPem: await read('server.crt'), keyPem: await read('server.key') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Ports nobody listens on right now (bind :0, then close). Another process may still take one: start retries. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface Identity {
  /** The uid/gid mail processes run as and Maildirs are owned by. */
  uid: number;
  gid: number;
  /** Not root: everything runs as the caller (these are its names). */
  unprivileged?: { user: string; group: string };
}

async function resolveIdentity(): Promise<Identity> {
  if (process.getuid?.() === 0) {
    const { stdout: uid } = await execFileAsync('id', ['-u', MAIL_USER]);
    const { stdout: gid } = await execFileAsync('id', ['-g', MAIL_USER]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  }
  const user = os.userInfo();
  const { stdout: group } = await execFileAsync('id', ['-gn']);
  return { uid: user.uid, gid: user.gid, unprivileged: { user: user.username, group: group.trim() } };
}

function renderConfig(dir: string, instanceName: string, ports: Dovecot['ports'], identity: Identity, options: DovecotOptions): string {
  const caller = identity.unprivileged;
  // Without root there is no user switching and no chroot: every service runs as the caller.
  const noChroot = caller ? '\n  chroot =' : '';
  /** A login service listening in plain text (STARTTLS offered) and with implicit TLS. */
  const loginService = (protocol: 'imap' | 'pop3', plain: number, tls: number): string => `service ${protocol}-login {${noChroot}
  inet_listener ${protocol} {
    address = 127.0.0.1
    port = ${plain}
  }
  inet_listener ${protocol}s {
    address = 127.0.0.1
    port = ${tls}
    ssl = yes
  }
}`;
  const unprivileged = caller
    ? `default_internal_user = ${caller.user}
default_internal_group = ${caller.group}
default_login_user = ${caller.user}
service auth-worker {
  user = ${caller.user}
}
service ipc {
  chroot =
}
`
    : '';
  const capability = options.imapCapability ? `protocol imap {\n  imap_capability = ${options.imapCapability.join(' ')}\n}\n` : '';
  const extra = options.extraConfig ? `${options.extraConfig}\n` : '';
  const oauth2 = options.oauth2;
  return `# Generated by test/helpers/dovecot.ts
protocols = imap pop3
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
instance_name = ${instanceName}

ssl = yes
ssl_cert = <${dir}/server.crt
ssl_key = <${dir}/server.key

disable_plaintext_auth = no
auth_mechanisms = plain login${oauth2 ? ` ${oauth2.mechanisms.join(' ')}` : ''}
# Failed logins answer at once (default: 2 s).
auth_failure_delay = 0
auth_verbose = yes
${oauth2 ? `passdb {
  driver = oauth2
  mechanisms = ${oauth2.mechanisms.join(' ')}
  args = ${dir}/dovecot-oauth2.conf.ext
}
` : ''}passdb {
  driver = passwd-file${oauth2 ? '\n  # none: doveadm user lookups.\n  mechanisms = plain login none' : ''}
  # One file per user: a passwd-file is re-read at most once a second, a new file at once.
  args = scheme=PLAIN username_format=%n ${dir}/users/%n
}
userdb {
  driver = static
  args = uid=${identity.uid} gid=${identity.gid} home=${dir}/mail/%n
}
first_valid_uid = ${identity.uid}
first_valid_gid = ${identity.gid}

mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv

${loginService('imap', ports.imap, ports.imaps)}
${loginService('pop3', ports.pop3, ports.pop3s)}
# Failed logins would otherwise be delayed by seconds each.
service anvil {${noChroot}
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
${unprivileged}${capability}${extra}`;
}

// Instances still running when the process exits (a test that forgot stop(), a crash):
// their processes are killed synchronously so they never outlive the test run.
const running = new Set<() => void>();
let exitHookInstalled = false;

function registerForExit(kill: () => void): void {
  running.add(kill);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const fn of running) fn();
    });
  }
}

/** Start a private Dovecot on free ports; resolves once all four ports accept connections. */
export async function startDovecot(options: DovecotOptions = {}): Promise<Dovecot> {
  if (process.env.TEST_WITHOUT_DOVECOT === '1') {
    throw new Error('this test starts a Dovecot, but runs under npm run test:unit (TEST_WITHOUT_DOVECOT=1): call useDovecot() in the test file, so that scripts/test-unit.sh leaves it out');
  }
  const errors: Error[] = [];
  // Free ports can be taken between the probe and dovecot's bind: try again with new ones.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      return await startOnce(options);
    } catch (error) {
      errors.push(error as Error);
      if (!/Address already in use/i.test((error as Error).message)) throw error;
    }
  }
  throw errors.at(-1);
}

async function startOnce(options: DovecotOptions): Promise<Dovecot> {
  const [certs, identity] = await Promise.all([getCertificates(), resolveIdentity()]);
  // Under /tmp and short: dovecot's UNIX sockets live in base_dir (~108-byte path limit).
  const dir = await mkdtemp('/tmp/dvc-');
  const [imap, imaps, pop3, pop3s] = await freePorts(4);
  const ports = { imap: imap!, imaps: imaps!, pop3: pop3!, pop3s: pop3s! };
  const configFile = path.join(dir, 'dovecot.conf');
  const usersDir = path.join(dir, 'users');
  const logFile = path.join(dir, 'dovecot.log');
  const stdoutFile = path.join(dir, 'stdout');
  const isRoot = process.getuid?.() === 0;
  // Also the prefix of every child's process title: see instanceProcesses().
  const instanceName = `mailpoll-test-${path.basename(dir)}`;

  // Mail processes (uid mail) and the auth process (user dovecot) must reach into dir.
  await chmod(dir, 0o755);
  await mkdir(path.join(dir, 'mail'), { mode: 0o755 });
  await writeFile(path.join(dir, 'ca.pem'), certs.caPem);
  await writeFile(path.join(dir, 'server.crt'), certs.certPem);
  await writeFile(path.join(dir, 'server.key'), certs.keyPem, { mode: 0o600 });
  // Readable by the auth process (user dovecot when root).
  await mkdir(usersDir, { mode: 0o755 });
  await writeFile(configFile, renderConfig(dir, instanceName, ports, identity, options));
  if (options.oauth2) {
    await writeFile(path.join(dir, 'dovecot-oauth2.conf.ext'), [
      'introspection_mode = post',
      `introspection_url = ${options.oauth2.introspectionUrl}`,
      'username_attribute = username',
      'active_attribute = active',
      'active_value = true',
      'force_introspection = yes',
      'timeout_msecs = 5000',
      '',
    ].join('\n'), { mode: 0o644 });
  }

  let stopped = false;

  const readLog = (): string => {
    const parts: string[] = [];
    for (const file of [stdoutFile, logFile]) {
      try {
        parts.push(readFileSync(file, 'utf8'));
      } catch {
        // not written yet
      }
    }
    return parts.join('').trim();
  };

  // Every child's title starts with `dovecot-<instance_name>/` (`.../imap`, `.../auth`), even
  // after the master is gone and the sessions were reparented: that is how they are found.
  const titlePrefix = `dovecot-${instanceName}/`;
  const masterCommand = `${DOVECOT_BIN}\0-c\0${configFile}`;

  /** This instance's processes: the master (`name` 'master') and its children by title. */
  const instanceProcesses = (): Array<{ pid: number; name: string }> => {
    const result: Array<{ pid: number; name: string }> = [];
    let entries: string[];
    try {
      entries = readdirSync('/proc');
    } catch {
      return result;
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue;
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      } catch {
        continue; // exited meanwhile
      }
      if (cmdline.startsWith(titlePrefix)) {
        result.push({ pid: Number(entry), name: cmdline.slice(titlePrefix.length).split(/[\0 ]/)[0] ?? '' });
      } else if (cmdline.startsWith(masterCommand)) {
        result.push({ pid: Number(entry), name: 'master' });
      }
    }
    return result;
  };

  const alive = (pid: number): boolean => {
    try {
      // A zombie is dead for our purposes (its reaper may be slow).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      // no /proc entry: gone, or no /proc at all
    }
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  };

  const signal = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };

  /** SIGTERM (a clean `Disconnected` log line), then SIGKILL what is left after a grace period. */
  const terminate = async (pids: number[]): Promise<void> => {
    for (const pid of pids) signal(pid, 'SIGTERM');
    const deadline = Date.now() + 2000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(20);
    for (const pid of pids.filter(alive)) signal(pid, 'SIGKILL');
    const killDeadline = Date.now() + 2000;
    while (pids.some(alive) && Date.now() < killDeadline) await sleep(20);
  };

  // Synchronous last resort for the exit hook: kill everything of this instance.
  const killAllSync = (): void => {
    for (const proc of instanceProcesses()) signal(proc.pid, 'SIGKILL');
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  };

  const killSessions = async (): Promise<void> => {
    // `imap`/`pop3` are logged-in sessions; `*-login` processes hold connections that have
    // not logged in yet, and proxy the TLS of logged-in ones.
    const sessions = instanceProcesses().filter((proc) => /^(imap|pop3)(-login)?$/.test(proc.name));
    await terminate(sessions.map((proc) => proc.pid));
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    running.delete(killAllSync);
    // Sessions first, politely, so their summary lines reach the log; then the rest at once:
    // a SIGTERM'd master takes seconds to wind down, and its processes are all disposable.
    await killSessions();
    for (let round = 0; round < 10; round += 1) {
      const left = instanceProcesses();
      if (left.length === 0) break;
      for (const proc of left) signal(proc.pid, 'SIGKILL');
      const deadline = Date.now() + 2000;
      while (left.some((proc) => alive(proc.pid)) && Date.now() < deadline) await sleep(10);
    }
    await rm(dir, { recursive: true, force: true });
  };

  registerForExit(killAllSync);

  try {
    await new Promise<void>((resolve, reject) => {
      // The master daemonizes and keeps its stdio: point them at a file, never at a pipe.
      const out = openSync(stdoutFile, 'a');
      const child = spawn(DOVECOT_BIN, ['-c', configFile], { stdio: ['ignore', out, out] });
      closeSync(out);
      child.once('error', reject);
      child.once('exit', (code, sig) => {
        if (code === 0) resolve();
        else reject(new Error(`dovecot exited with ${code ?? sig}`));
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const ready = await Promise.all(Object.values(ports).map(canConnect));
      if (ready.every(Boolean)) break;
      if (!instanceProcesses().some((proc) => proc.name === 'master')) throw new Error('dovecot master exited');
      if (Date.now() > deadline) throw new Error(`dovecot ports not ready after ${READY_TIMEOUT_MS} ms`);
      await sleep(25);
    }
  } catch (error) {
    const log = readLog();
    await stop();
    throw new Error(`private dovecot failed to start (${(error as Error).message}):\n${log || '(empty log)'}`, { cause: error });
  }

  const maildir = (user: string): string => path.join(dir, 'mail', user, 'Maildir');

  /** Create `target` and its missing parents (below `root`), owned by the mail user. */
  const ensureDir = async (root: string, target: string): Promise<void> => {
    const relative = path.relative(root, target);
    let current = root;
    for (const part of ['', ...relative.split(path.sep).filter(Boolean)]) {
      current = part ? path.join(current, part) : current;
      if (existsSync(current)) continue;
      await mkdir(current, { mode: 0o700 });
      if (isRoot) await chown(current, identity.uid, identity.gid);
    }
  };

  const ensureMaildir = async (folderDir: string, isSubfolder: boolean): Promise<void> => {
    for (const sub of ['cur', 'new', 'tmp']) await ensureDir(path.join(dir, 'mail'), path.join(folderDir, sub));
    if (isSubfolder && !existsSync(path.join(folderDir, 'maildirfolder'))) {
      await writeFile(path.join(folderDir, 'maildirfolder'), '');
      if (isRoot) await chown(path.join(folderDir, 'maildirfolder'), identity.uid, identity.gid);
    }
  };

  // Dovecot gives new files UIDs in file-name order (time part first): keep names increasing.
  let lastStamp = 0;
  let counter = 0;

  const deliver = async (user: string, raw: string | Buffer, options: DeliverOptions = {}): Promise<string> => {
    const root = maildir(user);
    const folderDir = options.folder
      ? path.join(root, `.${options.folder.split('/').filter(Boolean).join('.')}`)
      : root;
    await ensureMaildir(root, false);
    if (folderDir !== root) await ensureMaildir(folderDir, true);

    const nowMicros = Date.now() * 1000;
    lastStamp = Math.max(nowMicros, lastStamp + 1);
    counter += 1;
    const seconds = Math.floor(lastStamp / 1_000_000);
    const micros = lastStamp % 1_000_000;
    const base = `${seconds}.M${micros}P${process.pid}Q${counter}.mailpoll`;
    const tmpFile = path.join(folderDir, 'tmp', base);
    const target = options.seen ? path.join(folderDir, 'cur', `${base}:2,S`) : path.join(folderDir, 'new', base);

    await writeFile(tmpFile, raw, { mode: 0o600 });
    if (isRoot) await chown(tmpFile, identity.uid, identity.gid);
    if (options.date) await utimes(tmpFile, options.date, options.date);
    // tmp/ then rename: the Maildir way, so Dovecot never sees half a message.
    await rename(tmpFile, target);
    return target;
  };

  const renumber = async (user: string): Promise<void> => {
    const root = maildir(user);
    const uidlist = path.join(root, 'dovecot-uidlist');
    const uidValidity = Number(/^\d+ V(\d+)/.exec(await readFile(uidlist, 'utf8'))?.[1]);
    if (!Number.isSafeInteger(uidValidity)) throw new Error(`no UIDVALIDITY in ${uidlist}`);
    for (const name of readdirSync(root)) {
      if (name === 'dovecot-uidlist' || name.startsWith('dovecot.index')) await rm(path.join(root, name), { force: true });
    }
    // Left to itself, Dovecot takes the time in seconds: the UIDVALIDITY is chosen here instead
    // of waiting for the clock's next second. An empty uidlist: every file gets a new UID.
    await writeFile(uidlist, `3 V${uidValidity + 1} N1\n`, { mode: 0o600 });
    if (isRoot) await chown(uidlist, identity.uid, identity.gid);
  };

  const addUser = async (user: string, password: string): Promise<void> => {
    if (!/^[\w.@+-]+$/.test(user) || user.startsWith('.')) throw new Error(`unusable user name for the test Dovecot: ${user}`);
    if (/[:\n]/.test(password)) throw new Error('passwd-file passwords cannot contain ":" or newlines');
    const home = path.join(dir, 'mail', user);
    await ensureDir(path.join(dir, 'mail'), home);
    // Written whole then renamed: the auth process never reads half a file.
    const file = path.join(usersDir, user);
    await writeFile(`${file}.tmp`, `${user}:${password}\n`, { mode: 0o644 });
    await rename(`${file}.tmp`, file);
  };

  const logLines = async (): Promise<string[]> => {
    try {
      return (await readFile(logFile, 'utf8')).split('\n').filter((line) => line !== '');
    } catch {
      return [];
    }
  };

  return {
    host: '127.0.0.1',
    ports,
    caFile: path.join(dir, 'ca.pem'),
    dir,
    addUser,
    deliver,
    maildir,
    renumber,
    logLines,
    killSessions,
    stop,
    imapClient(user, password, options = {}) {
      const client = new ImapFlow({
        host: '127.0.0.1',
        port: ports.imaps,
        secure: true,
        ...options,
        auth: { user, pass: password },
        tls: { ca: readFileSync(path.join(dir, 'ca.pem')) },
        logger: false,
      });
      client.on('error', () => undefined);
      return client;
    },
  };
}

export interface MessageOptions {
  subject?: string;
  from?: string;
  to?: string;
  messageId?: string;
  body?: string;
  date?: Date;
  /** Extra header lines, `Name: value`, separated by CRLF or LF. */
  extraHeaders?: string;
}

let messageCounter = 0;

/** A small valid RFC 822 message with CRLF line endings. */
export function message(options: MessageOptions = {}): string {
  messageCounter += 1;
  const headers = [
    `From: ${options.from ?? 'Sender <sender@example.com>'}`,
    `To: ${options.to ?? 'Recipient <recipient@example.com>'}`,
    `Subject: ${options.subject ?? `Test message ${messageCounter}`}`,
    `Date: ${(options.date ?? new Date()).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${options.messageId ?? `<test-${process.pid}-${Date.now()}-${messageCounter}@mailpoll.test>`}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
  ];
  if (options.extraHeaders) headers.push(...options.extraHeaders.split(/\r?\n/).filter(Boolean));
  const body = (options.body ?? `Body of test message ${messageCounter}.\n`).replace(/\r?\n/g, '\r\n');
  return `${headers.join('\r\n')}\r\n\r\n${body}`;
}
