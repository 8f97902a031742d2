/**
 * `mailpoll secret set|list|delete`: the stored secrets beside the store (README, "Stored
 * secrets"). A value is read from a no-echo prompt on a terminal, else from stdin; no
 * command ever prints one.
 */
import { secretProblem } from '../../config/secrets.js';
import { ExitCode, UsageError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { SecretStore, secretNameProblem, secretsBeside, type SecretsLocation } from '../../secrets/store.js';
import { createOutput } from '../output.js';
import { loadConfigIfAny, storePath } from '../store.js';

export interface SecretCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  json?: boolean | undefined;
}

/** The stored secrets of the store that `-c`/`--store` name (the default store's otherwise). */
export async function secretsLocation(options: SecretCommandOptions): Promise<SecretsLocation> {
  const config = await loadConfigIfAny(options.config);
  return secretsBeside(storePath({ store: options.store, config }));
}

function checkName(name: string): void {
  const problem = secretNameProblem(name);
  if (problem !== undefined) throw new UsageError(`secret name "${name}": ${problem}`);
}

/** `secret set NAME`. */
export async function secretSetCommand(name: string, options: SecretCommandOptions): Promise<ExitCode> {
  checkName(name);
  const output = createOutput({});
  const location = await secretsLocation(options);
  const value = process.stdin.isTTY ? await promptHidden(`Value of ${name} (not shown): `) : firstLine(await readStdin());
  if (value === '') throw new UsageError(`secret ${name}: the value is empty; nothing stored`);
  const problem = secretProblem(value);
  if (problem !== undefined) throw new UsageError(`secret ${name}: the value ${problem}; nothing stored`);
  registerSecret(value);
  await new SecretStore(location).set(name, value);
  output.err(`stored secret ${name} in ${location.file}`);
  return ExitCode.ok;
}

/** `secret list`: names and dates, never values. */
export async function secretListCommand(options: SecretCommandOptions): Promise<ExitCode> {
  const output = createOutput({});
  const location = await secretsLocation(options);
  const entries = await new SecretStore(location).list();
  if (options.json) {
    for (const entry of entries) output.json('secret', entry);
    return ExitCode.ok;
  }
  if (entries.length === 0) output.err(`no stored secrets in ${location.file}`);
  for (const entry of entries) output.out(`${entry.name}  created ${entry.created}  updated ${entry.updated}`);
  return ExitCode.ok;
}

/** `secret delete NAME`. */
export async function secretDeleteCommand(name: string, options: SecretCommandOptions): Promise<ExitCode> {
  checkName(name);
  const output = createOutput({});
  const location = await secretsLocation(options);
  if (!(await new SecretStore(location).delete(name))) throw new UsageError(`no stored secret named ${name} in ${location.file}`);
  output.err(`deleted secret ${name} from ${location.file}`);
  return ExitCode.ok;
}

function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    // The first line is the value: a huge input is a mistake, not a secret.
    if (size > 64 * 1024) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Read one line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n') return finish();
        if (character === '\u0003' || character === '\u0004') return finish(new UsageError('cancelled; nothing stored'));
        if (character === '\u007f' || character === '\b') value = value.slice(0, -1);
        else value += character;
      }
    };
    stdin.on('data', onData);
  });
}
