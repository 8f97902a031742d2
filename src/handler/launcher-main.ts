/**
 * The command launcher: a small Node process that mailpoll forks on the first command-handler
 * message and that starts every handler program in its place.
 *
 * Why: Node's `spawn` forks the whole calling process before it execs the program, and the
 * fork costs in proportion to the caller's memory: from mailpoll's main process (70-150 MB
 * resident) 7-12 ms per message on the machine bench/RESULTS.md was measured on, more than
 * fetchmail spends per message in all. From this process (about 40 MB, nothing loaded but
 * Node's built-ins) a spawn costs about 2 ms. It runs as many programs at once as mailpoll
 * asks for, and relays each one's output and exit status (launcher-protocol.ts).
 *
 * It ends when mailpoll disconnects (at its exit, or when it has been idle): every program
 * still running then is killed with its process group, as mailpoll's own exit does.
 */
import type { LauncherReply, RunRequest } from './launcher-protocol.js';
import { spawnProgram } from './spawn-program.js';

/** Process groups of the programs running now. */
const running = new Map<number, number>();

function send(reply: LauncherReply): void {
  // After mailpoll is gone there is nobody to tell.
  if (process.connected) process.send!(reply);
}

async function run(request: RunRequest): Promise<void> {
  const { id } = request;
  try {
    const exit = await spawnProgram(request.spec, {
      started: (pgid) => {
        running.set(id, pgid);
        send({ type: 'started', id, pgid });
      },
      stdout: (chunk) => send({ type: 'stdout', id, chunk }),
      stderr: (chunk) => send({ type: 'stderr', id, chunk }),
    });
    send({ type: 'done', id, exit });
  } catch (error) {
    const { message, code } = error as NodeJS.ErrnoException;
    send({ type: 'failed', id, message, code });
  } finally {
    running.delete(id);
  }
}

process.on('message', (request: RunRequest) => {
  if (request.type === 'run') void run(request);
});

process.once('disconnect', () => {
  for (const pgid of running.values()) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.exit(0);
});

send({ type: 'ready' });
