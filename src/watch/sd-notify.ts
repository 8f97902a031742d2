/**
 * Telling systemd how the watch is doing (`Type=notify`): READY=1 once started, STATUS=
 * lines, WATCHDOG=1 keep-alives, STOPPING=1 at the end.
 *
 * The protocol is one datagram on the AF_UNIX SOCK_DGRAM socket named by NOTIFY_SOCKET.
 * Node cannot send one (node:dgram is UDP only, node:net is stream sockets only), and a
 * native addon for it would be a build step on every install for a feature only systemd
 * users need. So each message is handed to `systemd-notify`, which ships with systemd and is
 * therefore there wherever NOTIFY_SOCKET points to a systemd: `--pid=` names mailpoll as the
 * service's main process, and systemd-notify waits (a BARRIER=1 round trip) until the
 * manager has read the message, so systemd attributes it to the unit although the sender is
 * a short-lived child. The unit needs `NotifyAccess=all` for that (examples/deploy/).
 * Without systemd-notify on the PATH the watch runs on and says once, on stderr, why systemd
 * is not told.
 */
import { spawn } from 'node:child_process';

export interface NotifyOptions {
  /** The environment: NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID. */
  env: NodeJS.ProcessEnv;
  /** A line for stderr, once, when systemd cannot be told (no systemd-notify). */
  warn: (line: string) => void;
  /** The program that sends the datagram. Default `systemd-notify` on the PATH. */
  program?: string | undefined;
}

export interface SystemdNotifier {
  ready(status: string): void;
  status(text: string): void;
  /** Starts the WATCHDOG=1 keep-alives (half of WATCHDOG_USEC) when systemd asked for them; `alive` false skips one. */
  startWatchdog(alive: () => boolean): void;
  /** STOPPING=1, and the keep-alives end; resolves once everything queued was sent. */
  stopping(status: string): Promise<void>;
}

/** A notifier when NOTIFY_SOCKET is set; undefined otherwise (not under systemd's Type=notify). */
export function createSystemdNotifier(options: NotifyOptions): SystemdNotifier | undefined {
  const socket = options.env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return undefined;
  const program = options.program ?? 'systemd-notify';
  let broken = false;
  let queue: Promise<void> = Promise.resolve();
  let pendingStatus: string | undefined;
  let watchdog: NodeJS.Timeout | undefined;

  // One child at a time, in order; `assignments` is read when its turn comes.
  const send = (assignments: () => string[] | undefined, mainPid = false): Promise<void> => {
    queue = queue.then(async () => {
      const message = assignments();
      if (broken || message === undefined) return;
      await runNotify(program, message, mainPid).catch((error: unknown) => {
        broken = true;
        const code = (error as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? `${program} is not installed (or not on the PATH)` : error instanceof Error ? error.message : String(error);
        options.warn(`mailpoll: NOTIFY_SOCKET is set but systemd cannot be told how the watch is doing: ${why}; with Type=notify systemd will time out: install systemd-notify or use Type=exec`);
      });
    });
    return queue;
  };

  return {
    ready: (status) => void send(() => ['READY=1', statusLine(status)], true),
    status(text) {
      // Latest wins: a burst of cycles sends one line, not one child each.
      const queued = pendingStatus !== undefined;
      pendingStatus = text;
      if (queued) return;
      void send(() => {
        const line = pendingStatus;
        pendingStatus = undefined;
        return line === undefined ? undefined : [statusLine(line)];
      });
    },
    startWatchdog(alive) {
      const everyMs = watchdogInterval(options.env);
      if (everyMs === undefined || watchdog !== undefined) return;
      watchdog = setInterval(() => {
        if (alive()) void send(() => ['WATCHDOG=1']);
      }, everyMs);
      watchdog.unref();
    },
    async stopping(status) {
      if (watchdog !== undefined) clearInterval(watchdog);
      await send(() => ['STOPPING=1', statusLine(status)]);
    },
  };
}

/**
 * Half of WATCHDOG_USEC (in ms), as sd_watchdog_enabled(3) advises, when the watchdog is
 * meant for this process (WATCHDOG_PID unset or ours); undefined otherwise.
 */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** One STATUS= assignment: a datagram is newline-separated, so the text is one line. */
function statusLine(text: string): string {
  return `STATUS=${text.replace(/[\r\n]+/g, ' ')}`;
}

function runNotify(program: string, assignments: string[], mainPid: boolean): Promise<void> {
  const args = mainPid ? [`--pid=${process.pid}`, ...assignments] : assignments;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${program} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}
