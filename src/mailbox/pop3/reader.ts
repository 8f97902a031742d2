/**
 * POP3 responses from raw bytes (RFC 1939 section 3): status lines, and multi-line bodies
 * ended by `CRLF . CRLF` with dot-stuffing undone. It works on whatever TCP chunks arrive:
 * a status line, a stuffed dot or the terminator split across reads is just state, and
 * bytes after a terminator belong to the next response (pipelining). Bodies are never
 * decoded: they leave as the bytes the server stored.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const LF_DOT = Buffer.from('\n.', 'latin1');
const CR_ONLY = Buffer.from('\r', 'latin1');

/** RFC 2449 allows 512 octets per response line; this leaves room for chatty servers. */
export const MAX_STATUS_LINE = 8192;

/** Bodies above this size are collected as chunks and joined once, not preallocated. */
const MAX_PREALLOCATION = 512 * 1024 * 1024;

/** The server sent something that is not POP3 (or not what was asked for). */
export class Pop3ProtocolError extends Error {
  override readonly name = 'Pop3ProtocolError';
}

/** Where the reader delivers what it parsed, in order. */
export interface ResponseEvents {
  /** A status line arrived (without its line break). Returns true when a multi-line body follows. */
  status(line: string): boolean;
  /**
   * Bytes of the current body, dot-stuffing undone. `data` may be a view into the socket's
   * chunk; Node never reuses those, so keeping the view is safe.
   */
  body(data: Buffer): void;
  /** The body's terminator was read; the line break before it stays part of the body. */
  end(): void;
}

export class ResponseReader {
  readonly #events: ResponseEvents;
  #inBody = false;
  /** Pieces of a status line not yet ended by LF. */
  #line: Buffer[] = [];
  #lineLength = 0;
  /** In a body: the next byte starts a line. */
  #atLineStart = true;
  /** In a body: 1 after a `.` at line start, 2 after `.\r` (the terminator may follow). */
  #dot: 0 | 1 | 2 = 0;

  constructor(events: ResponseEvents) {
    this.#events = events;
  }

  /** True while part of a response has been read (STLS requires nothing in between). */
  get midResponse(): boolean {
    return this.#inBody || this.#lineLength > 0;
  }

  /** Parse `chunk`; throws Pop3ProtocolError on a status line that is too long. */
  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      offset = this.#inBody ? this.#readBody(chunk, offset) : this.#readStatus(chunk, offset);
    }
  }

  #readStatus(chunk: Buffer, offset: number): number {
    const end = chunk.indexOf(LF, offset);
    const piece = chunk.subarray(offset, end === -1 ? chunk.length : end);
    if (this.#lineLength + piece.length > MAX_STATUS_LINE) {
      throw new Pop3ProtocolError(`a response line longer than ${MAX_STATUS_LINE} bytes`);
    }
    if (piece.length > 0) {
      this.#line.push(piece);
      this.#lineLength += piece.length;
    }
    if (end === -1) return chunk.length;

    let line = this.#line.length === 1 ? this.#line[0]! : Buffer.concat(this.#line, this.#lineLength);
    this.#line = [];
    this.#lineLength = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, -1);
    if (this.#events.status(line.toString('utf8'))) {
      this.#inBody = true;
      this.#atLineStart = true;
      this.#dot = 0;
    }
    return end + 1;
  }

  #readBody(chunk: Buffer, offset: number): number {
    let i = offset;
    const length = chunk.length;
    while (i < length) {
      if (this.#dot === 1) {
        const byte = chunk[i];
        if (byte === CR) {
          this.#dot = 2;
          i += 1;
          continue;
        }
        // `.` LF: a terminator without CR (a lenient reading: a stuffed body never has it).
        if (byte === LF) return this.#finishBody(i + 1);
        // Any other byte: the dot was stuffing and is dropped; the byte is data.
        this.#dot = 0;
        this.#atLineStart = false;
        continue;
      }
      if (this.#dot === 2) {
        if (chunk[i] === LF) return this.#finishBody(i + 1);
        // `.` CR then something else: the dot was stuffing, the CR is data.
        this.#dot = 0;
        this.#atLineStart = false;
        this.#events.body(CR_ONLY);
        continue;
      }
      if (this.#atLineStart && chunk[i] === DOT) {
        this.#dot = 1;
        this.#atLineStart = false;
        i += 1;
        continue;
      }
      // Everything up to the next line that starts with a dot is plain data.
      const next = chunk.indexOf(LF_DOT, i);
      if (next === -1) {
        this.#events.body(chunk.subarray(i));
        this.#atLineStart = chunk[length - 1] === LF;
        return length;
      }
      this.#events.body(chunk.subarray(i, next + 1));
      this.#atLineStart = true;
      i = next + 1;
    }
    return length;
  }

  #finishBody(next: number): number {
    this.#inBody = false;
    this.#dot = 0;
    this.#events.end();
    return next;
  }
}

/**
 * The bytes of one body, held once. With a size hint (the LIST size, or the octets a RETR
 * announces) the body is copied into one buffer of that size as it arrives; without one,
 * or when the hint was wrong, chunks are kept and joined once at the end. Either way no
 * byte is copied more than twice and nothing grows quadratically.
 */
export class BodyCollector {
  #buffer: Buffer | undefined;
  #filled = 0;
  #chunks: Buffer[] = [];
  #length = 0;

  constructor(sizeHint?: number) {
    if (sizeHint !== undefined && Number.isSafeInteger(sizeHint) && sizeHint > 0 && sizeHint <= MAX_PREALLOCATION) {
      this.#buffer = Buffer.allocUnsafe(sizeHint);
    }
  }

  get length(): number {
    return this.#length;
  }

  push(data: Buffer): void {
    if (data.length === 0) return;
    this.#length += data.length;
    const buffer = this.#buffer;
    if (buffer && this.#chunks.length === 0) {
      if (this.#filled + data.length <= buffer.length) {
        data.copy(buffer, this.#filled);
        this.#filled += data.length;
        return;
      }
      // The hint was too small: what is there becomes the first chunk.
      this.#chunks.push(buffer.subarray(0, this.#filled));
      this.#buffer = undefined;
    }
    this.#chunks.push(data);
  }

  /** The whole body. The collector must not be used afterwards. */
  finish(): Buffer {
    const buffer = this.#buffer;
    this.#buffer = undefined;
    const chunks = this.#chunks;
    this.#chunks = [];
    if (buffer) {
      if (this.#filled === buffer.length) return buffer;
      // The hint was too large: keep a view when it is close, else a copy that frees the rest.
      const view = buffer.subarray(0, this.#filled);
      return this.#filled >= buffer.length / 2 ? view : Buffer.from(view);
    }
    if (chunks.length === 1) {
      const only = chunks[0]!;
      // A view of a larger socket chunk would keep all of it alive.
      return only.byteOffset === 0 && only.buffer.byteLength === only.length ? only : Buffer.from(only);
    }
    return Buffer.concat(chunks, this.#length);
  }
}
