/**
 * A real SMTP server for delivery tests: Debian's `python3-aiosmtpd` (`python3 -m aiosmtpd`)
 * with a handler module written here. Recipients starting with `temp` get a 451 at RCPT,
 * `perm` a 550; every accepted message is stored as `<n>.eml` (the DATA bytes as received)
 * with `<n>.json` (envelope, whether STARTTLS was used). When the file `killFile` holds a
 * pid, that process is sent SIGKILL after the message is stored and before the 250 answer:
 * a client that crashes between delivery and recording it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { makeTempDir } from './temp.js';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const HANDLER = `
import json, os, signal

class Handler:
    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    def __init__(self, outdir, killfile):
        self.outdir = outdir
        self.killfile = killfile
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith('temp'):
            return '451 4.3.0 mailbox busy, try again later'
        if address.startswith('perm'):
            return '550 5.1.1 no such user here'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.outdir, str(self.count))
        with open(base + '.json', 'w') as f:
            json.dump({'from': envelope.mail_from, 'to': envelope.rcpt_tos, 'tls': session.ssl is not None}, f)
        with open(base + '.tmp', 'wb') as f:
            f.write(envelope.original_content)
        os.rename(base + '.tmp', base + '.eml')
        if os.path.exists(self.killfile):
            with open(self.killfile) as f:
                pid = int(f.read().strip())
            os.remove(self.killfile)
            os.kill(pid, signal.SIGKILL)
        return '250 2.0.0 queued'
`;

export interface SmtpServer {
  port: number;
  /** Where a pid written makes the next message kill that process. */
  killFile: string;
  received(): Promise<Array<{ raw: Buffer; from: string; to: string[]; tls: boolean }>>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function listening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`aiosmtpd exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`aiosmtpd did not listen on ${port}: ${log()}`);
}

/** Starts aiosmtpd on a free 127.0.0.1 port. `tls`: offer STARTTLS with this certificate and key. */
export async function startSmtpServer(options: { tls?: { cert: string; key: string } } = {}): Promise<SmtpServer> {
  const dir = await makeTempDir('smtp');
  const outdir = join(dir, 'received');
  await import('node:fs/promises').then((fs) => fs.mkdir(outdir));
  await writeFile(join(dir, 'mailpoll_test_smtp.py'), HANDLER);
  const killFile = join(dir, 'kill.pid');
  const port = await freePort();
  const tlsArgs = options.tls ? ['--tlscert', options.tls.cert, '--tlskey', options.tls.key, '--no-requiretls'] : [];
  const child = spawn(PYTHON, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'mailpoll_test_smtp.Handler', ...tlsArgs, outdir, killFile], {
    cwd: dir,
    env: { ...process.env, PYTHONPATH: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  await listening(port, child, () => log);
  return {
    port,
    killFile,
    async received() {
      const names = (await readdir(outdir)).filter((name) => name.endsWith('.eml')).sort((a, b) => parseInt(a) - parseInt(b));
      return Promise.all(
        names.map(async (name) => {
          const meta = JSON.parse(await readFile(join(outdir, name.replace('.eml', '.json')), 'utf8')) as { from: string; to: string[]; tls: boolean };
          return { raw: await readFile(join(outdir, name)), ...meta };
        }),
      );
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
