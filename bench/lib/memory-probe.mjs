// Preloaded by `npm run bench:profile -- --memory` (node --import): samples
// process.memoryUsage() every 50 ms and at exit writes the peak of each field to stderr,
// so a peak RSS can be split into V8 heap, Buffers (external) and the rest (native: SQLite,
// TLS, code).
const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sample = () => {
  const usage = process.memoryUsage();
  for (const key of Object.keys(peak)) peak[key] = Math.max(peak[key], usage[key]);
};
setInterval(sample, 50).unref();
process.on('exit', () => {
  sample();
  const mb = (bytes) => `${(bytes / 1048576).toFixed(0)} MB`;
  process.stderr.write(`memory-probe peak: ${Object.entries(peak).map(([key, value]) => `${key} ${mb(value)}`).join(', ')}\n`);
});
