/** The first bytes an IMAP port sends, watched for a server that speaks another protocol. */
import { EventEmitter } from 'node:events';
import type { ImapFlow } from 'imapflow';
import { greetingProtocol, silentPortProbe, type ConnectionGuard, type ExtraConnection } from '../connection-utils.js';
import { implicitTlsPortError, wrongProtocolError } from '../net-errors.js';

/**
 * The wrong protocol on the port, recognised at once rather than at the connect timeout:
 * the first bytes the server sends (a POP3 `+OK`, a TLS record) and, on a plaintext
 * connection, a port that stays silent but completes a TLS handshake (`silentPortProbe`, on a
 * connection `extra` grants).
 * `wrong` rejects then. It reads a copy of what imapflow reads: no extra round trip.
 * (imapflow has no public hook for the greeting's bytes: its socket is read as soon as
 * `connect()` created it; without one, nothing is watched.)
 */
export function watchGreeting(guard: ConnectionGuard, client: ImapFlow, extra?: ExtraConnection): { wrong: Promise<never>; stop(): void } {
  const context = { account: guard.name, host: guard.host, port: guard.port };
  let fail!: (error: Error) => void;
  const wrong = new Promise<never>((_, reject) => (fail = reject));
  wrong.catch(() => undefined);
  const socket = (client as unknown as { socket?: unknown }).socket;
  if (!(socket instanceof EventEmitter)) return { wrong, stop: () => undefined };

  // Through a proxy, a second direct connection would not reach the same server.
  const probe = guard.account.tls === 'implicit' || guard.account.proxy !== undefined ? undefined : silentPortProbe(guard.host, guard.port, () => fail(implicitTlsPortError('imap', context)), extra);
  let first = Buffer.alloc(0);
  const onConnect = (): void => probe?.connected();
  const onData = (chunk: Buffer): void => {
    probe?.stop();
    first = Buffer.concat([first, chunk]).subarray(0, 256);
    if (first.length < 256 && first[0] !== 0x16 && !first.includes(0x0a)) return;
    stop();
    const spoken = greetingProtocol(first);
    if (spoken !== undefined && spoken !== 'imap') fail(wrongProtocolError(spoken, 'imap', first, context));
  };
  const stop = (): void => {
    probe?.stop();
    socket.removeListener('connect', onConnect);
    socket.removeListener('data', onData);
  };
  socket.once('connect', onConnect);
  socket.on('data', onData);
  return { wrong, stop };
}
