import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

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
