/**
 * The CLI on a real pseudo-terminal: script(1) (util-linux) runs it with stdout and stderr on
 * a terminal, and both arrive on one stream. For what mailpoll does only on a terminal
 * (colour, no time prefix, the progress line).
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN } from './cli.js';

export const hasScript = spawnSync('script', ['--version']).status === 0;

/** Runs `mailpoll ARGS` in `cwd` on a terminal (TERM=xterm, colour allowed unless `env` says otherwise). */
export function runOnTerminal(args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, BIN, ...args].map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((done, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd,
      env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: 'xterm', XDG_STATE_HOME: join(cwd, 'state'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => done({ code, output: output.replace(/\r\n/g, '\n') }));
  });
}
