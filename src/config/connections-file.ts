/**
 * `connectionsFile`: named connections kept in a file of their own (YAML or JSON, a map of
 * name -> connection keys), so that credentials can live apart from a config that is shared
 * or versioned. Read by `loadConfig` (the config's I/O) right after the config file; held to
 * the same permission rule.
 */
import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { MAX_CONFIG_BYTES, tooLarge } from './limits.js';
import { exposedSecretsProblem, literalSecrets } from './permissions.js';

export interface ConnectionsFile {
  /** The file as written: name -> connection object (checked by the schema with the config). */
  raw: Record<string, unknown>;
  /** How problems name the file. */
  shown: string;
}

/** Read `file` (absolute); every problem is a ConfigError naming `key` (where the config names the file). */
export async function readConnectionsFile(file: string, shown: string, key: string): Promise<ConnectionsFile> {
  let content: string;
  try {
    const { size } = await stat(file);
    if (size > MAX_CONFIG_BYTES) throw new ConfigError(`${shown}: ${tooLarge(size)}`);
    content = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : (code ?? String(error));
    throw new ConfigError(`${key}: cannot read ${file}: ${reason}`);
  }
  let raw: unknown;
  try {
    const { parseYaml } = await import('./yaml.js');
    raw = parseYaml(content);
  } catch (error) {
    throw new ConfigError(`${shown}: cannot parse: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${shown}: expected a map of named connections (name: {host, port, user, ...})`);
  }
  const exposed = exposedSecretsProblem(file, shown, literalSecrets(raw, true));
  if (exposed !== undefined) throw new ConfigError(exposed);
  return { raw: raw as Record<string, unknown>, shown };
}
