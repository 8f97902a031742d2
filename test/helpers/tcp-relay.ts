/**
 * TCP stand-ins on 127.0.0.1 for tests: a relay in front of a real server that can split,
 * rewrite, stall or cut the traffic (a flaky network, a stalled server, a link that drops
 * at a chosen command), and a bare listener for scripted servers.
 */
import net from 'node:net';

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

/** Close every relay and listener this process started (call from `after`). */
export function closeRelays(): void {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
}

export interface RelayOptions {
  /** Cut each server -> client chunk into pieces written separately, with `pause` between. */
  split?: (chunk: Buffer) => Buffer[];
  pause?: () => Promise<void>;
  /** Rewrite server -> client bytes (e.g. hide a capability). */
  rewrite?: (chunk: Buffer) => Buffer;
  /** Cut this connection, without forwarding, when a client write makes this true (e.g. it holds `QUIT`). */
  cutWhen?: (clientChunk: Buffer) => boolean;
  /** Stop forwarding server bytes on this connection (only) once a client write makes this true. */
  stallWhen?: (clientChunk: Buffer) => boolean;
  /** Listen on this port (to bring a relay back where a closed one was); default a free one. */
  port?: number;
}

export interface Relay {
  port: number;
  /** Each write the client made, in order (all connections). */
  clientChunks: Buffer[];
  /** From now on forward nothing more from the server: a server that stops sending. */
  stall(): void;
  /** Forward again after `stall()` (what was held back is lost, as on a broken link). */
  resume(): void;
  /** Cut every connection, as a network failure would. */
  cut(): void;
  /** Stop accepting connections and cut the open ones. */
  close(): void;
}

export async function startRelay(target: number, options: RelayOptions = {}): Promise<Relay> {
  const clientChunks: Buffer[] = [];
  const pairs = new Set<[net.Socket, net.Socket]>();
  let stalled = false;
  const cutAll = (): void => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
  };
  const { port, server } = await listenWith((client) => {
    let connectionStalled = false;
    const upstream = net.connect(target, '127.0.0.1');
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    sockets.add(upstream);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      clientChunks.push(chunk);
      if (options.cutWhen?.(chunk)) {
        client.destroy();
        upstream.destroy();
        return;
      }
      if (options.stallWhen?.(chunk)) connectionStalled = true;
      upstream.write(chunk);
    });
    let chain = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      chain = chain.then(async () => {
        if (stalled || connectionStalled || client.destroyed) return;
        const data = options.rewrite ? options.rewrite(chunk) : chunk;
        const pieces = options.split ? options.split(data) : [data];
        for (const [index, piece] of pieces.entries()) {
          if (stalled || connectionStalled || client.destroyed) return;
          if (index > 0) await options.pause?.();
          client.write(piece);
        }
      });
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('close', end);
    upstream.on('close', () => void chain.then(end));
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  }, options.port);
  return {
    port,
    clientChunks,
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
    },
    cut: cutAll,
    close: () => {
      server.close();
      cutAll();
    },
  };
}

/** A listener on a free loopback port; every socket it accepts is closed by `closeRelays`. */
export async function listenWith(onConnection: (socket: net.Socket) => void, port = 0): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { port: (server.address() as net.AddressInfo).port, server };
}

/** The port of a new listener (see `listenWith`). */
export async function listen(onConnection: (socket: net.Socket) => void): Promise<number> {
  return (await listenWith(onConnection)).port;
}
