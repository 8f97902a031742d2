/**
 * A private PostgreSQL cluster for tests: `initdb` into a temporary folder, `pg_ctl` on a
 * free port of 127.0.0.1 with its socket in a folder of its own, fsync off, removed when
 * stopped (and at process exit, should a test forget or the process fail). Nothing is
 * shared with a system cluster or with other test files running beside it.
 * See /work/shared/NOTES-protocols.md ("A private PostgreSQL cluster in tests").
 *
 *   const postgres = await startPostgres();
 *   const url = await postgres.createDatabase();   // a fresh, empty database
 *   ...
 *   await postgres.stop();
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFileAsync = promisify(execFile);

export interface Postgres {
  host: '127.0.0.1';
  port: number;
  /** The superuser, who owns every database made here. */
  user: 'postgres';
  /** Its password (logins over TCP use SCRAM). */
  password: string;
  /** The cluster's folder (data, run, log). */
  dir: string;
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/DATABASE`. */
  url(database: string, options?: { password?: string | null }): string;
  /** A new empty database (about 40 ms); returns its URL with the password in it. */
  createDatabase(): Promise<string>;
  /** One statement as the superuser (in the `postgres` database unless named), rows as objects. */
  query<Row extends Record<string, unknown>>(sql: string, values?: unknown[], database?: string): Promise<Row[]>;
  /** Fast shutdown (clients get 57P01), then start again on the same port. */
  restart(): Promise<void>;
  /** Fast shutdown; the data stays until `stop`. */
  pause(): Promise<void>;
  /** Start after `pause`. */
  resume(): Promise<void>;
  /** The server log. */
  log(): Promise<string>;
  /** Stop the server and remove the folder. Safe to call twice. */
  stop(): Promise<void>;
}

/** PostgreSQL 13 or newer, the highest installed: the folder of `initdb` and `pg_ctl`. */
export function findServerBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .map(Number)
    .filter((version) => Number.isInteger(version) && version >= 13 && existsSync(path.join(root, String(version), 'bin', 'initdb')))
    .sort((a, b) => b - a);
  return versions.length > 0 ? path.join(root, String(versions[0]), 'bin') : undefined;
}

/** As root, initdb and pg_ctl refuse to run: they run as this system user. */
const SERVER_USER = 'postgres';
const isRoot = process.getuid?.() === 0;

// Clusters still running when the process exits: their postmasters get SIGQUIT (immediate
// shutdown) and their folders go, synchronously.
const running = new Map<string, () => void>();
process.once('exit', () => {
  for (const kill of running.values()) kill();
});

/** Start a private cluster; resolves once it accepts connections. */
export async function startPostgres(): Promise<Postgres> {
  const bin = findServerBin();
  if (bin === undefined) {
    throw new Error('PostgreSQL 13 or newer is not installed (no /usr/lib/postgresql/*/bin/initdb): npm test installs it (apt-get install postgresql)');
  }
  // Short and under /tmp: the socket path is limited to 107 bytes.
  const dir = await mkdtemp('/tmp/pg-');
  const data = path.join(dir, 'data');
  const run = path.join(dir, 'run');
  const logFile = path.join(dir, 'log');
  const password = `pg-${randomBytes(12).toString('hex')}`;
  let port = 0;
  running.set(dir, () => killAndRemove(dir, data));
  try {
    // The server user must reach the folder and own what it writes.
    await chmod(dir, 0o755);
    await mkdir(data, { mode: 0o700 });
    await mkdir(run, { mode: 0o700 });
    await writeFile(path.join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
    if (isRoot) {
      const { uid, gid } = await systemUser(SERVER_USER);
      for (const owned of [data, run, path.join(dir, 'pwfile')]) await chown(owned, uid, gid);
      await writeFile(logFile, '');
      await chown(logFile, uid, gid);
    }
    await asServer(path.join(bin, 'initdb'), [
      '-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '-N',
      '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${path.join(dir, 'pwfile')}`,
    ], dir);
    await rm(path.join(dir, 'pwfile'));

    const start = async (): Promise<void> => {
      const settings = [
        `-c port=${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${run}`, '-c unix_socket_permissions=0700',
        // Tests, not durability: no fsync.
        '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off',
      ].join(' ');
      await asServer(path.join(bin, 'pg_ctl'), ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', settings, 'start'], dir);
    };
    const fastStop = (): Promise<void> => asServer(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], dir);

    // A free port can be taken between the probe and the bind: try again with another.
    for (let attempt = 1; ; attempt += 1) {
      port = await freePort();
      try {
        await start();
        break;
      } catch (error) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        if (attempt >= 3 || !/could not (bind|create listen)/i.test(log)) throw new Error(`${(error as Error).message}\n${log}`, { cause: error });
      }
    }

    const url = (database: string, options: { password?: string | null } = {}): string => {
      const secret = options.password === undefined ? password : options.password;
      const auth = secret === null ? 'postgres' : `postgres:${encodeURIComponent(secret)}`;
      return `postgres://${auth}@127.0.0.1:${port}/${database}`;
    };
    let databases = 0;
    let stopped = false;
    const query = async <Row extends Record<string, unknown>>(sql: string, values: unknown[] = [], database = 'postgres'): Promise<Row[]> => {
      const client = new pg.Client({ connectionString: url(database) });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query<Row>(sql, values)).rows;
      } finally {
        await client.end();
      }
    };
    return {
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password,
      dir,
      url,
      query,
      async createDatabase() {
        const name = `t${process.pid}_${++databases}`;
        await query(`CREATE DATABASE ${name}`);
        return url(name);
      },
      async restart() {
        await fastStop();
        await start();
      },
      pause: fastStop,
      resume: start,
      log: () => readFile(logFile, 'utf8'),
      async stop() {
        if (stopped) return;
        stopped = true;
        await asServer(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], dir).catch(() => undefined);
        running.get(dir)?.();
        running.delete(dir);
      },
    };
  } catch (error) {
    running.get(dir)?.();
    running.delete(dir);
    throw error;
  }
}

/** `file args` as the server user (as root) or as the caller, from `cwd`; rejects with its output. */
async function asServer(file: string, args: string[], cwd: string): Promise<void> {
  const [command, commandArgs] = isRoot ? ['runuser', ['-u', SERVER_USER, '--', file, ...args]] : [file, args];
  // Output to a pipe we read to the end would hang: the postmaster inherits it. pg_ctl -l
  // sends the server's output to the log; pg_ctl's and initdb's own lines come back here.
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, commandArgs, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(file)} ${args.at(-1)} failed (${code ?? signal}): ${stderr.trim()}`));
    });
  });
}

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([execFileAsync('id', ['-u', name]), execFileAsync('id', ['-g', name])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Synchronous last resort: SIGQUIT to the postmaster (immediate shutdown), then the folder goes. */
function killAndRemove(dir: string, data: string): void {
  try {
    const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGQUIT');
  } catch {
    // Not running (never started, or stopped already).
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
