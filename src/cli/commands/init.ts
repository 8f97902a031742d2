import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '../../errors.js';
import { CONFIG_FILE, CONFIG_TEMPLATE, HANDLER_FILE, HANDLER_TEMPLATE } from './init-templates.js';

/** `mailpoll init`: write an annotated config and handler into `dir`. Never overwrites a file. */
export async function initCommand(dir: string, err: (line: string) => void): Promise<ExitCode> {
  for (const [name, text] of [
    [CONFIG_FILE, CONFIG_TEMPLATE],
    [HANDLER_FILE, HANDLER_TEMPLATE],
  ] as const) {
    try {
      // 'wx' fails when the file exists: no check-then-write race.
      await writeFile(join(dir, name), text, { flag: 'wx' });
      err(`created ${name}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      err(`kept ${name}: it exists and is not overwritten`);
    }
  }
  err(`next: edit ${CONFIG_FILE}, then run: mailpoll validate && mailpoll check`);
  return ExitCode.ok;
}
