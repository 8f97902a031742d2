/**
 * What a running watch tells the outside, through the real CLI over Maildir accounts:
 * `/healthz`, `/readyz` and `/metrics` scraped over HTTP (`--listen`), and systemd's
 * notifications received as datagrams on a socket of the test's own (NOTIFY_SOCKET).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { BIN, FIXTURES, runCli, startCli, writeConfig, type LiveCli } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';

const HANDLER = join(FIXTURES, 'handlers', 'spec-from-subject.mjs');

async function maildir(root: string, subjects: string[]): Promise<string> {
  const path = join(root, 'Maildir');
  await makeMaildir(path);
  for (const [index, subject] of subjects.entries()) {
    const raw = `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <health${index}@test>\r\n\r\nbody ${index}\r\n`;
    await writeFile(join(path, 'new', `${1_767_000_000 + index}.M${index}P1.test`), raw);
  }
  return path;
}

async function makeMaildir(path: string): Promise<void> {
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
}

/** The address the watch printed when it started listening. */
async function endpoint(cli: LiveCli): Promise<string> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    const match = /serving \/healthz, \/readyz and \/metrics at (http:\/\/[^/\s]+)\//.exec(cli.stderr());
    if (match?.[1] !== undefined) return match[1];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the watch never said where it listens; stderr:\n${cli.stderr()}`);
}

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text() };
}

/** Scrape `url` until `check` holds on the answer (the watch's state changes between scrapes). */
async function until(url: string, check: (answer: { status: number; body: string }) => boolean, what: string): Promise<{ status: number; body: string }> {
  let last: { status: number; body: string } | undefined;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    last = await get(url);
    if (check(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}; last answer: ${JSON.stringify(last)}`);
}

/** The value of one sample in a Prometheus text exposition, e.g. `mailpoll_messages_total{account="a",outcome="ok"}`. */
function sample(metrics: string, series: string): number | undefined {
  const line = metrics.split('\n').find((text) => text.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('watch health and metrics', () => {
  test('the bundle keeps prom-client in a chunk of its own, reached only by a dynamic import (a run without --listen never loads it)', async () => {
    const bundle = join(BIN, '..', '..', 'dist', 'bin');
    const chunks = (await readdir(bundle)).filter((name) => name.endsWith('.js'));
    const texts = new Map(await Promise.all(chunks.map(async (name) => [name, await readFile(join(bundle, name), 'utf8')] as const)));
    const withPromClient = [...texts].filter(([, text]) => text.includes('collectDefaultMetrics')).map(([name]) => name);
    assert.equal(withPromClient.length, 1, withPromClient.join(', '));
    const chunk = basename(withPromClient[0]!);
    for (const [name, text] of texts) {
      assert.ok(!new RegExp(`from\\s*["']\\./${chunk.replace('.', '\\.')}["']`).test(text), `${name} imports ${chunk} statically`);
    }
    assert.ok([...texts.values()].some((text) => text.includes(`import("./${chunk}")`)));
  });

  test('/healthz, /readyz and /metrics during a watch: handled messages counted, an account that gave up named until it recovers', async () => {
    const root = await makeTempDir('health');
    const path = await maildir(root, ['[1] 1', '[2] "markSeen"', '[3] throw']);
    const missing = join(root, 'Later');
    const dir = await writeConfig({
      script: HANDLER,
      accounts: [
        { name: 'local', protocol: 'maildir', path, interval: '200ms' },
        // Not a Maildir yet: it never connects, so it gives up after two short waits.
        { name: 'later', protocol: 'maildir', path: missing, interval: '200ms', backoff: { initial: '50ms', max: '100ms' } },
      ],
    });
    const cli = startCli(['--watch', '--json', '--listen', '127.0.0.1:0'], { cwd: dir });
    const base = await endpoint(cli);

    await cli.waitFor((e) => e.type === 'backoff' && e.account === 'later' && e.giveUp === true, 'the account without a Maildir giving up');
    await cli.waitFor((e) => e.type === 'cycle' && e.account === 'local' && e.status === 'ok' && e.fetched === 0, 'a quiet cycle after the messages');
    assert.deepEqual(await get(`${base}/readyz`), { status: 200, type: 'application/json', body: '{"ready":true}\n' });

    const failing = await get(`${base}/healthz`);
    assert.equal(failing.status, 503);
    const report = JSON.parse(failing.body) as { healthy: boolean; failing: Array<{ account: string; state: string; reason: string }> };
    assert.equal(report.healthy, false);
    assert.deepEqual(report.failing.map((account) => [account.account, account.state]), [['later', 'gave-up']]);
    assert.match(report.failing[0]!.reason, /gave up connecting: .*is not a Maildir/);

    const metrics = await get(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(metrics.body, 'mailpoll_messages_total{account="local",outcome="ok"}'), 2);
    assert.equal(sample(metrics.body, 'mailpoll_messages_total{account="local",outcome="failed"}'), 1);
    assert.equal(sample(metrics.body, 'mailpoll_handler_duration_seconds_count{account="local"}'), 3);
    assert.ok((sample(metrics.body, 'mailpoll_fetched_bytes_total{account="local"}') ?? 0) > 150);
    assert.ok((sample(metrics.body, 'mailpoll_cycle_duration_seconds_count{account="local",status="ok"}') ?? 0) >= 2);
    assert.equal(sample(metrics.body, 'mailpoll_backoff_state{account="later"}'), 2);
    assert.equal(sample(metrics.body, 'mailpoll_backoff_state{account="local"}'), 0);
    assert.ok((sample(metrics.body, 'mailpoll_last_success_timestamp_seconds{account="local"}') ?? 0) > Date.now() / 1000 - 60);
    assert.equal(sample(metrics.body, 'mailpoll_last_success_timestamp_seconds{account="later"}'), undefined);
    assert.equal(sample(metrics.body, 'mailpoll_quarantined_messages{account="local"}'), 0);
    assert.match(metrics.body, /^mailpoll_lease_held\{account="local"\} [01]$/m);
    // Node's process metrics, in the same private registry.
    assert.match(metrics.body, /^process_resident_memory_bytes \d+/m);

    // The Maildir appears; a reload starts the account again, and its first good cycle makes the watch healthy.
    await makeMaildir(missing);
    cli.signal('SIGHUP');
    await cli.waitFor((e) => e.type === 'cycle' && e.account === 'later' && e.status === 'ok', 'the recovered account\'s cycle');
    const healthy = await until(`${base}/healthz`, (answer) => answer.status === 200, '/healthz 200');
    const accounts = (JSON.parse(healthy.body) as { accounts: Array<{ account: string; state: string; lastSuccessAt: string | null }> }).accounts;
    assert.deepEqual(accounts.map((account) => [account.account, account.state]), [['local', 'ok'], ['later', 'ok']]);
    assert.equal(typeof accounts[1]!.lastSuccessAt, 'string');
    assert.equal(sample((await get(`${base}/metrics`)).body, 'mailpoll_backoff_state{account="later"}'), 0);

    assert.equal((await get(`${base}/nothing`)).status, 404);
    assert.equal((await fetch(`${base}/healthz`, { method: 'POST' })).status, 405);

    cli.signal('SIGTERM');
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
  });

  test('an account whose lease another watch holds turns /healthz to 503 after three intervals, naming the holder', async () => {
    const root = await makeTempDir('health-busy');
    const path = await maildir(root, ['[1] hang']);
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path, interval: '100ms' }] });
    // The first watch holds the lease while its handler sleeps on the message.
    const holder = startCli(['--watch', '--json'], { cwd: dir });
    await holder.waitFor((e) => e.type === 'watch' && e.state === 'started', 'the first watch');
    const second = startCli(['--watch', '--json', '--listen', '0'], { cwd: dir });
    const base = await endpoint(second);
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/, 'a bare port listens on loopback');
    await second.waitFor((e) => e.type === 'cycle' && e.status === 'busy', 'a busy cycle');
    const busy = await until(`${base}/healthz`, (answer) => answer.status === 503, '/healthz 503');
    const failing = (JSON.parse(busy.body) as { failing: Array<{ account: string; state: string; reason: string }> }).failing;
    assert.deepEqual(failing.map((account) => [account.account, account.state]), [['local', 'busy']]);
    assert.match(failing[0]!.reason, /no successful cycle since the watch started: .*busy \(pid \d+/);

    second.signal('SIGTERM');
    holder.signal('SIGKILL');
    assert.equal((await second.exited).code, 0);
    await holder.exited;
  });

  test('--listen needs --watch, and a bad address is a usage error', async () => {
    const root = await makeTempDir('health-usage');
    const path = await maildir(root, []);
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path }] });

    const alone = await runCli(['--listen', '127.0.0.1:9464'], { cwd: dir });
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--interval, --until and --listen need --watch/);

    const bad = await runCli(['--watch', '--listen', 'localhost:port'], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--listen: expected HOST:PORT .*got "localhost:port"/);

    const badKey = await runCli(['--watch'], { cwd: await writeConfig({ script: HANDLER, listen: 'everywhere', accounts: [{ name: 'local', protocol: 'maildir', path }] }) });
    assert.equal(badKey.code, 2);
    assert.match(badKey.stderr, /listen: expected HOST:PORT/);

    // Taken: the watch does not start.
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const inUse = await runCli(['--watch', '--listen', `127.0.0.1:${port}`], { cwd: dir });
      assert.equal(inUse.code, 2);
      assert.match(inUse.stderr, new RegExp(`--listen 127\\.0\\.0\\.1:${port}: cannot listen: the address is in use`));
    } finally {
      taken.close();
    }
  });
});

const notifyTools = spawnSync('systemd-notify', ['--version']).status === 0 && spawnSync('python3', ['--version']).status === 0;

/**
 * A NOTIFY_SOCKET for the test: python3 (Node has no AF_UNIX datagram sockets) prints each
 * datagram as a JSON string line, and closes the descriptor of systemd-notify's BARRIER=1 as
 * systemd does, so that systemd-notify returns.
 */
function startNotifyReceiver(socket: string): { datagrams: string[]; ready: Promise<void>; stop: () => void } {
  const script = [
    'import array, json, os, socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    'print(json.dumps("bound"), flush=True)',
    'while True:',
    '    data, ancillary, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))',
    '    for level, kind, payload in ancillary:',
    '        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:',
    '            fds = array.array("i"); fds.frombytes(payload[: len(payload) - len(payload) % 4])',
    '            for fd in fds: os.close(fd)',
    '    print(json.dumps(data.decode()), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', script, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  const datagrams: string[] = [];
  let pending = '';
  let bound: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (bound = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const text = JSON.parse(line) as string;
      if (text === 'bound') bound();
      else if (text !== 'BARRIER=1') datagrams.push(text);
    }
  });
  return { datagrams, ready, stop: () => child.kill('SIGKILL') };
}

async function eventually(check: () => boolean, what: string, show: () => unknown): Promise<void> {
  for (const deadline = Date.now() + 20_000; !check(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; so far: ${JSON.stringify(show())}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('systemd notifications', () => {
  test('READY=1 with the main pid, STATUS=, WATCHDOG=1 at half of WATCHDOG_USEC and STOPPING=1, as datagrams on NOTIFY_SOCKET', { skip: notifyTools ? false : 'needs systemd-notify and python3 to send and receive the datagrams' }, async () => {
    const root = await makeTempDir('notify');
    const path = await maildir(root, ['[1] 1']);
    const socket = join(root, 'notify.sock');
    const receiver = startNotifyReceiver(socket);
    try {
      await receiver.ready;
      const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path, interval: '200ms' }] });
      const cli = startCli(['--watch', '--json'], { cwd: dir, env: { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '400000' } });
      await eventually(() => receiver.datagrams.filter((text) => text === 'WATCHDOG=1').length >= 2, 'two watchdog keep-alives', () => receiver.datagrams);
      await eventually(() => receiver.datagrams.some((text) => /STATUS=1 account: 1 ok; 1 message handled/.test(text)), 'a STATUS line counting the message', () => receiver.datagrams);

      const ready = receiver.datagrams[0]!.split('\n');
      assert.ok(ready.includes('READY=1'), receiver.datagrams[0]);
      assert.ok(ready.some((line) => /^MAINPID=\d+$/.test(line)), receiver.datagrams[0]);
      assert.ok(ready.some((line) => line.startsWith('STATUS=1 account')), receiver.datagrams[0]);

      cli.signal('SIGTERM');
      const result = await cli.exited;
      assert.equal(result.code, 0, result.stderr);
      const stopping = receiver.datagrams.find((text) => text.startsWith('STOPPING=1'));
      assert.equal(stopping, 'STOPPING=1\nSTATUS=stopping: signal received');
      assert.equal(receiver.datagrams.filter((text) => text.startsWith('STOPPING=1')).length, 1);
    } finally {
      receiver.stop();
    }
  });

  test('NOTIFY_SOCKET set without systemd-notify: the watch runs on and says once why systemd is not told', async () => {
    const root = await makeTempDir('notify-missing');
    const path = await maildir(root, ['[1] 1']);
    const dir = await writeConfig({ script: HANDLER, accounts: [{ name: 'local', protocol: 'maildir', path, interval: '200ms' }] });
    // An empty PATH: no systemd-notify (the CLI itself is started by its absolute path).
    const cli = startCli(['--watch', '--json'], { cwd: dir, env: { NOTIFY_SOCKET: join(root, 'nobody.sock'), WATCHDOG_USEC: '200000', PATH: root } });
    await cli.waitFor((e) => e.type === 'message' && e.status === 'ok', 'the message handled');
    await cli.waitFor((e) => e.type === 'cycle' && e.fetched === 0, 'a later cycle');
    cli.signal('SIGTERM');
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    const warnings = result.stderr.split('\n').filter((line) => line.includes('NOTIFY_SOCKET'));
    assert.deepEqual(warnings, [
      'mailpoll: NOTIFY_SOCKET is set but systemd cannot be told how the watch is doing: systemd-notify is not installed (or not on the PATH); with Type=notify systemd will time out: install systemd-notify or use Type=exec',
    ]);
  });
});
