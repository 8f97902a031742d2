/**
 * The PostgreSQL store's password from the config: `storePasswordEnv`, `storePasswordFile`,
 * `storePasswordCommand` or `storePasswordSecret`, top-level keys named as the proxy's are
 * (`proxyPasswordEnv`, ...) and read from the same sources as an account's password. Resolved
 * only when a `postgres://` store is opened (cli/store.ts); without any of them, PostgreSQL's
 * own `PGPASSWORD` and `~/.pgpass` apply.
 */
import * as z from 'zod';
import type { PasswordSource, PasswordSpec } from './secrets.js';

/** Each key and the password source it reads. */
export const STORE_PASSWORD_SOURCES = [
  ['storePasswordEnv', 'passwordEnv'],
  ['storePasswordFile', 'passwordFile'],
  ['storePasswordCommand', 'passwordCommand'],
  ['storePasswordSecret', 'passwordSecret'],
] as const satisfies ReadonlyArray<readonly [string, PasswordSource]>;

type StorePasswordKey = (typeof STORE_PASSWORD_SOURCES)[number][0];

const WHEN = 'for a `postgres://` store whose URL has none; without any of the four, `PGPASSWORD` and `~/.pgpass` apply.';

export const STORE_PASSWORD_KEY_DOCS = {
  storePasswordEnv: { description: `Environment variable holding the PostgreSQL store's password, ${WHEN}` },
  storePasswordFile: { description: `File whose first line is the PostgreSQL store's password (relative to the config file, \`~/\` allowed), ${WHEN}` },
  storePasswordCommand: { description: `Shell command whose first output line is the PostgreSQL store's password (run in the config file's folder), ${WHEN}` },
  storePasswordSecret: { description: `Name of a stored secret (\`mailpoll secret set NAME\`) holding the PostgreSQL store's password, ${WHEN}` },
} as const satisfies Record<StorePasswordKey, { description: string }>;

const text = () => z.string().min(1, { error: 'expected a non-empty string' });

/** The keys in the config's schema. */
export const storePasswordFields = {
  storePasswordEnv: text().optional().describe(STORE_PASSWORD_KEY_DOCS.storePasswordEnv.description),
  storePasswordFile: text().optional().describe(STORE_PASSWORD_KEY_DOCS.storePasswordFile.description),
  storePasswordCommand: text().optional().describe(STORE_PASSWORD_KEY_DOCS.storePasswordCommand.description),
  storePasswordSecret: text().optional().describe(STORE_PASSWORD_KEY_DOCS.storePasswordSecret.description),
};

type StorePasswordInput = Partial<Record<StorePasswordKey, unknown>>;

/** More than one of the keys: which one wins would be a guess. */
export function storePasswordProblems(data: unknown): string[] {
  if (data === null || typeof data !== 'object') return [];
  const given = STORE_PASSWORD_SOURCES.map(([key]) => key).filter((key) => (data as StorePasswordInput)[key] !== undefined);
  return given.length > 1 ? [`${given[1]}: only one store password source, not ${given.join(' and ')}`] : [];
}

/** The configured source as a spec `resolvePassword` reads, naming its key; undefined without one. */
export function storePasswordSpecOf(
  parsed: Partial<Record<StorePasswordKey, string | undefined>>,
  displayName: string,
  dir: string,
  resolvePath: (value: string) => string,
): PasswordSpec | undefined {
  const found = STORE_PASSWORD_SOURCES.find(([key]) => parsed[key] !== undefined);
  if (found === undefined) return undefined;
  const [key, source] = found;
  const value = parsed[key]!;
  return { source, value: source === 'passwordFile' ? resolvePath(value) : value, where: `${displayName}: ${key}`, cwd: dir };
}
