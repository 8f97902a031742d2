/**
 * Floor: a minimal POP3 client on `node:tls` (implicit TLS, pop3s) or `node:net` (plain). CAPA, USER/PASS, UIDL,
 * LIST, then RETR of every message (all commands sent at once when the server announces
 * PIPELINING, else one by one), each message's bytes read and dot-unstuffed, then DELE of
 * every message with `action: delete`, QUIT. With `parse: true` every message also goes
 * through mailparser's `simpleParser` (the POP3 "fetch + parse" floor).
 *
 * Parameters in BENCH_PARAMS (JSON, see Params); prints `{"messages":N,"bytes":B}`.
 * bench/run.ts transpiles this file to plain JS before running it.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

interface Params {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Implicit TLS; false: plain (no STLS). */
  tls: boolean;
  caFile: string;
  action: 'keep' | 'delete';
  parse?: boolean;
}

interface Response {
  ok: boolean;
  /** The status line without CRLF. */
  status: string;
  /** Multi-line data without the terminator, dot-unstuffed; empty for single-line. */
  data: Buffer;
}

const CRLF = Buffer.from('\r\n');
const TERMINATOR = Buffer.from('\r\n.\r\n');

/**
 * Reads pipelined POP3 responses in order. Each expected response is registered with
 * `expect(multiLine)` (before or after its bytes arrived); bytes are matched against the
 * oldest one. Received bytes are kept as a chunk list; each search looks only at bytes not
 * searched yet (plus an overlap of the needle's length - 1), and a response is copied out
 * once: no quadratic work for a large message. When more than HIGH_WATER bytes wait and
 * nobody has asked for them yet, the socket is paused until the consumer asks again (a
 * slow consumer, e.g. the parsing floor, does not buffer the whole mailbox; a message
 * larger than HIGH_WATER still arrives whole, since it is being asked for).
 */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

class ResponseReader {
  readonly #queue: Array<{ multiLine: boolean; resolve: (r: Response) => void; reject: (e: Error) => void }> = [];
  #chunks: Buffer[] = [];
  #length = 0;
  /** Offset (in the unread bytes) before which the current needle is known to be absent. */
  #searched = 0;
  /** Status line of the response being read, once complete. */
  #status: string | undefined;
  #statusEnd = 0;
  #failure: Error | undefined;
  #paused = false;
  readonly #flow: { pause(): void; resume(): void };

  constructor(flow: { pause(): void; resume(): void }) {
    this.#flow = flow;
  }

  expect(multiLine: boolean): Promise<Response> {
    if (this.#failure) return Promise.reject(this.#failure);
    const response = new Promise<Response>((resolve, reject) => this.#queue.push({ multiLine, resolve, reject }));
    this.#drain();
    // Still waiting for bytes, or little left in hand: let the server send again.
    if (this.#paused && (this.#queue.length > 0 || this.#length < LOW_WATER)) {
      this.#paused = false;
      this.#flow.resume();
    }
    return response;
  }

  fail(error: Error): void {
    this.#failure = error;
    for (const waiting of this.#queue.splice(0)) waiting.reject(error);
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    this.#drain();
    if (!this.#paused && this.#queue.length === 0 && this.#length > HIGH_WATER) {
      this.#paused = true;
      this.#flow.pause();
    }
  }

  #drain(): void {
    for (;;) {
      const current = this.#queue[0];
      if (!current) return;
      if (this.#status === undefined) {
        const end = this.#find(CRLF);
        if (end === -1) return;
        this.#status = this.#range(0, end).toString('latin1');
        this.#statusEnd = end + 2;
        // The terminator's first CRLF may be the status line's own (empty body).
        this.#searched = end;
      }
      const ok = this.#status.startsWith('+OK');
      if (!current.multiLine || !ok) {
        this.#finish(current, { ok, status: this.#status, data: Buffer.alloc(0) }, this.#statusEnd);
        continue;
      }
      const at = this.#find(TERMINATOR);
      if (at === -1) return;
      // Data runs from after the status line to the CRLF before "." (kept: the last line's end).
      const data = this.#statusEnd <= at + 2 ? this.#range(this.#statusEnd, at + 2) : Buffer.alloc(0);
      this.#finish(current, { ok, status: this.#status, data: unstuff(data) }, at + TERMINATOR.length);
    }
  }

  /** Offset of `needle` at or after `#searched`, -1 if not there yet (then `#searched` moves on). */
  #find(needle: Buffer): number {
    const from = this.#searched;
    if (this.#length - from >= needle.length) {
      // The chunk holding `from`: walk back from the newest one (usually one or two steps).
      let index = this.#chunks.length - 1;
      let base = this.#length - (this.#chunks[index]?.length ?? 0);
      while (index > 0 && base > from) {
        index -= 1;
        base -= this.#chunks[index]?.length ?? 0;
      }
      for (; index < this.#chunks.length; index += 1) {
        const chunk = this.#chunks[index] as Buffer;
        const windowStart = Math.max(from, base - (needle.length - 1));
        const window = windowStart >= base
          ? chunk.subarray(windowStart - base)
          : Buffer.concat([this.#range(windowStart, base), chunk]);
        const found = window.indexOf(needle);
        if (found !== -1) return windowStart + found;
        base += chunk.length;
      }
    }
    this.#searched = Math.max(from, this.#length - (needle.length - 1));
    return -1;
  }

  /** Bytes [start, end) of the unread data: a view when in one chunk, else one copy. */
  #range(start: number, end: number): Buffer {
    const parts: Buffer[] = [];
    let base = 0;
    for (const chunk of this.#chunks) {
      const chunkEnd = base + chunk.length;
      if (chunkEnd > start && base < end) parts.push(chunk.subarray(Math.max(start - base, 0), Math.min(end - base, chunk.length)));
      if (chunkEnd >= end) break;
      base = chunkEnd;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  #finish(current: { resolve: (r: Response) => void }, response: Response, consumed: number): void {
    this.#queue.shift();
    // Drop the consumed bytes: whole chunks, then the front of the first one (a view).
    let drop = consumed;
    while (drop > 0 && this.#chunks.length > 0) {
      const first = this.#chunks[0] as Buffer;
      if (first.length <= drop) {
        this.#chunks.shift();
        drop -= first.length;
      } else {
        this.#chunks[0] = first.subarray(drop);
        drop = 0;
      }
    }
    this.#length -= consumed;
    this.#searched = 0;
    this.#status = undefined;
    current.resolve(response);
  }
}

/** Undo dot-stuffing: a line starting with ".." loses one dot. */
function unstuff(data: Buffer): Buffer {
  if (data.indexOf('\r\n..') === -1 && !(data[0] === 0x2e && data[1] === 0x2e)) return data;
  const text = data.toString('latin1');
  return Buffer.from(text.replace(/^\.\./, '.').replace(/\r\n\.\./g, '\r\n.'), 'latin1');
}

const params = JSON.parse(process.env.BENCH_PARAMS ?? '{}') as Params;
const simpleParser = params.parse ? (await import('mailparser')).simpleParser : undefined;

const socket = params.tls
  ? tls.connect({ host: params.host, port: params.port, servername: 'localhost', ca: readFileSync(params.caFile, 'utf8') })
  : net.connect({ host: params.host, port: params.port });
const reader = new ResponseReader(socket);
socket.on('data', (chunk: Buffer) => reader.push(chunk));
socket.on('error', (error) => reader.fail(error));
socket.on('close', () => reader.fail(new Error('connection closed')));

function send(line: string, multiLine: boolean): Promise<Response> {
  const response = reader.expect(multiLine);
  socket.write(`${line}\r\n`);
  return response;
}

async function must(response: Promise<Response>, what: string): Promise<Response> {
  const result = await response;
  if (!result.ok) throw new Error(`${what}: ${result.status}`);
  return result;
}

await must(reader.expect(false), 'greeting');
const capa = await send('CAPA', true);
const pipelining = capa.ok && /^PIPELINING$/m.test(capa.data.toString('latin1').replace(/\r/g, ''));
await must(send(`USER ${params.user}`, false), 'USER');
await must(send(`PASS ${params.password}`, false), 'PASS');
const uidl = await must(send('UIDL', true), 'UIDL');
const list = await must(send('LIST', true), 'LIST');
const numbers = list.data
  .toString('latin1')
  .split('\r\n')
  .filter((line) => line !== '')
  .map((line) => Number(line.split(' ')[0]));
if (uidl.data.toString('latin1').split('\r\n').filter(Boolean).length !== numbers.length) throw new Error('UIDL and LIST disagree');

let messages = 0;
let bytes = 0;
const handle = async (response: Response): Promise<void> => {
  if (!response.ok) throw new Error(`RETR: ${response.status}`);
  messages += 1;
  bytes += response.data.length;
  if (simpleParser) await simpleParser(response.data);
};

// Pipelined: every RETR goes out at once; responses are taken one by one as they arrive
// (a message is held only until it has been handled).
const commands = (verb: string) => numbers.map((n) => `${verb} ${n}`);
if (pipelining) {
  if (numbers.length > 0) socket.write(`${commands('RETR').join('\r\n')}\r\n`);
  for (let i = 0; i < numbers.length; i += 1) await handle(await reader.expect(true));
} else {
  for (const line of commands('RETR')) await handle(await send(line, true));
}

if (params.action === 'delete' && numbers.length > 0) {
  if (pipelining) {
    socket.write(`${commands('DELE').join('\r\n')}\r\n`);
    for (let i = 0; i < numbers.length; i += 1) if (!(await reader.expect(false)).ok) throw new Error('DELE refused');
  } else {
    for (const line of commands('DELE')) await must(send(line, false), 'DELE');
  }
}
await must(send('QUIT', false), 'QUIT');
socket.end();
process.stdout.write(`${JSON.stringify({ messages, bytes, pipelining })}\n`);
