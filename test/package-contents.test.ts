/**
 * What `npm pack` ships: the bundle's entries, the types and the schema; no source maps, no
 * module-by-module copy of dist/, nothing a local run wrote to examples/work/. And the bundle
 * reaches outside itself only for Node's built-ins and the packages package.json names as
 * dependencies or peers: a dependency is either bundled or installed, never both. Reads the
 * build in dist/ (run `npm run build` first).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NPM_CLI = join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');

/**
 * Named in the bundle, never loaded: cosmiconfig's loader for `.ts` configs (mailpoll searches
 * for none), and pg's optional libpq binding (loaded only through `pg.native`, never used).
 */
const NEVER_REACHED = new Set(['typescript', 'pg-native']);

interface PackedFile {
  path: string;
  size: number;
}

/** `npm pack --dry-run --json`, with a file in examples/work/ as a local run leaves one. */
async function packedFiles(): Promise<string[]> {
  const work = join(ROOT, 'examples', 'work');
  const made = !existsSync(work);
  const probe = join(work, 'pack-probe.db');
  await mkdir(work, { recursive: true });
  await writeFile(probe, 'not for the package');
  try {
    // --ignore-scripts: `prepare` would rebuild dist/ under the other tests' feet.
    const npm = existsSync(NPM_CLI) ? [process.execPath, NPM_CLI] : ['npm'];
    const out = execFileSync(npm[0]!, [...npm.slice(1), 'pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    const [report] = JSON.parse(out) as Array<{ files: PackedFile[] }>;
    return report!.files.map((file) => file.path);
  } finally {
    await rm(made ? work : probe, { recursive: true, force: true });
  }
}

describe('the packed package', () => {
  test('ships the bundle entries, types and schema, and no source maps, dist copies or examples/work', async () => {
    const files = await packedFiles();
    for (const entry of [
      'package.json',
      'README.md',
      'bin/mailpoll.js',
      'dist/bin/main.js',
      'dist/bin/index.js',
      'dist/bin/handler-worker.js',
      'dist/bin/launcher-main.js',
      'dist/index.d.ts',
      'dist/handler/types.d.ts',
      'schema.json',
      'examples/handler.mjs',
      'examples/mailpoll.yaml',
    ]) {
      assert.ok(files.includes(entry), `${entry} is packed`);
    }
    assert.deepEqual(files.filter((file) => file.endsWith('.map')), [], 'no source maps');
    assert.deepEqual(files.filter((file) => file.startsWith('examples/work')), [], 'nothing from examples/work/');
    const unbundled = files.filter((file) => file.startsWith('dist/') && !file.startsWith('dist/bin/') && !file.endsWith('.d.ts'));
    assert.deepEqual(unbundled, [], 'only the bundle runs: no module-by-module copy of dist/');
    assert.deepEqual(files.filter((file) => /^(src|test|bench|scripts)\//.test(file)), [], 'no sources or tests');
  });

  test('the bundle imports only built-ins, dependencies and optional peers', async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    assert.deepEqual(Object.keys(manifest.dependencies), ['better-sqlite3'], 'the native addon is the one dependency');
    assert.equal(manifest.peerDependenciesMeta.tsx?.optional, true, 'tsx is an optional peer');
    const allowed = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)]);
    const builtins = new Set(builtinModules);
    const outside = new Set<string>();
    const bin = join(ROOT, 'dist', 'bin');
    for (const file of await readdir(bin)) {
      if (!file.endsWith('.js')) continue;
      const code = await readFile(join(bin, file), 'utf8');
      // esbuild writes an external import in these shapes, always with double quotes.
      for (const match of code.matchAll(/^import\b[^;]*?from\s*"([^"]+)";$|^import\s*"([^"]+)";$|\bimport\("([^"]+)"\)|\brequire\("([^"]+)"\)/gm)) {
        const specifier = (match[1] ?? match[2] ?? match[3] ?? match[4])!;
        if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier.split('/')[0]!)) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (!allowed.has(name) && !NEVER_REACHED.has(name)) outside.add(`${name} (${file})`);
      }
    }
    assert.deepEqual([...outside], [], 'every other package is in the bundle');
  });
});
