/**
 * The peers: fetchmail and getmail6, each handing every message to the MDA
 * `cat > /dev/null` (through /bin/sh, once per message), configured to match a mailpoll
 * case's semantics (keep vs delete) and transport (implicit TLS, or plain without STARTTLS). Each run gets a fresh HOME/state folder, so no
 * "already seen" memory (fetchmail's .fetchids, getmail's oldmail-*) carries over.
 */
import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { RunSpec } from './measure.js';

const execFileAsync = promisify(execFile);

export type Protocol = 'imap' | 'pop3';

export interface PeerTarget {
  protocol: Protocol;
  /** Implicit TLS (imaps / pop3s), or none at all (no STARTTLS either). */
  tls: boolean;
  port: number;
  user: string;
  password: string;
  caFile: string;
  /** Leave the messages on the server (IMAP: fetchmail marks them seen) or delete them. */
  keep: boolean;
}

export interface PeerTool {
  name: 'fetchmail' | 'getmail6';
  binary: string | undefined;
  version: string | undefined;
  /** How to install it when it is missing. */
  install: string;
}

/** The program in PATH, else in the usual system folders (npm scripts may run with a narrow PATH). */
async function which(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin'].filter(Boolean);
  for (const dir of new Set(dirs)) {
    const file = path.join(dir, name);
    try {
      await execFileAsync('test', ['-x', file]);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function findPeers(): Promise<PeerTool[]> {
  const install = (name: string) => `apt-get install -y ${name} (Debian/Ubuntu; run apt-get update first)`;
  const fetchmail = await which('fetchmail');
  const getmail = await which('getmail');
  const versionOf = async (binary: string | undefined, args: string[], pattern: RegExp): Promise<string | undefined> => {
    if (!binary) return undefined;
    try {
      const { stdout, stderr } = await execFileAsync(binary, args, { timeout: 10_000 }).catch((error: { stdout?: string; stderr?: string }) => ({
        stdout: error.stdout ?? '',
        stderr: error.stderr ?? '',
      }));
      return pattern.exec(`${stdout}\n${stderr}`)?.[1];
    } catch {
      return undefined;
    }
  };
  return [
    {
      name: 'fetchmail',
      binary: fetchmail,
      version: await versionOf(fetchmail, ['--version'], /fetchmail release ([^\s,+]+)/),
      install: install('fetchmail'),
    },
    {
      name: 'getmail6',
      binary: getmail,
      version: await versionOf(getmail, ['--version'], /getmail\s+([\d.]+)/),
      install: install('getmail6'),
    },
  ];
}

/** Write the peer's config into `dir` (a fresh folder per run) and return the command. */
export async function peerCommand(tool: PeerTool, target: PeerTarget, dir: string): Promise<RunSpec> {
  if (!tool.binary) throw new Error(`${tool.name} is not installed`);
  return tool.name === 'fetchmail' ? fetchmailCommand(tool.binary, target, dir) : getmailCommand(tool.binary, target, dir);
}

const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

async function fetchmailCommand(binary: string, target: PeerTarget, dir: string): Promise<RunSpec> {
  const localUser = os.userInfo().username;
  // fetchmail checks certificate names against the host name and ignores IP SANs:
  // connect to `localhost` (the certificate's DNS SAN), which resolves to 127.0.0.1.
  // IMAP keep: only unseen messages (all of them here), marked seen, like mailpoll's markSeen.
  // POP3 has no seen state without `uidl`: `fetchall` fetches every message, as mailpoll does.
  const rc = [
    'set no syslog',
    'set no bouncemail',
    `poll localhost protocol ${target.protocol === 'imap' ? 'IMAP' : 'POP3'} service ${target.port}`,
    `  user ${quote(target.user)} there with password ${quote(target.password)} is ${quote(localUser)} here`,
    // Plain: without `sslproto ''` fetchmail would upgrade with STARTTLS when offered.
    target.tls ? `  options ssl sslcertck sslcertfile ${quote(target.caFile)}` : `  options sslproto ''`,
    `  ${target.keep ? 'keep' : 'no keep'}${target.protocol === 'pop3' ? ' fetchall' : ''}`,
    '  mda "cat > /dev/null"',
    '',
  ].join('\n');
  const rcFile = path.join(dir, 'fetchmailrc');
  await writeFile(rcFile, rc, { mode: 0o600 });
  await chmod(rcFile, 0o600);
  return {
    command: binary,
    args: ['-f', rcFile, '--nosyslog', '--pidfile', path.join(dir, 'fetchmail.pid'), '--idfile', path.join(dir, 'fetchids')],
    env: { HOME: dir, FETCHMAILHOME: dir, LC_ALL: 'C' },
    cwd: dir,
  };
}

async function getmailCommand(binary: string, target: PeerTarget, dir: string): Promise<RunSpec> {
  const isRoot = process.getuid?.() === 0;
  const rc = [
    '[retriever]',
    `type = Simple${target.protocol === 'imap' ? 'IMAP' : 'POP3'}${target.tls ? 'SSL' : ''}Retriever`,
    'server = localhost',
    `port = ${target.port}`,
    `username = ${target.user}`,
    `password = ${target.password}`,
    ...(target.tls ? [`ca_certs = ${target.caFile}`] : []),
    ...(target.protocol === 'imap' ? ['mailboxes = ("INBOX",)'] : []),
    // Also how long getmail waits for its MDA child. getmail 6.18 can miss the child's
    // SIGCHLD (it arrives before the wait starts) and then waits this long and aborts the
    // run with "waiting child pid N timed out": keep that wait short (default 180 s).
    'timeout = 30',
    '',
    '[destination]',
    'type = MDA_external',
    'path = /bin/sh',
    'arguments = ("-c", "cat > /dev/null")',
    // getmail refuses to run an MDA as root unless told to.
    ...(isRoot ? ['allow_root_commands = true'] : []),
    '',
    '[options]',
    `delete = ${target.keep ? 'false' : 'true'}`,
    'read_all = true',
    'verbose = 0',
    '',
  ].join('\n');
  const rcFile = path.join(dir, 'getmailrc');
  await writeFile(rcFile, rc, { mode: 0o600 });
  return {
    command: binary,
    args: [`--rcfile=${rcFile}`, `--getmaildir=${dir}`],
    env: { HOME: dir, LC_ALL: 'C.UTF-8' },
    cwd: dir,
  };
}
