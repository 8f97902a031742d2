import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { isPostgresUrl } from './postgres/store-url.js';

/**
 * Where the store lives unless `--store PATH` or `store:` says otherwise:
 * `$XDG_STATE_HOME/mailpoll/mailpoll.db`, else `~/.local/state/mailpoll/mailpoll.db`.
 * A relative or empty `XDG_STATE_HOME` is ignored, as the XDG spec asks.
 */
export function defaultStorePath(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  return join(defaultStoreFolder(env, home), 'mailpoll.db');
}

/**
 * The folder of the default store, mailpoll's own: created 0700, and narrowed to 0700 when
 * found wider (it holds the store and its archive of raw mail).
 */
export function defaultStoreFolder(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const state = env.XDG_STATE_HOME;
  const base = state && isAbsolute(state) ? state : join(home, '.local', 'state');
  return join(base, 'mailpoll');
}

/** The environment variable that names the store when `--store` does not. */
export const STORE_VARIABLE = 'MAILPOLL_STORE';

/** Where the store of a command is named, each optional. */
export interface StoreNames {
  /** `--store PATH|URL`, a path against `cwd`. */
  flag?: string | undefined;
  /** The config's `store:`, resolved against the config's folder already. */
  configured?: string | undefined;
}

/**
 * The one decision of which store a command uses: `--store`, else `MAILPOLL_STORE` (a path
 * against `cwd` as well; empty counts as unset), else `store:`, else the default file. A
 * `postgres://` URL is kept as written; the secrets' location and every command follow it.
 */
export function chooseStore(names: StoreNames, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const given = names.flag ?? (env[STORE_VARIABLE] === '' ? undefined : env[STORE_VARIABLE]);
  if (given !== undefined) return isPostgresUrl(given) ? given : resolve(cwd, given);
  return names.configured ?? defaultStorePath(env);
}
