/**
 * What the bench runs: every case is one process (mailpoll, a floor script, a peer), built
 * fresh for each run in its own temporary folder, and checked after the run against the
 * server's state and log.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './floors.js';
import type { Measurement, RunSpec } from './measure.js';
import { peerCommand, type PeerTool, type Protocol } from './peers.js';
import { PASSWORD, type BenchServer, type FolderState, type SeededMailbox, type SessionStats } from './server.js';

const execFileAsync = promisify(execFile);

/** The mailpoll every case runs, and its handlers: the repo's until `useMailpoll` points at copies. */
let mailpollBin = path.join(REPO, 'bin', 'mailpoll.js');
let handlersDir = path.join(REPO, 'bench', 'handlers');

export function useMailpoll(bin: string, handlers: string): void {
  mailpollBin = bin;
  handlersDir = handlers;
}

/** The bench's local HTTP endpoint for the webhook cases (bench/lib/webhook-server.ts). */
let webhookUrl: string | undefined;

export function useWebhook(url: string): void {
  webhookUrl = url;
}

/** What a run leaves on the server: the semantics a mailpoll case is compared under. */
export type Mode = 'imap/markSeen' | 'imap/delete' | 'pop3/keep' | 'pop3/delete';
/** `plain`: no TLS at all (ports 143/110, no STARTTLS); `tls`: implicit TLS (imaps/pop3s). */
export type Transport = 'plain' | 'tls';
export type Handler = 'headers' | 'full' | 'shell' | 'command-argv' | 'command-sh' | 'webhook';
export type Group = 'mailpoll' | 'floor' | 'peer' | 'reference';

export const MODES: readonly Mode[] = ['imap/markSeen', 'imap/delete', 'pop3/keep', 'pop3/delete'];
export const TRANSPORTS: readonly Transport[] = ['plain', 'tls'];

export const TRANSPORT_LABEL: Record<Transport, string> = { plain: 'plain', tls: 'implicit TLS' };

export const HANDLER_LABEL: Record<Handler, string> = {
  headers: '(a) headers-only JS handler',
  full: '(b) full-parse JS handler',
  shell: "(c) JS handler spawning sh -c 'cat > /dev/null' per message",
  'command-argv': '(d) command handler `["dd", "of=/dev/null", "status=none"]` (no shell)',
  'command-sh': '(e) command handler `"cat > /dev/null"` (sh -c)',
  webhook: '(f) webhook handler, `body: raw`, local server answering 204',
};

/**
 * The account keys of each handler kind. The argv command reads the source to /dev/null as
 * `cat > /dev/null` does, without a shell: `["cat"]` itself would echo the message to stdout,
 * whose last line would then be read as the decision (and refused).
 */
function handlerKeys(handler: Handler): Record<string, unknown> {
  switch (handler) {
    case 'command-argv':
      return { command: ['dd', 'of=/dev/null', 'status=none'] };
    case 'command-sh':
      return { command: 'cat > /dev/null' };
    case 'webhook':
      if (webhookUrl === undefined) throw new Error('the webhook case needs useWebhook(url) first');
      return { webhook: { url: webhookUrl, body: 'raw' } };
    default:
      return { script: path.join(handlersDir, { headers: 'headers.mjs', full: 'full.mjs', shell: 'shell-cat.mjs' }[handler]) };
  }
}

/** Everything a case needs to build its command for one run. */
export interface RunContext {
  server: BenchServer;
  mailbox: SeededMailbox;
  /** A fresh, empty folder for this run (config files, HOME, XDG_STATE_HOME). */
  dir: string;
}

/** What the checks look at after a run. */
export interface RunOutcome {
  measurement: Measurement;
  state: FolderState;
  sessions: SessionStats;
  mailbox: SeededMailbox;
}

export interface Verdict {
  /** The run did what it should; its figures count. */
  valid: boolean;
  /** Why not, or what to know (one line). */
  note?: string;
  /**
   * The case cannot run at all (e.g. POP3 not supported yet): shown as `n/a (error: ...)`,
   * not retried in later runs.
   */
  unsupported?: string;
}

export interface Case {
  /** Unique within a scenario; what `--only` matches (with the scenario's name). */
  id: string;
  group: Group;
  /** Short tool label for tables: `mailpoll`, `imapflow fetch`, `fetchmail`, ... */
  tool: string;
  protocol: Protocol | 'none';
  /** How it connects; undefined for references. */
  transport: Transport | undefined;
  /** The semantics this case is compared under; undefined for references. */
  mode: Mode | undefined;
  handler?: Handler;
  /** `handlerConcurrency` of a mailpoll case, when set (else the default). */
  concurrency?: number;
  /** Runs of this case in its scenario. */
  runs: number;
  /** Skipped with this note (e.g. a peer not installed). */
  skip?: string;
  /** Run again (at most `max` times per run) when an invalid run's note matches `when`. */
  retry?: { when: RegExp; max: number; reason: string };
  build(context: RunContext): Promise<RunSpec>;
  check(outcome: RunOutcome): Verdict;
}

function modeOf(protocol: Protocol, keep: boolean): Mode {
  if (protocol === 'imap') return keep ? 'imap/markSeen' : 'imap/delete';
  return keep ? 'pop3/keep' : 'pop3/delete';
}

function portOf(server: BenchServer, protocol: Protocol, transport: Transport): number {
  if (transport === 'plain') return protocol === 'imap' ? server.ports.imap : server.ports.pop3;
  return protocol === 'imap' ? server.ports.imaps : server.ports.pop3s;
}

/**
 * The server state each mode must leave, plus "every byte was sent" and "over the transport
 * the case names" (a plain case that negotiated STARTTLS, or the reverse, measured the wrong thing).
 */
function checkState(mode: Mode | undefined, transport: Transport | undefined, outcome: RunOutcome, options: { seenAfterKeep?: boolean } = {}): string | undefined {
  const { state, sessions, mailbox } = outcome;
  const count = mailbox.count;
  if (transport !== undefined && mode !== undefined && sessions.logins === 0) return 'no login in the server log';
  if (transport === 'plain' && sessions.tlsLogins > 0) return `${sessions.tlsLogins} of ${sessions.logins} logins used TLS, expected plain`;
  if (transport === 'tls' && sessions.tlsLogins < sessions.logins) return `${sessions.logins - sessions.tlsLogins} of ${sessions.logins} logins without TLS, expected implicit TLS`;
  if (mode === 'imap/delete' || mode === 'pop3/delete') {
    if (state.messages !== 0) return `${state.messages} of ${count} messages left after delete`;
  } else if (mode !== undefined) {
    if (state.messages !== count) return `${state.messages} of ${count} messages left, expected all`;
    if (mode === 'imap/markSeen' && (options.seenAfterKeep ?? true) && state.unseen !== 0) return `${state.unseen} still unseen after markSeen`;
  }
  if (count > 0 && mode !== undefined && sessions.sentBytes < mailbox.wireBytes) {
    return `not everything was downloaded: the server sent ${sessions.bodies} of ${count} messages (${sessions.sentBytes} of ${mailbox.wireBytes} bytes)`;
  }
  return undefined;
}

/** The first line of a text, shortened. */
export function firstLine(text: string, max = 160): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The last line of a text (where Python tools and fetchmail put the error), shortened. */
export function lastLine(text: string, max = 160): string {
  return firstLine(text.split('\n').reverse().join('\n'), max);
}

export interface JsonEvent {
  type?: string;
  status?: string;
  error?: string | null;
  fetched?: number;
  processed?: number;
  failed?: number;
  exitCode?: number;
}

export function parseEvents(stdout: string): JsonEvent[] {
  const events: JsonEvent[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      events.push(JSON.parse(line) as JsonEvent);
    } catch {
      // not an event
    }
  }
  return events;
}

export interface MailpollCaseOptions {
  protocol: Protocol;
  /** Default: implicit TLS. */
  transport?: Transport;
  keep: boolean;
  handler: Handler;
  runs: number;
  /** `handlerConcurrency` (unset: mailpoll's default, 1). */
  concurrency?: number;
  /** Extra account keys (e.g. maxMessageSize). */
  account?: Record<string, unknown>;
  id?: string;
  /** Replace the standard check (e.g. the maxMessageSize case). */
  check?: (outcome: RunOutcome, events: JsonEvent[]) => Verdict;
}

/** The config a mailpoll case runs with (also used to probe `validate`). */
export function mailpollConfig(
  server: BenchServer,
  user: string,
  options: Pick<MailpollCaseOptions, 'protocol' | 'transport' | 'keep' | 'handler' | 'account' | 'concurrency'>,
): object {
  const transport = options.transport ?? 'tls';
  return {
    accounts: [
      {
        ...handlerKeys(options.handler),
        ...(options.concurrency === undefined ? {} : { handlerConcurrency: options.concurrency }),
        name: 'bench',
        protocol: options.protocol,
        host: server.host,
        port: portOf(server, options.protocol, transport),
        ...(transport === 'tls' ? { tls: 'implicit', ca: server.caFile } : { tls: 'none' }),
        user,
        password: PASSWORD,
        after: options.keep ? (options.protocol === 'imap' ? 'markSeen' : 'keep') : 'delete',
        ...options.account,
      },
    ],
  };
}

/** Environment of every mailpoll process: a private state folder (the store), no colours. */
function mailpollEnv(dir: string, action: string): Record<string, string | undefined> {
  return {
    HOME: dir,
    XDG_STATE_HOME: path.join(dir, 'state'),
    NO_COLOR: '1',
    FORCE_COLOR: undefined,
    MAILPOLL_BENCH_ACTION: action,
  };
}

export function mailpollCase(options: MailpollCaseOptions): Case {
  const mode = modeOf(options.protocol, options.keep);
  const transport = options.transport ?? 'tls';
  const action = options.keep ? (options.protocol === 'imap' ? 'markSeen' : 'keep') : 'delete';
  return {
    id: options.id ?? `mailpoll ${mode} ${transport} ${options.handler}${options.concurrency === undefined ? '' : ` x${options.concurrency}`}`,
    group: 'mailpoll',
    tool: 'mailpoll',
    protocol: options.protocol,
    transport,
    mode,
    handler: options.handler,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    runs: options.runs,
    async build({ server, mailbox, dir }) {
      const configFile = path.join(dir, 'mailpoll.config.json');
      await writeFile(configFile, JSON.stringify(mailpollConfig(server, mailbox.user, options), null, 2), { mode: 0o600 });
      return {
        command: process.execPath,
        args: [mailpollBin, '-c', configFile, '--json'],
        env: mailpollEnv(dir, action),
        cwd: dir,
      };
    },
    check(outcome) {
      const { measurement } = outcome;
      const events = parseEvents(measurement.stdout);
      const account = events.find((event) => event.type === 'account');
      const summary = events.find((event) => event.type === 'summary');
      if (account?.status === 'error') {
        return { valid: false, unsupported: firstLine(account.error ?? 'account error') };
      }
      if (options.check) return options.check(outcome, events);
      if (measurement.code !== 0 || !summary) {
        if (!summary) return { valid: false, unsupported: firstLine(measurement.stderr || `exit code ${measurement.code ?? measurement.signal}`) };
        return { valid: false, note: `exit code ${measurement.code ?? measurement.signal}: ${firstLine(measurement.stderr)}` };
      }
      const count = outcome.mailbox.count;
      if (summary.processed !== count || (summary.failed ?? 0) !== 0) {
        return { valid: false, note: `processed ${summary.processed ?? '?'} of ${count}, ${summary.failed ?? '?'} failed` };
      }
      const wrong = checkState(mode, transport, outcome);
      return wrong ? { valid: false, note: wrong } : { valid: true };
    },
  };
}

export type FloorName = 'imapflow-fetch' | 'imapflow-parse' | 'pop3-bare' | 'pop3-parse';

export const FLOOR_LABEL: Record<FloorName, string> = {
  'imapflow-fetch': 'floor: imapflow, one UID FETCH 1:*',
  'imapflow-parse': 'floor: imapflow UID FETCH 1:* + simpleParser each',
  'pop3-bare': 'floor: bare POP3 client (pipelined RETR)',
  'pop3-parse': 'floor: bare POP3 client + simpleParser each',
};

export function floorCase(floors: Map<string, string>, name: FloorName, transport: Transport, keep: boolean, runs: number): Case {
  const protocol: Protocol = name.startsWith('imap') ? 'imap' : 'pop3';
  const mode = modeOf(protocol, keep);
  const script = floors.get(name === 'pop3-parse' ? 'pop3-bare' : name);
  return {
    id: `floor ${mode} ${transport} ${name}`,
    group: 'floor',
    tool: name,
    protocol,
    transport,
    mode,
    runs,
    ...(script ? {} : { skip: `floor script for ${name} missing` }),
    async build({ server, mailbox }) {
      const params = {
        host: server.host,
        port: portOf(server, protocol, transport),
        tls: transport === 'tls',
        user: mailbox.user,
        password: PASSWORD,
        caFile: server.caFile,
        action: keep ? (protocol === 'imap' ? 'markSeen' : 'keep') : 'delete',
        parse: name === 'pop3-parse',
      };
      return { command: process.execPath, args: [script ?? ''], env: { BENCH_PARAMS: JSON.stringify(params) } };
    },
    check(outcome) {
      const { measurement } = outcome;
      if (measurement.code !== 0) return { valid: false, note: `exit code ${measurement.code ?? measurement.signal}: ${firstLine(measurement.stderr)}` };
      let reported: { messages?: number } = {};
      try {
        reported = JSON.parse(measurement.stdout.trim().split('\n').at(-1) ?? '{}') as { messages?: number };
      } catch {
        return { valid: false, note: 'no result line' };
      }
      if (reported.messages !== outcome.mailbox.count) return { valid: false, note: `read ${reported.messages} of ${outcome.mailbox.count} messages` };
      const wrong = checkState(mode, transport, outcome);
      return wrong ? { valid: false, note: wrong } : { valid: true };
    },
  };
}

export function peerCase(tool: PeerTool, protocol: Protocol, transport: Transport, keep: boolean, runs: number): Case {
  const mode = modeOf(protocol, keep);
  // getmail fetches with BODY.PEEK[] and sets no flag: its IMAP "keep" leaves mail unseen.
  const seenAfterKeep = tool.name === 'fetchmail';
  return {
    id: `${tool.name} ${mode} ${transport}`,
    group: 'peer',
    tool: tool.name,
    protocol,
    transport,
    mode,
    runs,
    ...(tool.binary ? {} : { skip: `${tool.name} not installed (${tool.install})` }),
    // getmail 6.18 can lose its MDA child's SIGCHLD and abort (see peers.ts): one more try.
    ...(tool.name === 'getmail6' ? { retry: { when: /waiting child pid \d+ timed out/, max: 1, reason: "getmail6 lost its MDA child's exit" } } : {}),
    async build({ server, mailbox, dir }) {
      return peerCommand(tool, { protocol, tls: transport === 'tls', port: portOf(server, protocol, transport), user: mailbox.user, password: PASSWORD, caFile: server.caFile, keep }, dir);
    },
    check(outcome) {
      const { measurement } = outcome;
      // fetchmail: 0 = mail delivered, 1 = no mail (an empty mailbox).
      const okCodes = tool.name === 'fetchmail' && outcome.mailbox.count === 0 ? [0, 1] : [0];
      const wrong = checkState(mode, transport, outcome, { seenAfterKeep });
      if (!okCodes.includes(measurement.code ?? -1)) {
        const error = `exit code ${measurement.code ?? measurement.signal}: ${lastLine(measurement.stderr || measurement.stdout)}`;
        return { valid: false, note: wrong ? `${error}; ${wrong}` : error };
      }
      if (wrong) return { valid: false, note: wrong };
      return !seenAfterKeep && mode === 'imap/markSeen' ? { valid: true, note: 'keep leaves messages unseen (BODY.PEEK, no STORE)' } : { valid: true };
    },
  };
}

/** `node -e 0`: what starting Node alone costs (context for the cold run). */
export function nodeReferenceCase(runs: number): Case {
  return {
    id: 'reference node -e 0',
    group: 'reference',
    tool: 'node -e 0',
    protocol: 'none',
    transport: undefined,
    mode: undefined,
    runs,
    async build() {
      return { command: process.execPath, args: ['-e', '0'] };
    },
    check(outcome) {
      return outcome.measurement.code === 0 ? { valid: true } : { valid: false, note: `exit code ${outcome.measurement.code}` };
    },
  };
}

/** A fresh folder for one run. */
export function runDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'mailpoll-bench-run-'));
}

/**
 * Does this mailpoll accept `config`? `mailpoll validate` contacts no server. Returns
 * undefined when it does, else its first error line.
 */
export async function validateConfig(config: object): Promise<string | undefined> {
  const dir = await runDir();
  const file = path.join(dir, 'mailpoll.config.json');
  await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  try {
    await execFileAsync(process.execPath, [mailpollBin, 'validate', '-c', file], {
      env: { ...process.env, ...mailpollEnv(dir, 'keep') } as NodeJS.ProcessEnv,
      timeout: 30_000,
    });
    return undefined;
  } catch (error) {
    const { stderr, stdout, message } = error as { stderr?: string; stdout?: string; message: string };
    const text = stderr || stdout || message;
    // A crash starts with Node's source location: the `...Error: ...` line says what happened.
    const crash = text.split('\n').find((line) => /^\w*Error\b/.test(line.trim()));
    return firstLine(crash ?? text, 300);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
