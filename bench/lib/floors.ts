/**
 * The floor scripts (bench/floors/*.ts) run as plain JavaScript, like mailpoll's own dist/:
 * loading them through tsx would add its start-up (esbuild) to every floor and flatter
 * mailpoll's ratios. They are transpiled once per bench run with TypeScript's
 * `transpileModule` (no type check; `npm run typecheck` covers bench/) into this bench
 * process's own folder under node_modules/.cache/mailpoll-bench/ (two benches may run at
 * once), where `imapflow` and `mailparser` resolve from the project's node_modules.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE = path.join(REPO, 'bench', 'floors');
/** The bench's cache folder (each bench process works in its own run-<pid> below it). */
export const CACHE = path.join(REPO, 'node_modules', '.cache', 'mailpoll-bench');
/** This process's floors and mailpoll copy; removed when the bench ends (removeWorkDir). */
export const WORK = path.join(CACHE, `run-${process.pid}`);
const TARGET = path.join(WORK, 'floors');

export async function removeWorkDir(): Promise<void> {
  await rm(WORK, { recursive: true, force: true });
}

/** Transpile every floor; returns name (without .ts) -> absolute path of its .mjs. */
export async function buildFloors(): Promise<Map<string, string>> {
  await mkdir(TARGET, { recursive: true });
  const built = new Map<string, string>();
  for (const file of (await readdir(SOURCE)).filter((name) => name.endsWith('.ts')).sort()) {
    const source = await readFile(path.join(SOURCE, file), 'utf8');
    const output = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: false,
        sourceMap: false,
      },
    });
    const target = path.join(TARGET, file.replace(/\.ts$/, '.mjs'));
    await writeFile(target, output.outputText);
    built.set(file.replace(/\.ts$/, ''), target);
  }
  return built;
}
