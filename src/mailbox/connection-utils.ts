/**
 * What the IMAP and POP3 adapters share around a server connection: reading the trusted CA,
 * bounding a step by a deadline, and shaping a server's text into our one-line messages.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { AccountConfig } from '../config/types.js';
import { ConfigError, describeError } from '../errors.js';
import { errorCode } from './net-errors.js';

/** The account's `ca:` file (PEM), or undefined for the system's CAs. Unreadable: a ConfigError. */
export async function readCa(account: Pick<AccountConfig, 'name' | 'ca'>): Promise<Buffer | undefined> {
  const file = account.ca;
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (error) {
    throw new ConfigError(`${account.name}: ca: cannot read ${file} (${errorCode(error) ?? describeError(error)}). Check the path.`, {
      account: account.name,
      cause: error,
    });
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
 * Recognises a plaintext client on an implicit-TLS port at once instead of at the connect
 * timeout: when the port has said nothing a moment after connecting, a second connection
 * tries a TLS handshake there, and `onTls` is called if the server completes it. A server
 * that greets never sees the probe; a slow plaintext server fails it and is waited for as
 * before. The certificate is not checked: nothing is sent over the probe.
 */
export function silentPortProbe(host: string, port: number, onTls: () => void): SilentPortProbe {
  let timer: NodeJS.Timeout | undefined;
  let probe: tls.TLSSocket | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    if (timer) clearTimeout(timer);
    probe?.destroy();
  };
  const run = (): void => {
    const socket = tls.connect({ host, port, ...(net.isIP(host) === 0 ? { servername: host } : {}), rejectUnauthorized: false });
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
