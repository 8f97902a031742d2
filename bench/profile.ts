/**
 * `npm run bench:profile`: one mailpoll case under `--cpu-prof`, on the bench's private
 * Dovecot and seeded mail, and the functions and modules that took the CPU. What the bench
 * measures, this explains (the issue asks for a profile before each optimisation).
 *
 *   npm run bench:profile -- --protocol imap --handler headers --n 2000 --runs 2
 */
import { readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mailpollConfig, type Handler } from './lib/cases.js';
import { CACHE, REPO } from './lib/floors.js';
import { measure } from './lib/measure.js';
import { BenchServer } from './lib/server.js';

const { values } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'imap' },
    // plain (no TLS) or tls (implicit TLS), as the bench's two transports.
    transport: { type: 'string', default: 'tls' },
    handler: { type: 'string', default: 'headers' },
    keep: { type: 'boolean', default: false },
    n: { type: 'string', default: '2000' },
    size: { type: 'string', default: '20480' },
    // One attachment of exactly this many bytes in every message (the 50 MB case: --n 1 --attachment 52428800).
    attachment: { type: 'string' },
    runs: { type: 'string', default: '2' },
    top: { type: 'string', default: '25' },
    // Instead of the CPU profile: the peak of each process.memoryUsage() field.
    memory: { type: 'boolean', default: false },
    // Top-level config keys to add, as JSON: e.g. '{"retentionDays":0}' (no raw copies).
    config: { type: 'string', default: '{}' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: npm run bench:profile -- [--protocol imap|pop3] [--transport plain|tls] [--handler headers|full|shell|command-argv|command-sh] [--keep] [--n N] [--size BYTES] [--attachment BYTES] [--runs N] [--top N] [--memory] [--config JSON]\n');
  process.exit(0);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const protocol = values.protocol === 'pop3' ? 'pop3' : 'imap';
const transport = values.transport === 'plain' ? 'plain' : 'tls';
const handler = values.handler as Handler;
const count = Number(values.n);
const dir = path.join(CACHE, `profile-${process.pid}`);
const server = await BenchServer.start();
try {
  const attachmentBytes = values.attachment === undefined ? {} : { attachmentBytes: Number(values.attachment) };
  const mailbox = await server.seed({ user: 'profile', count, size: Number(values.size), seed: 42, ...attachmentBytes }, (line) => process.stderr.write(`${line}\n`));
  const action = values.keep ? (protocol === 'imap' ? 'markSeen' : 'keep') : 'delete';
  for (let run = 1; run <= Number(values.runs); run += 1) {
    await server.restore(mailbox.user);
    const runDir = path.join(dir, `run-${run}`);
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true });
    const config = path.join(runDir, 'mailpoll.config.json');
    const extra = JSON.parse(values.config) as Record<string, unknown>;
    await writeFile(config, JSON.stringify({ ...mailpollConfig(server, mailbox.user, { protocol, transport, keep: values.keep, handler }), ...extra }), { mode: 0o600 });
    const result = await measure({
      command: process.execPath,
      args: [
        ...(values.memory ? ['--import', path.join(REPO, 'bench', 'lib', 'memory-probe.mjs')] : ['--cpu-prof', '--cpu-prof-dir', runDir]),
        path.join(REPO, 'bin', 'mailpoll.js'),
        '-c',
        config,
        '--json',
      ],
      env: { HOME: runDir, XDG_STATE_HOME: path.join(runDir, 'state'), NO_COLOR: '1', MAILPOLL_BENCH_ACTION: action },
      cwd: runDir,
    });
    const summary = result.stdout.split('\n').find((line) => line.includes('"type":"summary"')) ?? result.stderr.slice(0, 300);
    process.stdout.write(`run ${run}: ${result.wallS.toFixed(2)} s wall, ${result.cpuS === null ? "n/a" : result.cpuS.toFixed(2)} s CPU, peak RSS ${result.peakRss === null ? 'n/a' : `${(result.peakRss / 1048576).toFixed(0)} MB`}\n  ${summary}\n`);
    for (const line of result.stderr.split('\n').filter((text) => text.startsWith('memory-probe'))) process.stdout.write(`  ${line}\n`);
    const file = (await readdir(runDir)).find((name) => name.endsWith('.cpuprofile'));
    if (file && run === Number(values.runs)) report(JSON.parse(await readFile(path.join(runDir, file), 'utf8')) as Profile, Number(values.top));
  }
} finally {
  await server.stop();
}

/** Self time per function and per package/module, from the sampled profile. */
function report(profile: Profile, top: number): void {
  const self = new Map<number, number>();
  profile.samples.forEach((id, index) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = moduleOf(url);
    const name = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byModule.set(where, (byModule.get(where) ?? 0) + us);
  }
  const print = (title: string, map: Map<string, number>) => {
    process.stdout.write(`\n${title} (of ${(total / 1000).toFixed(0)} ms sampled)\n`);
    for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${name}\n`);
    }
  };
  print('self time by module', byModule);
  print('self time by function', byFunction);

  // Who calls the top functions: self time of each, split by the caller two frames up.
  const parent = new Map<number, ProfileNode>();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node);
  const label = (node: ProfileNode | undefined) =>
    node === undefined ? '-' : `${node.callFrame.functionName || '(anonymous)'} ${moduleOf(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
  const callers = new Map<string, Map<string, number>>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (node === undefined || node.callFrame.url === '') continue;
    const name = label(node);
    const up1 = parent.get(id);
    const up2 = up1 === undefined ? undefined : parent.get(up1.id);
    const via = `${label(up1)} <- ${label(up2)}`;
    const map = callers.get(name) ?? new Map<string, number>();
    map.set(via, (map.get(via) ?? 0) + us);
    callers.set(name, map);
  }
  process.stdout.write('\ncallers of the top 5 functions\n');
  const top5 = [...byFunction].filter(([name]) => !name.includes('(native')).sort((a, b) => b[1] - a[1]).slice(0, 5);
  for (const [name] of top5) {
    const key = name.replace(/ {2}/, ' ');
    process.stdout.write(`${key}\n`);
    for (const [via, us] of [...(callers.get(key) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]).slice(0, 6)) {
      process.stdout.write(`  ${(us / 1000).toFixed(0).padStart(6)} ms  ${via}\n`);
    }
  }
}

function moduleOf(url: string): string {
  if (url === '') return '(native/gc/idle)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length).split('/').slice(0, url.includes('/@', nm) ? 2 : 1).join('/');
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}
