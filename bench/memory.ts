/**
 * The memory scenario's cases (IMAP and POP3 headers-only, IMAP full parse; plain and
 * implicit TLS) at two mailbox sizes, with the memory probe (lib/memory-probe.mjs) in every
 * run: peak RSS from GNU time, and what the resident set was made of at its peak (each
 * thread's V8 heap, Buffers, anonymous memory outside them, mapped files). Several builds
 * can be compared in turn (`--bin`), each run repeated (`--repeat`): peak RSS varies from run
 * to run, and RSS (unlike time) holds on a loaded machine.
 *
 *   node --import tsx bench/memory.ts --sizes 1000,10000 --repeat 2
 *   node --import tsx bench/memory.ts --bin before=/tmp/old/bin/mailpoll.js --bin after=bin/mailpoll.js
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mailpollConfig, type Handler, type Transport } from './lib/cases.js';
import { CACHE, REPO } from './lib/floors.js';
import { measure } from './lib/measure.js';
import { BenchServer } from './lib/server.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000' },
    repeat: { type: 'string', default: '1' },
    // label=path of a bin/mailpoll.js; repeatable. Default: this worktree's build.
    bin: { type: 'string', multiple: true },
    // Cases as protocol/transport/handler, comma-separated; default: the bench's six.
    cases: { type: 'string' },
    // Top-level config keys to add, as JSON.
    config: { type: 'string', default: '{}' },
    // Extra node flags for mailpoll, space-separated (e.g. --max-semi-space-size=2).
    'node-flags': { type: 'string', default: '' },
    // Run mailpoll under this command, space-separated (e.g. `heaptrack -o /tmp/ht`).
    wrap: { type: 'string', default: '' },
    quiet: { type: 'boolean', default: false },
    // Keep each run's stdout and stderr in this folder (e.g. with --node-flags --trace-gc).
    'save-output': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: node --import tsx bench/memory.ts [--sizes 1000,10000] [--repeat N] [--bin LABEL=PATH]... [--cases imap/tls/headers,...] [--config JSON] [--node-flags FLAGS] [--wrap COMMAND] [--quiet] [--save-output DIR]\n');
  process.exit(0);
}

interface MemoryCase {
  protocol: 'imap' | 'pop3';
  transport: Transport;
  handler: Handler;
}

const cases: MemoryCase[] = (values.cases ?? 'imap/plain/headers,imap/plain/full,pop3/plain/headers,imap/tls/headers,imap/tls/full,pop3/tls/headers').split(',').map((text) => {
  const [protocol, transport, handler] = text.split('/');
  return { protocol: protocol === 'pop3' ? 'pop3' : 'imap', transport: transport === 'plain' ? 'plain' : 'tls', handler: (handler ?? 'headers') as Handler };
});
const bins = (values.bin ?? [`this=${path.join(REPO, 'bin', 'mailpoll.js')}`]).map((spec) => {
  const at = spec.indexOf('=');
  return { label: spec.slice(0, at), file: path.resolve(spec.slice(at + 1)) };
});
const sizes = values.sizes.split(',').map(Number);
const extra = JSON.parse(values.config) as Record<string, unknown>;
const nodeFlags = values['node-flags'].split(' ').filter((flag) => flag !== '');
const dir = path.join(CACHE, `memory-${process.pid}`);
const MB = 1048576;

const server = await BenchServer.start();
const peaks = new Map<string, number[]>();
try {
  const mailboxes = new Map<number, string>();
  for (const size of sizes) {
    const mailbox = await server.seed({ user: `memory${size}`, count: size, size: 20480, seed: 42 }, (line) => process.stderr.write(`${line}\n`));
    mailboxes.set(size, mailbox.user);
  }
  for (let round = 1; round <= Number(values.repeat); round += 1) {
    for (const memoryCase of cases) {
      for (const size of sizes) {
        for (const bin of bins) {
          const user = mailboxes.get(size)!;
          await server.restore(user);
          const runDir = path.join(dir, 'run');
          await rm(runDir, { recursive: true, force: true });
          await mkdir(runDir, { recursive: true });
          const config = path.join(runDir, 'mailpoll.config.json');
          await writeFile(config, JSON.stringify({ ...mailpollConfig(server, user, { ...memoryCase, keep: true }), ...extra }), { mode: 0o600 });
          const action = memoryCase.protocol === 'imap' ? 'markSeen' : 'keep';
          const wrap = values.wrap.split(' ').filter((word) => word !== '');
          const result = await measure({
            command: wrap[0] ?? process.execPath,
            args: [...wrap.slice(1), ...(wrap.length > 0 ? [process.execPath] : []), ...nodeFlags, '--import', path.join(REPO, 'bench', 'lib', 'memory-probe.mjs'), bin.file, '-c', config, '--json'],
            env: { HOME: runDir, XDG_STATE_HOME: path.join(runDir, 'state'), NO_COLOR: '1', MAILPOLL_BENCH_ACTION: action },
            cwd: runDir,
          });
          const summary = result.stdout.split('\n').find((line) => line.includes('"type":"summary"')) ?? '';
          const processed = /"processed":(\d+)/.exec(summary)?.[1] ?? '?';
          const name = `${memoryCase.protocol}/${memoryCase.transport}/${memoryCase.handler} ${size} ${bin.label}`;
          const rss = result.peakRss ?? 0;
          peaks.set(name, [...(peaks.get(name) ?? []), rss]);
          process.stdout.write(`${name}: peak RSS ${(rss / MB).toFixed(0)} MB, ${result.wallS.toFixed(1)} s wall, ${result.cpuS?.toFixed(1) ?? 'n/a'} s CPU, processed ${processed}${result.code === 0 ? '' : `, exit ${result.code}: ${result.stderr.slice(-300)}`}\n`);
          if (values['save-output'] !== undefined) {
            await mkdir(values['save-output'], { recursive: true });
            const file = path.join(values['save-output'], `${name.replaceAll(/[ /]/g, '-')}-${round}`);
            await writeFile(`${file}.stdout`, result.stdout);
            await writeFile(`${file}.stderr`, result.stderr);
          }
          if (!values.quiet) for (const line of result.stderr.split('\n').filter((text) => text.startsWith('memory-probe'))) process.stdout.write(`  ${line}\n`);
        }
      }
    }
  }
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
process.stdout.write('\npeak RSS (MB), every run:\n');
for (const [name, values] of peaks) process.stdout.write(`${name.padEnd(40)} ${values.map((value) => (value / MB).toFixed(0)).join(' ')}\n`);
