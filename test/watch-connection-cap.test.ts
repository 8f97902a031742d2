/**
 * `maxConnections` as the connections a `--watch` process really holds: the CLI's own
 * established sockets to the server's port, read from /proc while many accounts poll, never
 * more than the cap, whatever ends a session. Each host is a TCP relay in front of the private
 * Dovecot (its own port, so its own cap): stalled, it is a server that accepts connections
 * but does not greet, as an overloaded Dovecot whose login processes are all busy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli, startCli, writeConfig } from './helpers/cli.js';
import { sampleConnections } from './helpers/connections.js';
import { scenario, SPEC_HANDLER } from './helpers/scenario.js';
import { startRelay } from './helpers/tcp-relay.js';
import { useDovecot } from './helpers/use-dovecot.js';

const dovecot = useDovecot();
const world = scenario(dovecot);

const CAP = 2;
const PER_PROTOCOL = 5;
const MESSAGES = ['[1] "delete"', '[2] "delete"'];

test('a silent server and then a working one: no more connections to a host than maxConnections', async () => {
  const imap = await startRelay(dovecot.ports.imap);
  const pop3 = await startRelay(dovecot.ports.pop3);
  imap.stall();
  pop3.stall();
  const accounts = [];
  for (const [protocol, relay] of [['imap', imap], ['pop3', pop3]] as const) {
    for (let index = 0; index < PER_PROTOCOL; index += 1) {
      const creds = await world.mailbox(MESSAGES);
      accounts.push({
        name: `${protocol}${index}`,
        protocol,
        host: '127.0.0.1',
        port: relay.port,
        tls: 'starttls',
        ca: dovecot.caFile,
        user: creds.user,
        password: creds.password,
        interval: '500ms',
        connectTimeout: '3s',
        fetchTimeout: '3s',
        backoff: { initial: '200ms', max: '1m' },
      });
    }
  }
  const dir = await writeConfig({ script: SPEC_HANDLER, maxConnections: CAP, concurrency: 2 * CAP, accounts });
  const cli = startCli(['--watch', '--json'], { cwd: dir, timeoutMs: 240_000 });
  const sampler = sampleConnections(cli.pid, [imap.port, pop3.port]);
  try {
    // Sessions wait for a greeting that does not come until connectTimeout ends them: on each
    // host, at least a full cap of them at once.
    const timedOut = (protocol: string) => (event: Record<string, unknown>) =>
      event.type === 'backoff' && String(event.account).startsWith(protocol) && /timed out/.test(String(event.error));
    const seen = (protocol: string) => new Set(cli.events.filter(timedOut(protocol)).map((event) => event.account)).size;
    for (const protocol of ['imap', 'pop3']) {
      await cli.waitFor((event) => timedOut(protocol)(event) && seen(protocol) >= CAP, `${CAP} ${protocol} accounts timed out waiting for the greeting`, 60_000);
    }

    imap.resume();
    pop3.resume();
    for (const { name } of accounts) {
      const handled = (event: Record<string, unknown>) => event.type === 'message' && event.account === name && event.status === 'ok';
      await cli.waitFor((event) => handled(event) && cli.events.filter(handled).length >= MESSAGES.length, `both messages of ${name}`, 120_000);
    }
  } finally {
    sampler.stop();
    cli.signal('SIGTERM');
  }
  const result = await cli.exited;
  assert.equal(result.code, 0, result.stderr);
  const peaks = { imap: sampler.peak.get(imap.port), pop3: sampler.peak.get(pop3.port) };
  // The counting works: each host had a full cap of sessions open at once (the silent ones).
  assert.deepEqual(peaks, { imap: CAP, pop3: CAP }, `most connections held at once to each host, over ${sampler.samples} samples (cap ${CAP})`);
});

test('more IDLE accounts on one host than maxConnections: the watch says so at start', async () => {
  const accounts = [];
  for (let index = 0; index < 3; index += 1) {
    const creds = await world.user();
    accounts.push(world.imapAccount(creds, { name: `idle${index}`, idle: true, interval: '1h' }));
  }
  const dir = await writeConfig({ script: SPEC_HANDLER, maxConnections: 2, accounts });
  const result = await runCli(['--watch', '--json', '--until', '2s'], { cwd: dir, timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /warning: 3 accounts use IDLE on 127\.0\.0\.1:\d+ \(idle0, idle1, idle2\), more than maxConnections \(2\): .*Raise maxConnections, or set idle: false/);
});
