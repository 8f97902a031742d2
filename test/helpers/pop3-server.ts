/**
 * A minimal RFC 1939 server on a loopback port, for what Dovecot cannot play: a server
 * without UIDL. It serves `maildrop` (messages in order, number n is `maildrop[n - 1]`):
 * CAPA (TOP, USER; PIPELINING if asked; never UIDL), USER/PASS (any), NOOP, STAT, LIST, TOP,
 * RETR, DELE, QUIT. DELE takes effect at QUIT, which removes the messages from `maildrop`
 * (the test sees what the server holds). Closed by `closeRelays`.
 */
import { listen } from './tcp-relay.js';

export interface ScriptedPop3Options {
  /** Answer CAPA (else `-ERR`, as servers before RFC 2449 do). Default true. */
  capa?: boolean;
  /** Announce PIPELINING in CAPA. Default false. */
  pipelining?: boolean;
}

export interface ScriptedPop3 {
  port: number;
  /** Every command received, in order (PASS without its argument). */
  commands: string[];
}

/** Dot-stuffing of a multi-line answer. */
function stuff(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/(^|\n)\./g, '$1..'), 'latin1');
}

function multiLine(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from('+OK\r\n'), stuff(body), Buffer.from('.\r\n')]);
}

export async function startScriptedPop3(maildrop: Buffer[], options: ScriptedPop3Options = {}): Promise<ScriptedPop3> {
  const { capa = true, pipelining = false } = options;
  const commands: string[] = [];
  const port = await listen((socket) => {
    const deleted = new Set<number>();
    let pending = '';
    socket.on('error', () => undefined);
    socket.write('+OK scripted POP3 ready\r\n');
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n'); end !== -1; end = pending.indexOf('\r\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        commands.push(line.startsWith('PASS') ? 'PASS' : line);
        const [verb, arg] = line.split(' ');
        const number = Number(arg);
        const exists = Number.isInteger(number) && number >= 1 && number <= maildrop.length && !deleted.has(number);
        const raw = exists ? maildrop[number - 1]! : undefined;
        switch (verb?.toUpperCase()) {
          case 'CAPA':
            socket.write(capa ? `+OK\r\nTOP\r\nUSER\r\n${pipelining ? 'PIPELINING\r\n' : ''}.\r\n` : '-ERR unknown command\r\n');
            break;
          case 'USER':
          case 'PASS':
          case 'NOOP':
            socket.write('+OK\r\n');
            break;
          case 'STAT':
            socket.write(`+OK ${maildrop.length - deleted.size} 0\r\n`);
            break;
          case 'LIST':
            socket.write(`+OK\r\n${maildrop.flatMap((m, i) => (deleted.has(i + 1) ? [] : [`${i + 1} ${m.length}\r\n`])).join('')}.\r\n`);
            break;
          case 'TOP':
            socket.write(raw ? multiLine(raw.subarray(0, raw.indexOf('\r\n\r\n') + 4)) : '-ERR no such message\r\n');
            break;
          case 'RETR':
            socket.write(raw ? multiLine(raw) : '-ERR no such message\r\n');
            break;
          case 'DELE':
            if (raw) deleted.add(number);
            socket.write(raw ? '+OK\r\n' : '-ERR no such message\r\n');
            break;
          case 'QUIT':
            for (const n of [...deleted].sort((x, y) => y - x)) maildrop.splice(n - 1, 1);
            socket.end('+OK bye\r\n');
            break;
          default:
            socket.write('-ERR unknown command\r\n');
        }
      }
    });
  });
  return { port, commands };
}
