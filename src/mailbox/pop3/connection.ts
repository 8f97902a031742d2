/**
 * One POP3 connection over `net`/`tls`: commands go out in order, possibly several in
 * one write (pipelining, RFC 2449), and their responses are matched in order by the
 * ResponseReader. STLS (RFC 2595) upgrades the same socket. Errors here are plain
 * (Node's socket/TLS errors, Pop3ClosedError, Pop3ProtocolError): the adapter turns them
 * into mailpoll errors, because only it knows the account.
 */
import net from 'node:net';
import tls from 'node:tls';
import { logDebug, type Logger } from '../../logger.js';
import { OpenSockets } from '../open-sockets.js';
import { BodyCollector, Pop3ProtocolError, ResponseReader, type ResponseEvents } from './reader.js';

export { Pop3ProtocolError } from './reader.js';

/** The connection ended while a response was expected (or was ended by `destroy()`). */
export class Pop3ClosedError extends Error {
  override readonly name = 'Pop3ClosedError';
  /** An unsolicited line the server sent before closing (`-ERR Disconnected for inactivity.`). */
  readonly serverText: string | undefined;
  /** True when `destroy()` ended the connection, not the peer. */
  readonly byClient: boolean;

  constructor(message: string, serverText?: string, byClient = false) {
    super(message);
    this.serverText = serverText;
    this.byClient = byClient;
  }
}

/** The first line from the server is not a POP3 greeting (often another protocol's: `* OK` is IMAP). */
export class Pop3GreetingError extends Pop3ProtocolError {
  /** The line as received, for the adapter to tell which protocol it is. */
  readonly line: string;

  constructor(line: string) {
    super(`unexpected greeting "${line.slice(0, 80)}"`);
    this.line = line;
  }
}

export interface Pop3ConnectionOptions {
  host: string;
  port: number;
  /** TLS from the first byte (pop3s). Otherwise plaintext, possibly upgraded by `startTls()`. */
  implicitTls: boolean;
  /**
   * Starts TLS on `socket` (or to host:port when undefined) and calls `onSecure` once the
   * handshake and the adapter's checks of the certificate passed; failures are emitted on
   * the returned socket.
   */
  secure: (socket: net.Socket | undefined, onSecure: () => void) => tls.TLSSocket;
  /** An open connection to the server (a proxy tunnel), instead of connecting to host:port. */
  socket?: net.Socket | undefined;
  /** Its `debug` gets the protocol log: commands and status lines, never bodies (masking is the logger's). */
  logger?: Logger | undefined;
}

/** A status line and, for a multi-line answer, its body. */
export interface Pop3Reply {
  ok: boolean;
  /** The status line after `+OK` / `-ERR`, trimmed. */
  text: string;
  /** The body of a multi-line `+OK` answer, dot-stuffing undone, final CRLF kept. */
  body: Buffer | undefined;
  /** A SASL continuation (`+ <base64>`) to an `expectContinuation` command; `text` is its base64. */
  continuation?: boolean;
}

export interface Pop3Command {
  /** The command line without CRLF, e.g. `RETR 3`. */
  line: string;
  /** A body follows `+OK` (RETR, TOP, CAPA, UIDL or LIST without argument). */
  multiline?: boolean;
  /** The expected body size, so the body is allocated once. */
  sizeHint?: number | undefined;
  /** What the debug log shows instead of the line (PASS). */
  logAs?: string;
  /** A step of SASL AUTH (RFC 5034): a `+ ` continuation answers it too. */
  expectContinuation?: boolean;
}

interface Pending {
  /** The greeting and the TLS handshake are awaited like responses, so a failure rejects them too. */
  kind: 'greeting' | 'handshake' | 'command';
  command: Pop3Command | undefined;
  resolve(reply: Pop3Reply): void;
  reject(error: Error): void;
  ok?: boolean;
  text?: string;
  collector?: BodyCollector;
}

const OCTETS = /^(\d+)\s+octets\b/i;

export class Pop3Connection {
  readonly #options: Pop3ConnectionOptions;
  readonly #reader: ResponseReader;
  /** The socket opened first (a TLS socket for implicit TLS); after STLS, the TLS socket wraps it. */
  readonly #raw: net.Socket;
  #socket: net.Socket;
  /** Every socket of the connection (a tunnel, the TCP one, TLS over it) until it has closed. */
  readonly #sockets = new OpenSockets();
  /** Responses expected, oldest first; the head is the one being read. */
  #queue: Pending[] = [];
  #failure: Error | undefined;
  /** The last line the server sent unasked, and how many such lines came. */
  #unsolicited: string | undefined;
  #strayLines = 0;
  /** The server greeting: the first response, expected before anything is sent. */
  readonly greeting: Promise<Pop3Reply>;
  /** Called once the TCP connection is up (before any TLS handshake). */
  onConnect: (() => void) | undefined;

  /** Starts connecting at once; `greeting` settles when the server has greeted (or failed). */
  constructor(options: Pop3ConnectionOptions) {
    this.#options = options;
    this.#reader = new ResponseReader(this.#events);
    this.greeting = this.#expect('greeting');

    const { host, port, socket } = options;
    if (options.implicitTls) {
      const secure = options.secure(socket, () => this.#log(`* TLS established (${secure.getProtocol() ?? 'TLS'})`));
      this.#raw = secure;
    } else {
      this.#raw = socket ?? net.connect({ host, port });
    }
    this.#socket = this.#raw;
    if (socket) this.#sockets.add(socket);
    this.#sockets.add(this.#raw);
    this.#attach(this.#raw);
    this.#raw.setNoDelay(true);
    const connected = (): void => {
      this.#log(`* connected to ${host}:${port}${options.implicitTls ? ' (implicit TLS)' : ''}${socket ? ' through the proxy' : ''}`);
      this.onConnect?.();
    };
    if (socket) {
      // A tunnel is connected already, and paused with what the server may have sent first.
      socket.resume();
      setImmediate(connected);
    } else {
      this.#raw.once('connect', connected);
    }
  }

  /** Why the connection is unusable, once it is. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Send `commands` in one write and return one promise per command, settling in order.
   * The promises are pre-handled: one nobody awaits never becomes an unhandled rejection.
   * Send several at once only when the server announced PIPELINING.
   */
  send(commands: Pop3Command[]): Array<Promise<Pop3Reply>> {
    for (const command of commands) {
      if (/[\r\n]/.test(command.line)) throw new TypeError('a POP3 command cannot contain a line break');
    }
    const replies = commands.map((command) => this.#expect('command', command));
    if (this.#failure) return replies;
    for (const command of commands) this.#log(`C: ${command.logAs ?? command.line}`);
    this.#socket.write(commands.map((command) => `${command.line}\r\n`).join(''), 'utf8');
    return replies;
  }

  /** One command and its reply. */
  command(command: Pop3Command): Promise<Pop3Reply> {
    return this.send([command])[0]!;
  }

  /**
   * RFC 2595 STLS after its `+OK`: the same socket continues under TLS. Nothing may be
   * pending on either side (a server that sent more after `+OK` could be injecting
   * plaintext into what looks like the TLS session: that is refused).
   */
  async startTls(): Promise<void> {
    if (this.#failure) throw this.#failure;
    const clean = this.#queue.length === 0 && !this.#reader.midResponse && this.#strayLines === 0;
    if (!clean || this.#socket !== this.#raw || this.#raw instanceof tls.TLSSocket) {
      const error = new Pop3ProtocolError('data after the STLS answer, before the TLS handshake');
      this.#fail(error);
      throw error;
    }
    const raw = this.#raw;
    raw.removeListener('data', this.#onData);
    raw.removeListener('close', this.#onClose);
    // raw keeps its 'error' listener: a socket error during the handshake fails it too.
    const handshake = this.#expect('handshake');
    const secure = this.#options.secure(raw, () => {
      this.#log(`* TLS established (${secure.getProtocol() ?? 'TLS'})`);
      const head = this.#queue.shift();
      head?.resolve({ ok: true, text: 'TLS', body: undefined });
    });
    this.#socket = this.#sockets.add(secure);
    this.#attach(secure);
    await handshake;
  }

  /** End the connection at once (no QUIT); every pending command fails. Safe to call twice. */
  destroy(): void {
    this.#fail(new Pop3ClosedError('connection closed by the client', undefined, true));
  }

  /** As `destroy()`, resolving once every socket of the connection has closed. */
  async close(): Promise<void> {
    this.destroy();
    await this.#sockets.destroyAll();
  }

  #attach(socket: net.Socket): void {
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.once('close', this.#onClose);
  }

  /** A promise for the next response; pre-handled so that it never becomes an unhandled rejection. */
  #expect(kind: Pending['kind'], command?: Pop3Command): Promise<Pop3Reply> {
    let pending!: Pending;
    const promise = new Promise<Pop3Reply>((resolve, reject) => {
      pending = { kind, command, resolve, reject };
    });
    promise.catch(() => undefined);
    if (this.#failure) pending.reject(this.#failure);
    else this.#queue.push(pending);
    return promise;
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#failure) return;
    try {
      this.#reader.push(chunk);
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Pop3ProtocolError(String(error)));
    }
  };

  readonly #onError = (error: Error): void => {
    this.#fail(error);
  };

  readonly #onClose = (): void => {
    const said = this.#unsolicited;
    this.#fail(new Pop3ClosedError(said ? `connection closed by the server (${said})` : 'connection closed by the server', said));
  };

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    if (!(error instanceof Pop3ClosedError)) this.#log(`* connection failed: ${error.message}`);
    else if (!error.byClient) this.#log(`* ${error.message}`);
    this.#socket.destroy();
    this.#raw.destroy();
    const queue = this.#queue;
    this.#queue = [];
    for (const pending of queue) pending.reject(error);
  }

  readonly #events: ResponseEvents = {
    status: (line) => {
      const head = this.#queue[0];
      this.#log(`S: ${line}`);
      if (!head) {
        // Nothing was asked: a server's last words before it hangs up.
        this.#unsolicited = line.trim().slice(0, 200);
        this.#strayLines += 1;
        return false;
      }
      if (head.kind === 'handshake') throw new Pop3ProtocolError('plaintext during the TLS handshake');
      if (head.command?.expectContinuation && /^\+(?: |$)/.test(line)) {
        this.#queue.shift();
        head.resolve({ ok: false, text: line.slice(1).trim(), body: undefined, continuation: true });
        return false;
      }
      const match = /^(\+OK|-ERR)(?:\s+(.*))?$/i.exec(line);
      if (!match && head.kind === 'greeting') throw new Pop3GreetingError(line);
      if (!match) throw new Pop3ProtocolError(`unexpected answer "${line.slice(0, 80)}"`);
      const ok = match[1]!.toUpperCase() === '+OK';
      const text = (match[2] ?? '').trim();
      const command = head.command;
      if (ok && command?.multiline) {
        head.ok = ok;
        head.text = text;
        head.collector = new BodyCollector(command.sizeHint ?? octets(text));
        return true;
      }
      this.#queue.shift();
      head.resolve({ ok, text, body: undefined });
      return false;
    },
    body: (data) => {
      this.#queue[0]?.collector?.push(data);
    },
    end: () => {
      const head = this.#queue.shift();
      if (!head) return;
      const body = head.collector?.finish() ?? Buffer.alloc(0);
      this.#log(`S: (${body.length} bytes)`);
      head.resolve({ ok: head.ok ?? true, text: head.text ?? '', body });
    },
  };

  #log(line: string): void {
    logDebug(this.#options.logger, line);
  }
}

/** `1234 octets` in a RETR answer: the size to allocate. */
function octets(text: string): number | undefined {
  const match = OCTETS.exec(text);
  return match ? Number(match[1]) : undefined;
}
