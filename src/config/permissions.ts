/**
 * fetchmail's rule: a config file (or `connectionsFile`) that holds a literal credential is
 * refused when group or others may read it, with the `chmod` that fixes it. Values that only
 * name where the secret is (`${VARS}`, `passwordEnv`, `passwordFile`, `passwordCommand`,
 * `passwordSecret`, and the same sources of an OAuth2 client secret) are
 * fine at any mode.
 */
import { statSync } from 'node:fs';
import { formatPath } from './schema.js';
import { isLiteral, proxyHasLiteralPassword } from './schema-transport.js';

/** Keys whose value, written literally, is a credential. */
export const LITERAL_SECRET_KEYS: readonly string[] = ['password'];

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Paths (`accounts[0].password`) of the literal credentials in one object of account keys. */
function literalsIn(object: unknown, at: PropertyKey[]): string[] {
  if (!isObject(object)) return [];
  const found: string[] = [];
  for (const key of LITERAL_SECRET_KEYS) {
    const value = object[key];
    if (typeof value === 'string' && isLiteral(value)) found.push(formatPath([...at, key]));
  }
  if (typeof object.proxy === 'string' && proxyHasLiteralPassword(object.proxy)) found.push(formatPath([...at, 'proxy']));
  const oauth2 = object.oauth2;
  if (isObject(oauth2) && typeof oauth2.clientSecret === 'string' && isLiteral(oauth2.clientSecret)) found.push(formatPath([...at, 'oauth2', 'clientSecret']));
  return found;
}

/**
 * Where a config as written (before `${VARS}`) holds literal credentials: its accounts,
 * `defaults` and `connections`; `connectionsOnly` for a `connectionsFile` (a map of connections).
 */
export function literalSecrets(raw: unknown, connectionsOnly = false): string[] {
  if (!isObject(raw)) return [];
  const connections = connectionsOnly ? raw : raw.connections;
  const found: string[] = [];
  if (!connectionsOnly) {
    found.push(...literalsIn(raw.defaults, ['defaults']));
    if (Array.isArray(raw.accounts)) raw.accounts.forEach((account, index) => found.push(...literalsIn(account, ['accounts', index])));
  }
  if (isObject(connections)) {
    for (const [name, connection] of Object.entries(connections)) found.push(...literalsIn(connection, connectionsOnly ? [name] : ['connections', name]));
  }
  return found;
}

/**
 * The problem of `file` holding literal credentials at `where` while group or others may read
 * it, or undefined. `shown` is how messages name the file.
 */
export function exposedSecretsProblem(file: string, shown: string, where: readonly string[]): string | undefined {
  if (where.length === 0 || process.platform === 'win32') return undefined;
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  const keys = where.length > 3 ? `${where.slice(0, 3).join(', ')} and ${where.length - 3} more` : where.join(', ');
  const who = mode & 0o070 ? (mode & 0o007 ? 'group and others' : 'its group') : 'others';
  return (
    `${shown}: holds a literal password (${keys}) and is readable by ${who} (mode ${mode.toString(8).padStart(4, '0')}); ` +
    `run: chmod 600 ${quoteForShell(file)} (or take the password from passwordEnv, passwordFile, passwordCommand or \${VARS})`
  );
}

/** A path as a shell word: as is when it is plain, else in single quotes. */
function quoteForShell(file: string): string {
  return /^[\w@%+=:,./-]+$/.test(file) ? file : `'${file.replace(/'/g, `'\\''`)}'`;
}
