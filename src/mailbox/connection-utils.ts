/**
 * What the IMAP and POP3 adapters share around a server connection (how it is made, TLS and
 * proxy included, is `transport.ts`): bounding a step by a deadline (and latching the timeout as the session's failure), the
 * open check, and shaping a server's text into our one-line messages.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { AccountConfig } from '../config/types.js';
import { MailboxError, MailpollError, TimeoutError } from '../errors.js';
import { logDebug, type Logger } from '../logger.js';
import { redact } from '../redact.js';
import { errorCode } from './net-errors.js';

/** A plaintext client on an implicit-TLS port waits for a greeting that never comes. */
export const NO_GREETING_HINT = ' (no greeting: if the port expects TLS from the first byte, set tls: implicit)';

/**
 * One adapter's hold on its server session: who it is (account, host:port), the failure that
 * made the session unusable (every later call throws it), deadlines that set that failure,
 * and the account's password kept out of server text and the verbose log.
 */
export class ConnectionGuard {
  /** Set once the session is unusable (a timeout, a lost link): every later call throws it. */
  failure: MailpollError | undefined;

  constructor(
    readonly account: AccountConfig,
    readonly host: string,
    readonly port: number,
    readonly logger: Logger | undefined,
  ) {}

  get name(): string {
    return this.account.name;
  }

  get where(): string {
    return `${this.host}:${this.port}`;
  }

  /** `session` when it is open and nothing has failed; else the failure, or that open() is missing. */
  requireOpen<T>(session: T | undefined): T {
    if (this.failure) throw this.failure;
    if (session === undefined) {
      throw new MailboxError(`${this.name}: the mailbox is not open (open() was not called or failed).`, { account: this.name });
    }
    return session;
  }

  /**
   * `work`, or a TimeoutError `${name}: ${message()}` after `ms`: then `end` ends the
   * connection (a stalled session cannot be resumed), and while `current()` says the session
   * is still the one in use, the timeout becomes its failure.
   */
  within<T>(work: Promise<T>, ms: number, message: () => string, end: () => void, current: () => boolean): Promise<T> {
    return withDeadline(work, ms, () => {
      const error = new TimeoutError(`${this.name}: ${message()}`, { account: this.name });
      if (current()) this.failure ??= error;
      end();
      return error;
    });
  }

  /**
   * Any failure as one of our errors: ours pass through, and once the session has failed
   * every rejection is a consequence of that failure. `shape` describes the rest.
   */
  describe(error: unknown, shape: () => MailpollError): MailpollError {
    if (error instanceof MailpollError) return error;
    return this.failure ?? shape();
  }

  /**
   * Text from the server or a library, safe to put in a message or the verbose log: the
   * password masked, in case a server echoes what it got.
   */
  clean(text: string): string {
    return redact(text, [this.account.password]);
  }

  /** A line for the verbose log, if there is one, the password masked; a failing logger must not break the session. */
  log(line: string): void {
    if (this.logger?.debug) logDebug(this.logger, this.clean(line));
  }

  /** The verbose log as a Logger for a protocol client (password masked), or undefined when none is wanted. */
  get trace(): Logger | undefined {
    return this.logger?.debug ? { debug: (line) => this.log(line) } : undefined;
  }
}

/**
 * `work`, or the error `onTimeout` returns after `ms` (it also ends the connection: a stalled
 * session cannot be resumed). The timer never keeps the process alive.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** `text` ending in a full stop, so a fix can follow it. */
export function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** What the first line (or bytes) a server sends says about the protocol it speaks. */
export type GreetingProtocol = 'imap' | 'pop3' | 'tls';

/** `* OK` / `* PREAUTH` / `* BYE`: IMAP; `+OK` / `-ERR`: POP3; a TLS handshake record: TLS. */
export function greetingProtocol(first: Buffer): GreetingProtocol | undefined {
  // A TLS record: content type 22 (handshake), then version 3.x.
  if (first[0] === 0x16 && (first.length < 2 || first[1] === 0x03)) return 'tls';
  const text = first.toString('latin1', 0, 16);
  if (/^\* (?:OK|PREAUTH|BYE)\b/i.test(text)) return 'imap';
  if (/^(?:\+OK|-ERR)\b/i.test(text)) return 'pop3';
  return undefined;
}

/**
 * How long a plaintext connection may stay silent after TCP connect before the port is
 * asked whether it speaks TLS: servers greet within milliseconds, an implicit-TLS port
 * never does (it waits for the client's hello).
 */
const SILENT_PORT_PROBE_AFTER_MS = 2000;
/** The probe's own handshake gets this long. */
const SILENT_PORT_PROBE_MS = 5000;

export interface SilentPortProbe {
  /** The TCP connection is up: from now on, silence counts. */
  connected(): void;
  /** The server said something (or the attempt ended): no probe. */
  stop(): void;
}

/**
 * Asked before a session opens a second connection to its host: a function that gives the
 * connection back (called once that socket has closed), or undefined when none may be opened
 * now (watch mode: the host is at `maxConnections`). Absent: no limit.
 */
export type ExtraConnection = () => (() => void) | undefined;

/**
 * Recognises a plaintext client on an implicit-TLS port at once instead of at the connect
 * timeout: when the port has said nothing a moment after connecting, a second connection
 * tries a TLS handshake there, and `onTls` is called if the server completes it. A server
 * that greets never sees the probe; a slow plaintext server fails it and is waited for as
 * before. The certificate is not checked: nothing is sent over the probe. The probe is a
 * connection to the host like any other: it is made only when `extra` grants one (a busy
 * server is silent too, and must not get twice the sessions), else the session waits for
 * its greeting until the connect timeout, whose message gives the hint instead.
 */
export function silentPortProbe(host: string, port: number, onTls: () => void, extra?: ExtraConnection): SilentPortProbe {
  let timer: NodeJS.Timeout | undefined;
  let probe: tls.TLSSocket | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    if (timer) clearTimeout(timer);
    probe?.destroy();
  };
  const run = (): void => {
    const release = extra === undefined ? () => undefined : extra();
    if (release === undefined) return;
    const socket = tls.connect({ host, port, ...(net.isIP(host) === 0 ? { servername: host } : {}), rejectUnauthorized: false });
    socket.once('close', release);
    probe = socket;
    socket.setTimeout(SILENT_PORT_PROBE_MS, () => socket.destroy());
    socket.once('secureConnect', () => {
      socket.destroy();
      if (!stopped) onTls();
    });
    socket.on('error', () => socket.destroy());
  };
  return {
    connected() {
      if (stopped || timer) return;
      timer = setTimeout(run, SILENT_PORT_PROBE_AFTER_MS);
      timer.unref();
    },
    stop,
  };
}
