/** Which accounts a run works on: `-a NAME` or every enabled account. */
import { ConfigError } from '../errors.js';
import type { AccountConfig, Config } from './types.js';

/** `no account named "foo" (accounts: a, b)` for each name the config does not have. */
export function findUnknownAccounts(config: Config, names: readonly string[]): string[] {
  const known = new Set(config.accounts.map((account) => account.name));
  const list = config.accounts.map((account) => account.name).join(', ');
  return [...new Set(names)].filter((name) => !known.has(name)).map((name) => `no account named "${name}" (accounts: ${list})`);
}

/**
 * The accounts to work on, in file order. Without names (or with an empty list): every
 * enabled account. With names: exactly those accounts, even when disabled; a name the
 * config does not have is a ConfigError.
 */
export function selectAccounts(config: Config, names?: readonly string[] | undefined): AccountConfig[] {
  if (names === undefined || names.length === 0) return config.accounts.filter((account) => account.enabled);
  const problems = findUnknownAccounts(config, names);
  if (problems.length > 0) throw new ConfigError(problems);
  const wanted = new Set(names);
  return config.accounts.filter((account) => wanted.has(account.name));
}
