/**
 * Which store a command uses, and opening it: `--store PATH|URL` (a path relative to the
 * current folder), else `MAILPOLL_STORE` (the same), else `store:` of the config, else the
 * default file under $XDG_STATE_HOME (`chooseStore`, the one place that decides). A
 * `postgres://` URL names a PostgreSQL store (its driver loaded only then, its password from
 * the config's `storePassword*` keys when it has one); anything else is a SQLite file.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../config/types.js';
import { ConfigError, ConfigNotFoundError, UsageError } from '../errors.js';
import { secretsBeside } from '../secrets/store.js';
import { chooseStore } from '../store/path.js';
import { isPostgresUrl } from '../store/postgres/store-url.js';
import type { PostgresStore } from '../store/postgres/postgres-store.js';
import type { Store } from '../store/types.js';
import { writeDiagnostic } from './diagnostic.js';
import { storeClock } from './timestamps.js';

export interface StoreLocation {
  /** `--store PATH|URL`. */
  store?: string | undefined;
  config?: Pick<Config, 'store' | 'storePasswordSpec' | 'secrets' | 'workers'> | undefined;
}

/** The store's file path, or its URL for a PostgreSQL store. */
export function storePath(location: StoreLocation, cwd = process.cwd()): string {
  return chooseStore({ flag: location.store, configured: location.config?.store }, process.env, cwd);
}

/**
 * The PostgreSQL store's password from the config's `storePassword*` key, registered as a
 * secret; undefined without one (the driver then reads PGPASSWORD or ~/.pgpass). A source
 * that gives none is a config error naming the key.
 */
async function storePassword(location: StoreLocation, url: string): Promise<string | undefined> {
  const spec = location.config?.storePasswordSpec;
  if (spec === undefined) return undefined;
  const { resolvePassword } = await import('../config/secrets.js');
  const result = await resolvePassword(spec, { cwd: spec.cwd, env: process.env, secrets: location.config?.secrets ?? secretsBeside(url) });
  if (result.password === undefined) throw new ConfigError([`${spec.where}: ${result.problem}`]);
  return result.password;
}

/** The PostgreSQL store at `url` (`storePath`), its driver loaded only now. */
export async function openPostgresCliStore(location: StoreLocation, url: string, readOnly: boolean): Promise<PostgresStore> {
  const password = await storePassword(location, url);
  const { openPostgresStore } = await import('../store/postgres/open.js');
  return openPostgresStore(url, { now: storeClock(), readOnly, ...(password === undefined ? {} : { password }) });
}

/** The store's notices (a file made private), as the CLI's other stderr lines. */
const notice = (line: string): void => writeDiagnostic(`mailpoll: ${line}`);

export async function openCliStore(location: StoreLocation): Promise<Store> {
  const path = storePath(location);
  if (isPostgresUrl(path)) return openPostgresCliStore(location, path, false);
  // better-sqlite3 is a native module: loaded only by commands that use the store.
  const { openStore } = await import('../store/open.js');
  return openStore(path, { now: storeClock(), notice, workers: location.config?.workers === true });
}

/**
 * `mailpoll check`: the store if there is one, never created: a SQLite file that exists, or a
 * PostgreSQL database that has the schema (opened for reading only); else undefined.
 */
export async function openExistingCliStore(location: StoreLocation): Promise<Store | undefined> {
  const path = storePath(location);
  if (!isPostgresUrl(path)) return existsSync(path) ? openCliStore(location) : undefined;
  const { isSchemaMissing } = await import('../store/postgres/open.js');
  try {
    return await openPostgresCliStore(location, path, true);
  } catch (error) {
    if (isSchemaMissing(error)) return undefined;
    throw error;
  }
}

/** `mailpoll try REF`, `mailpoll workers`: an existing store, opened for reading only (`workers`: with its workers, to list them). */
export async function openReadOnlyCliStore(location: StoreLocation, options: { workers?: boolean } = {}): Promise<Store> {
  const path = storePath(location);
  if (isPostgresUrl(path)) return openPostgresCliStore(location, path, true);
  if (!existsSync(path)) throw new UsageError(`no store at ${path}: a ref can only be looked up there (--store FILE, MAILPOLL_STORE, or store: in the config)`);
  const { openStore } = await import('../store/open.js');
  return openStore(path, { now: storeClock(), readOnly: true, workers: options.workers === true });
}

/** `--dry-run`: the store read as it is, nothing written, no file created (dry-run.ts). */
export async function openDryRunCliStore(location: StoreLocation): Promise<Store> {
  const path = storePath(location);
  const { openDryRunStore, dryRunOver } = await import('../store/dry-run.js');
  if (isPostgresUrl(path)) {
    // Read-only: a dry run creates no schema; a database without one reads as an empty ledger.
    const { isSchemaMissing } = await import('../store/postgres/open.js');
    try {
      return dryRunOver(await openPostgresCliStore(location, path, true));
    } catch (error) {
      if (!isSchemaMissing(error)) throw error;
      const { openStore } = await import('../store/open.js');
      return dryRunOver(openStore(':memory:', { now: storeClock(), memory: true }));
    }
  }
  return openDryRunStore(path, { now: storeClock(), notice });
}

/**
 * The config, for commands that need only its `store:` and retention keys: without `-c`,
 * a missing config is fine (the default store is used); an invalid one is still an error.
 */
export async function loadConfigIfAny(configFile: string | undefined, store?: string | undefined): Promise<Config | undefined> {
  const { loadConfig } = await import('../config/load.js');
  try {
    // `--store`: the store the command uses (stored secrets are beside it; `accountsTable` needs a PostgreSQL one).
    return await loadConfig({ configFile, resolveSecrets: false, store });
  } catch (error) {
    if (error instanceof ConfigNotFoundError && configFile === undefined) return undefined;
    throw error;
  }
}

/**
 * The store commands (history, show, retry, purge): the config if there is one, the store it
 * names (or `--store`), `work`, and the store closed whatever happens. `dryRun`: the store as
 * a dry run sees it (nothing written, no file created).
 */
export async function withCliStore<T>(
  options: { config?: string | undefined; store?: string | undefined; dryRun?: boolean | undefined },
  work: (store: Store, config: Config | undefined) => Promise<T> | T,
): Promise<T> {
  const config = await loadConfigIfAny(options.config, options.store);
  const location = { store: options.store, config };
  const store = options.dryRun ? await openDryRunCliStore(location) : await openCliStore(location);
  try {
    return await work(store, config);
  } finally {
    await store.close();
  }
}
