/**
 * Temporary folders for tests, removed when the test process exits (each test file runs in
 * its own process): a full run leaves nothing behind in the temp folder. Removal is at exit,
 * not after each test, so that a failing test's files are still there while it runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created = new Set<string>();

process.once('exit', () => {
  for (const path of created) rmSync(path, { recursive: true, force: true, maxRetries: 3 });
});

/** Remove `path` (a folder or file) when the process exits. Returns `path`. */
export function removeAtExit(path: string): string {
  created.add(path);
  return path;
}

/** A fresh `mailpoll-<label>-XXXXXX` folder in the temp folder, removed at exit. */
export async function makeTempDir(label: string): Promise<string> {
  return removeAtExit(await mkdtemp(join(tmpdir(), `mailpoll-${label}-`)));
}

/** `makeTempDir` for module scope, where there is no await. */
export function makeTempDirSync(label: string): string {
  return removeAtExit(mkdtempSync(join(tmpdir(), `mailpoll-${label}-`)));
}
