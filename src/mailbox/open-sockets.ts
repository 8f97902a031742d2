/**
 * The sockets an adapter opened that have not closed yet. Closing a session waits for their
 * `close` events, so that whoever counts connections (the watch's `maxConnections`) gives a
 * slot back only once its socket is gone, whatever ended the session: a logout, a timeout, an
 * error, a stop.
 */
import type net from 'node:net';

export class OpenSockets {
  readonly #open = new Map<net.Socket, Promise<void>>();

  /** Keep `socket` until it closes; returns it. */
  add<T extends net.Socket>(socket: T): T {
    if (socket.closed || this.#open.has(socket)) return socket;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.#open.set(socket, closed);
    void closed.then(() => this.#open.delete(socket));
    return socket;
  }

  /** Sockets not closed yet. */
  get size(): number {
    return this.#open.size;
  }

  /** Destroy every socket still open and resolve once each has closed. */
  async destroyAll(): Promise<void> {
    const closing = [...this.#open];
    for (const [socket] of closing) socket.destroy();
    await Promise.all(closing.map(([, closed]) => closed));
  }
}
