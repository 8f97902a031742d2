/**
 * Limits of a config file, kept apart from the YAML parser so that checking them loads no
 * parser.
 */

/** Largest config file read, in bytes. A real config is a few KB. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** A config file over a limit; its message is the problem, without the file's name. */
export class ConfigLimitError extends Error {
  override readonly name = 'ConfigLimitError';
}

/** The problem of a file of `bytes` bytes, over MAX_CONFIG_BYTES. */
export function tooLarge(bytes: number): string {
  return `is ${bytes} bytes, over the ${MAX_CONFIG_BYTES / 1024 / 1024} MiB limit of a config file; is it the right file?`;
}

/** Refuse `content` over MAX_CONFIG_BYTES before anything parses it. */
export function checkConfigSize(content: string): void {
  const bytes = Buffer.byteLength(content);
  if (bytes > MAX_CONFIG_BYTES) throw new ConfigLimitError(tooLarge(bytes));
}
