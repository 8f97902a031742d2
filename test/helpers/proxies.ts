/**
 * Small real proxies on 127.0.0.1 for tests: a SOCKS5 server (RFC 1928, with RFC 1929
 * user/password when asked to require one) and an HTTP CONNECT proxy. Each records the
 * destinations it opened tunnels to, so that a test can show a connection went through it.
 */
import net from 'node:net';

export interface TestProxy {
  port: number;
  /** `host:port` of every tunnel opened, in order. */
  tunnels: string[];
  /** Credentials clients sent (`user:password`), in order. */
  logins: string[];
  close(): Promise<void>;
}

export interface TestProxyOptions {
  /** Require these credentials (`user:password`); others are refused. */
  credentials?: string;
  /** HTTP only: send the 200 answer and the server's first bytes in one write (as some proxies do). */
  coalesce?: boolean;
}

function listen(handle: (client: net.Socket, proxy: TestProxy) => void): Promise<TestProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    handle(client, proxy);
  });
  const proxy: TestProxy = {
    port: 0,
    tunnels: [],
    logins: [],
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      proxy.port = (server.address() as net.AddressInfo).port;
      resolve(proxy);
    });
  });
}

/** Join `client` to a new connection to host:port; `first` is written to the client once the upstream is up. */
function bridge(client: net.Socket, host: string, port: number, first: Buffer, coalesce = false): void {
  const upstream = net.connect({ host, port });
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  upstream.once('connect', () => {
    if (coalesce) {
      // Hold the answer until the server's first bytes arrive, then send both at once (a
      // server that waits for the client, as over implicit TLS, gets the answer alone soon).
      const alone = setTimeout(() => {
        upstream.removeListener('data', withAnswer);
        client.write(first);
        upstream.pipe(client);
      }, 300);
      const withAnswer = (chunk: Buffer): void => {
        clearTimeout(alone);
        client.write(Buffer.concat([first, chunk]));
        upstream.pipe(client);
      };
      upstream.once('data', withAnswer);
    } else {
      client.write(first);
      upstream.pipe(client);
    }
    client.pipe(upstream);
  });
}

/** Read exactly what `need(buffer)` says is complete, then call `done` with it and the rest. */
function readUntil(client: net.Socket, need: (data: Buffer) => number | undefined, done: (head: Buffer, rest: Buffer) => void): void {
  let data = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    data = Buffer.concat([data, chunk]);
    const length = need(data);
    if (length === undefined) return;
    client.removeListener('data', onData);
    done(data.subarray(0, length), data.subarray(length));
  };
  client.on('data', onData);
}

export function startSocks5Proxy(options: TestProxyOptions = {}): Promise<TestProxy> {
  return listen((client, proxy) => {
    readUntil(client, (d) => (d.length >= 2 && d.length >= 2 + d[1]! ? 2 + d[1]! : undefined), (greeting) => {
      const methods = [...greeting.subarray(2)];
      const wanted = options.credentials === undefined ? 0 : 2;
      if (!methods.includes(wanted)) return void client.end(Buffer.from([5, 0xff]));
      client.write(Buffer.from([5, wanted]));
      const request = (): void =>
        readUntil(
          client,
          (d) => {
            if (d.length < 5) return undefined;
            const length = d[3] === 1 ? 4 : d[3] === 4 ? 16 : 1 + d[4]!;
            return d.length >= 4 + length + 2 ? 4 + length + 2 : undefined;
          },
          (head) => {
            const host = head[3] === 1 ? [...head.subarray(4, 8)].join('.') : head.subarray(5, 5 + head[4]!).toString();
            const port = head.readUInt16BE(head.length - 2);
            proxy.tunnels.push(`${host}:${port}`);
            bridge(client, host, port, Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
          },
        );
      if (wanted === 0) return request();
      readUntil(
        client,
        (d) => (d.length >= 2 && d.length >= 3 + d[1]! && d.length >= 3 + d[1]! + d[2 + d[1]!]! ? 3 + d[1]! + d[2 + d[1]!]! : undefined),
        (auth) => {
          const user = auth.subarray(2, 2 + auth[1]!).toString();
          const pass = auth.subarray(3 + auth[1]!).toString();
          proxy.logins.push(`${user}:${pass}`);
          if (`${user}:${pass}` !== options.credentials) return void client.end(Buffer.from([1, 1]));
          client.write(Buffer.from([1, 0]));
          request();
        },
      );
    });
  });
}

export function startHttpConnectProxy(options: TestProxyOptions = {}): Promise<TestProxy> {
  return listen((client, proxy) => {
    readUntil(
      client,
      (d) => {
        const end = d.indexOf('\r\n\r\n');
        return end === -1 ? undefined : end + 4;
      },
      (head) => {
        const text = head.toString('latin1');
        const target = /^CONNECT (\S+):(\d+) HTTP\/1\.[01]\r\n/.exec(text);
        if (!target) return void client.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
        const auth = /\r\nProxy-Authorization: Basic (\S+)/i.exec(text);
        if (auth) proxy.logins.push(Buffer.from(auth[1]!, 'base64').toString());
        if (options.credentials !== undefined && proxy.logins.at(-1) !== options.credentials) {
          return void client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
        }
        proxy.tunnels.push(`${target[1]}:${target[2]}`);
        bridge(client, target[1]!, Number(target[2]), Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n'), options.coalesce);
      },
    );
  });
}
