// Second step of `npm run build`: bundle what tsc wrote to dist/ into dist/bin/, the code
// bin/mailpoll.js runs and the package's entry (`import ... from 'mailpoll'`). cron starts mailpoll every minute, and on Node 20 (no compile cache)
// most of an empty run went to finding, reading and compiling ~400 modules one by one:
// bundled, an empty IMAP run starts in about half the time (bench/RESULTS.md, cold start).
//
// - Code splitting keeps the lazy loading of src/ (a Maildir-only run never loads imapflow,
//   a run without new mail never loads mailparser): every `import()` becomes a chunk.
// - Tree shaking drops what is never used (zod's 50 locales, most of commander's help).
// - The bundle holds every dependency but one, so the package depends on that one only
//   (package.json: the others are devDependencies): installed once, not twice. Left
//   outside: better-sqlite3 (a native addon), and tsx with its esbuild and typescript (an
//   optional peer, loaded only for a `.ts` handler on a Node that cannot strip types, and
//   they find their own files at run time). Measured against bundling mailpoll's code only,
//   with the packages installed beside it: README, "Install".
// - pino and socks, which imapflow imports but mailpoll never uses (its proxy tunnel is its
//   own, src/mailbox/proxy-tunnel.ts), and js-yaml, which
//   cosmiconfig's YAML loader requires but mailpoll replaces, are stubs that throw
//   (scripts/bundle-stubs/).
// - A CommonJS package imported with `import()` only has a default export in its chunk:
//   src/ imports such a package statically from a small module of its own, and loads that
//   module lazily (src/config/cosmiconfig.ts).
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';

const debug = process.argv.includes('--debug');
const outdir = new URL('../dist/bin/', import.meta.url).pathname;
const stub = (name) => new URL(`./bundle-stubs/${name}.mjs`, import.meta.url).pathname;
const lazyStub = (name) => new URL(`./bundle-stubs/lazy-${name}.cjs`, import.meta.url).pathname;
await rm(outdir, { recursive: true, force: true });
const result = await build({
  // Entries besides main: the programmatic API (the package's `exports`), the handler worker
  // (pool.js starts `handler-worker.js` from its own folder, dist/bin/) and the command
  // launcher, a process of its own (src/handler/launcher-main.ts) found next to the chunk that
  // forks it.
  entryPoints: {
    main: new URL('../dist/cli/main.js', import.meta.url).pathname,
    index: new URL('../dist/index.js', import.meta.url).pathname,
    'handler-worker': new URL('../dist/handler/worker/handler-worker.js', import.meta.url).pathname,
    'launcher-main': new URL('../dist/handler/launcher-main.js', import.meta.url).pathname,
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // pg-native: the optional libpq binding pg tries only when asked for (`pg.native`); never.
  // ./charsets.cjs: the character-set libraries, bundled apart below (bundle-stubs/lazy.cjs).
  external: ['better-sqlite3', 'tsx', 'tsx/*', 'typescript', 'esbuild', 'pg-native', './charsets.cjs'],
  // Dependencies of imapflow that mailpoll never reaches: see the stubs for why.
  alias: {
    pino: stub('pino'),
    socks: stub('socks'),
    'js-yaml': stub('js-yaml'),
    // Loaded on first use instead of at start-up: see bundle-stubs/lazy.cjs.
    libmime: lazyStub('libmime'),
    'iconv-lite': lazyStub('iconv-lite'),
    'encoding-japanese': lazyStub('encoding-japanese'),
    // yaml's ESM build (the one it gives browsers; plain JS, no Node APIs used): tree shaking
    // drops the stringifier and the YAML 1.1 tags, half a cold start's parse of its CommonJS.
    yaml: new URL('../node_modules/yaml/browser/dist/index.js', import.meta.url).pathname,
  },
  // Bundled CommonJS calls require(): give the ESM chunks one.
  banner: { js: "import { createRequire as __mailpollRequire } from 'node:module'; const require = __mailpollRequire(import.meta.url);" },
  // Source maps only in a debug build (`npm run build:debug`): the package ships none.
  sourcemap: debug ? 'linked' : false,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: Boolean(process.env.BUNDLE_META),
});
// The character-set libraries, apart: required on first use (bundle-stubs/lazy.cjs).
await build({
  entryPoints: [new URL('./bundle-stubs/charsets.cjs', import.meta.url).pathname],
  outfile: `${outdir}charsets.cjs`,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
});
if (process.env.BUNDLE_META) {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(process.env.BUNDLE_META, JSON.stringify(result.metafile));
}
