import { configJsonSchema } from '../../config/json-schema.js';
import { ExitCode } from '../../errors.js';

/** `mailpoll schema`: the config file's JSON Schema on stdout (a document: no time prefix). */
export async function schemaCommand(): Promise<ExitCode> {
  process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
  return ExitCode.ok;
}
