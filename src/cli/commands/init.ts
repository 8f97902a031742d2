import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../../errors.js';
import { createOutput } from '../output.js';
import { CONFIG_FILE, CONFIG_TEMPLATE, HANDLER_FILE, HANDLER_TEMPLATE } from './init-templates.js';

export interface InitCommandOptions {
  /** The current folder: `dir` resolves against it. */
  cwd: string;
  /** Where to write (created if missing); default `cwd`. */
  dir?: string | undefined;
  /** Overwrite existing files. */
  force?: boolean | undefined;
  timestamps?: boolean | undefined;
}

/** `mailpoll init`: write an annotated config and handler. An existing file is kept unless `force`. */
export async function initCommand(options: InitCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const dir = resolve(options.cwd, options.dir ?? '.');
  await mkdir(dir, { recursive: true });
  const modeline = schemaModeline(dir);
  const config = `${modeline}\n${CONFIG_TEMPLATE}`;
  for (const [name, text] of [
    [CONFIG_FILE, config],
    [HANDLER_FILE, HANDLER_TEMPLATE],
  ] as const) {
    const file = join(dir, name);
    const shown = relative(options.cwd, file) || name;
    const existed = existsSync(file);
    try {
      // 'wx' fails when the file exists: no check-then-write race.
      await writeFile(file, text, { flag: options.force ? 'w' : 'wx' });
      output.err(`${options.force && existed ? 'overwrote' : 'created'} ${shown}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      output.err(`kept ${shown}: it exists and is not overwritten (--force overwrites it)`);
    }
  }
  const configShown = relative(options.cwd, join(dir, CONFIG_FILE)) || CONFIG_FILE;
  const flag = options.dir === undefined ? '' : ` -c ${configShown}`;
  if (modeline.endsWith('./mailpoll.schema.json')) output.err(`note: this mailpoll has no schema.json; for editor completion run: mailpoll schema > ${join(dir, 'mailpoll.schema.json')}`);
  output.err(`next: edit ${configShown}, then run: mailpoll validate${flag} && mailpoll check${flag}`);
  return ExitCode.ok;
}

/**
 * The line that lets editors with yaml-language-server complete and check the config against
 * the schema.json shipped with this mailpoll: a relative path when mailpoll is installed inside
 * the config's folder (node_modules), else an absolute one.
 */
function schemaModeline(dir: string): string {
  const schema = shippedSchema();
  // Only a build from source without `npm run build` has none: point at the one `mailpoll schema` writes.
  return `# yaml-language-server: $schema=${schema === undefined ? './mailpoll.schema.json' : relativeOrAbsolute(dir, schema)}`;
}

function relativeOrAbsolute(dir: string, file: string): string {
  const path = relative(dir, file);
  return path.startsWith('..') ? file : `./${path}`;
}

/** `schema.json` at the root of the package this code runs from (`npm run build` writes it). */
function shippedSchema(): string | undefined {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(folder, 'package.json'))) {
      const schema = join(folder, 'schema.json');
      return existsSync(schema) ? schema : undefined;
    }
    const parent = dirname(folder);
    if (parent === folder) return undefined;
    folder = parent;
  }
}
