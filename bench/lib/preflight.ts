/** What every bench script checks before it measures, and its `--report-only` path. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './floors.js';
import { progress } from './options.js';

const execFileAsync = promisify(execFile);

/**
 * `--report-only`: write `out` again from the raw figures in `raw` (plain data: nothing of a
 * case's functions is needed to render). Returns the exit code.
 */
export async function rewriteReport<T>(name: string, raw: string, out: string, render: (input: T) => Promise<string> | string): Promise<number> {
  if (!existsSync(raw)) {
    progress(`${name}: --report-only needs the raw figures of a bench in ${raw}; there are none (run the bench first)`);
    return 1;
  }
  await writeFile(out, await render(JSON.parse(await readFile(raw, 'utf8')) as T));
  progress(`${name}: wrote ${out} from ${raw}`);
  return 0;
}

/**
 * Dovecot installed, dist/ built (with `build`, by `npm run build` first): what is missing is
 * said once, with the command that fixes it. Returns false when the bench cannot run.
 */
export async function checkPrerequisites(name: string, options: { build: boolean; dovecotPackages: string }): Promise<boolean> {
  if (!existsSync('/usr/sbin/dovecot') && !existsSync('/usr/local/sbin/dovecot')) {
    progress(`${name}: Dovecot is not installed. Install it with: apt-get install -y ${options.dovecotPackages}`);
    return false;
  }
  if (options.build) {
    progress(`${name}: npm run build`);
    await execFileAsync('npm', ['run', 'build'], { cwd: REPO });
  }
  if (!existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) {
    progress(`${name}: dist/ is missing: run \`npm run build\` first (or pass --build)`);
    return false;
  }
  return true;
}
