/**
 * mailpoll as it is when the bench starts: bin/, dist/ and package.json are copied to
 * node_modules/.cache/mailpoll-bench/run-<pid>/mailpoll/ (bench/handlers/ next to it) and
 * every run uses that copy, so a rebuild
 * of dist/ during the bench (others work in this tree) cannot mix two builds in one table.
 * Its imports resolve from the project's node_modules, as they do from dist/.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { REPO, WORK } from './floors.js';

const execFileAsync = promisify(execFile);

const TARGET = path.join(WORK, 'mailpoll');

export interface MailpollSnapshot {
  /** The copied bin/mailpoll.js. */
  bin: string;
  /** The copied bench/handlers/. */
  handlers: string;
  /** When dist/cli/main.js was built (ISO). */
  distBuilt: string;
}

/** Newest modification time of any file under dist/ (a build in progress moves it). */
async function newestInDist(): Promise<number> {
  let newest = 0;
  const dist = path.join(REPO, 'dist');
  for (const entry of await readdir(dist, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(path.join(entry.parentPath ?? dist, entry.name))).mtimeMs);
  }
  return newest;
}

/**
 * Copy mailpoll; a copy taken while someone rebuilds dist/ can be half old, half new (or
 * miss files): the copy counts only when dist/ did not change while it was made and the
 * copied CLI starts (`--version`). Otherwise wait for the build to settle and try again.
 */
export async function snapshotMailpoll(progress: (line: string) => void = () => {}): Promise<MailpollSnapshot> {
  let problem = '';
  for (let attempt = 1; attempt <= 10; attempt += 1) {
    const before = await newestInDist();
    const built = await stat(path.join(REPO, 'dist', 'cli', 'main.js'));
    await rm(TARGET, { recursive: true, force: true });
    await mkdir(TARGET, { recursive: true });
    for (const entry of ['bin', 'dist', 'package.json']) {
      await cp(path.join(REPO, entry), path.join(TARGET, entry), { recursive: true, preserveTimestamps: true });
    }
    // The bench's handlers too: an edit during the bench must not change later runs.
    const handlers = path.join(WORK, 'handlers');
    await rm(handlers, { recursive: true, force: true });
    await cp(path.join(REPO, 'bench', 'handlers'), handlers, { recursive: true });
    const bin = path.join(TARGET, 'bin', 'mailpoll.js');
    const settled = Date.now() - before > 2000 && (await newestInDist()) === before;
    if (settled) {
      try {
        await execFileAsync(process.execPath, [bin, '--version'], { timeout: 30_000 });
        return { bin, handlers, distBuilt: built.mtime.toISOString().replace(/\.\d+Z$/, 'Z') };
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? '';
        problem = stderr.split('\n').find((line) => /Error/.test(line)) ?? (error as Error).message;
      }
    } else {
      problem = 'dist/ is being rebuilt';
    }
    progress(`bench: copying mailpoll: ${problem}; trying again in 5 s`);
    await sleep(5000);
  }
  throw new Error(`cannot take a working copy of mailpoll (bin/, dist/): ${problem}. Run npm run build.`);
}
