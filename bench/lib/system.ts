/** The machine and software a bench ran on, for the head of RESULTS.md. Read-only throughout. */
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './floors.js';
import type { PeerTool } from './peers.js';

const execFileAsync = promisify(execFile);

export interface SystemInfo {
  cpu: string;
  cores: number;
  ramGb: number;
  os: string;
  kernel: string;
  node: string;
  dovecot: string;
  peers: string[];
  libraries: string;
  commit: string;
  /** Uncommitted changes in the work tree, and whether dist/ is older than src/. */
  treeNote: string;
  distBuilt: string;
  date: string;
}

async function output(command: string, args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { cwd, timeout: 10_000 });
    return (stdout || stderr).trim();
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    return (stdout || stderr || '').trim();
  }
}

async function packageVersion(name: string): Promise<string> {
  try {
    const json = JSON.parse(await readFile(path.join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
    return json.version ?? '?';
  } catch {
    return 'not installed';
  }
}

/** Files under `dir` modified after `time` (ms). */
async function newerThan(dir: string, time: number): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  let count = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath ?? dir, entry.name);
    if ((await stat(file)).mtimeMs > time) count += 1;
  }
  return count;
}

export async function systemInfo(peers: PeerTool[]): Promise<SystemInfo> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const osName = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? `${os.type()} ${os.release()}`;
  const dovecot = await output('dovecot', ['--version']).catch(() => 'unknown');
  // `--no-optional-locks`: status must not write the index (others work in this tree).
  const commit = await output('git', ['rev-parse', '--short', 'HEAD'], REPO);
  const porcelain = await output('git', ['--no-optional-locks', 'status', '--porcelain', '--untracked-files=no'], REPO);
  const changed = porcelain.split('\n').filter((line) => line.trim() !== '');
  const changedSrc = changed.filter((line) => line.slice(3).startsWith('src/')).length;
  let distBuilt = 'dist/ missing: run npm run build';
  let stale = 0;
  try {
    const built = (await stat(path.join(REPO, 'dist', 'cli', 'main.js'))).mtimeMs;
    distBuilt = new Date(built).toISOString().replace(/\.\d+Z$/, 'Z');
    stale = await newerThan(path.join(REPO, 'src'), built);
  } catch {
    // dist missing
  }
  const treeNote = [
    changed.length === 0 ? 'clean work tree' : `${changed.length} tracked files with uncommitted changes (${changedSrc} in src/)`,
    stale > 0 ? `${stale} files in src/ are newer than dist/ (the bench runs dist/ as built)` : 'dist/ is newer than every file in src/',
  ].join('; ');
  return {
    cpu,
    cores: os.cpus().length,
    ramGb: Math.round(os.totalmem() / 1024 ** 3),
    os: osName,
    kernel: os.release(),
    node: process.version,
    dovecot: dovecot.split('\n')[0] ?? 'unknown',
    peers: peers.map((peer) => (peer.binary ? `${peer.name} ${peer.version ?? '?'}` : `${peer.name}: not installed`)),
    libraries: `imapflow ${await packageVersion('imapflow')}, mailparser ${await packageVersion('mailparser')}`,
    commit: commit || 'unknown',
    treeNote,
    distBuilt,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}
