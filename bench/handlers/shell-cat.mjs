// Benchmark handler (c): the "shell handler" case. Runs `sh -c 'cat > /dev/null'` once per
// message with the raw source on stdin and waits for it to exit, as fetchmail's and
// getmail's MDA `cat > /dev/null` do; a failing command fails the message.
import { spawn } from 'node:child_process';

const action = process.env.MAILPOLL_BENCH_ACTION || undefined;

// It uses only `raw`: no body parse needed (ignored by a mailpoll without the option).
export const parse = 'headers';

export default function handle(mailMessage) {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', 'cat > /dev/null'], { stdio: ['pipe', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.stdin.on('error', () => {}); // EPIPE: the exit code tells
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(action);
      else reject(new Error(`sh -c 'cat > /dev/null' exited with ${code ?? signal}`));
    });
    child.stdin.end(mailMessage.raw);
  });
}
