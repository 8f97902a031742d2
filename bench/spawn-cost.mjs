// What one process per message costs, from Node and from a shell, on this machine: the
// floor under the shell-handler case (bench/RESULTS.md). Node's child_process.spawn forks
// the whole process first, so the cost grows with the parent's resident size; the
// --ballast sizes stand in for mailpoll's own (~70 MB idle, ~150-180 MB in a large run).
//
//   node bench/spawn-cost.mjs [--n 300] [--ballast 0,60,150]
import { execFileSync, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { n: { type: 'string', default: '300' }, ballast: { type: 'string', default: '0,60,150' } } });
const n = Number(values.n);
const input = Buffer.alloc(20 * 1024, 'x');

function once() {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'cat > /dev/null'], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.on('close', resolve);
    child.stdin.end(input);
  });
}

let ballast = [];
for (const mb of values.ballast.split(',').map(Number)) {
  ballast = Array.from({ length: mb }, () => Buffer.alloc(1024 * 1024, 1));
  const started = performance.now();
  for (let i = 0; i < n; i += 1) await once();
  const rss = process.memoryUsage().rss / 1048576;
  process.stdout.write(`node spawn, parent RSS ${rss.toFixed(0)} MB: ${((performance.now() - started) / n).toFixed(1)} ms per message\n`);
}
ballast = [];

const started = performance.now();
execFileSync('sh', ['-c', `i=0; while [ $i -lt ${n} ]; do sh -c 'cat > /dev/null' < /dev/null; i=$((i+1)); done`]);
process.stdout.write(`shell loop (what fetchmail's MDA costs): ${((performance.now() - started) / n).toFixed(1)} ms per message\n`);
