/**
 * `mailpoll workers`: the live workers on the store (every `--watch` process on it: several
 * hosts on a PostgreSQL store, several processes of one host on a SQLite file) and the
 * accounts each holds; with a config, also the accounts nobody holds (the accounts table's
 * too, with `accountsTable: true`). Read only: nothing is
 * created, migrated or released.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../../config/types.js';
import { ExitCode } from '../../errors.js';
import { mailboxIdentity } from '../../mailbox/identity.js';
import { isPostgresUrl, maskStoreUrl } from '../../store/postgres/store-url.js';
import { hasWorkers, type LiveWorker, type WorkerRegistry } from '../../store/workers.js';
import { createOutput, type Output } from '../output.js';
import { loadConfigIfAny, openPostgresCliStore, openReadOnlyCliStore, storePath, type StoreLocation } from '../store.js';
import { isoTime } from '../timestamps.js';
import { accountsTableOf } from '../accounts-table.js';
import { readAccountsTable } from '../../config/read-accounts-table.js';

export interface WorkersCommandOptions {
  config?: string | undefined;
  /** `--store PATH|URL`: a SQLite file or a postgres:// URL. */
  store?: string | undefined;
  json?: boolean | undefined;
  timestamps?: boolean | undefined;
}

/** An account as the listing names it: its name in the config when the config has it, and its mailbox. */
export interface HeldAccount {
  name: string | undefined;
  identity: string;
}

export interface WorkersListing {
  workers: Array<Omit<LiveWorker, 'identities'> & { accounts: HeldAccount[] }>;
  /** Configured accounts (enabled ones) no live worker holds; undefined without a config. */
  unheld: HeldAccount[] | undefined;
}

export async function workersCommand(options: WorkersCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const config = await loadConfigIfAny(options.config, options.store);
  const location = { store: options.store, config };
  const path = storePath(location);
  const label = isPostgresUrl(path) ? maskStoreUrl(path) : path;
  const store = await openWorkerStore(location, path);
  if (store === undefined) {
    // No file yet: nothing has ever run on it, so no worker either.
    printWorkers(output, await listWorkers({ list: async () => [] }, config), { json: options.json === true, store: label, now: Date.now() });
    return ExitCode.ok;
  }
  try {
    // The table's accounts are named too (their secrets are not needed for that).
    const table = config === undefined ? undefined : accountsTableOf(config, store);
    if (config !== undefined && table !== undefined) config.accounts.push(...(await readAccountsTable(config, table, { resolveSecrets: false })).accounts);
    const listing = await listWorkers(store.workerRegistry(), config);
    printWorkers(output, listing, { json: options.json === true, store: label, now: store.now() });
    return ExitCode.ok;
  } finally {
    await store.close();
  }
}

/** The store at `path`, opened for reading only; undefined for a SQLite file that does not exist. */
async function openWorkerStore(location: StoreLocation, path: string) {
  if (isPostgresUrl(path)) return openPostgresCliStore(location, path, true);
  if (!existsSync(path)) return undefined;
  const store = await openReadOnlyCliStore(location, { workers: true });
  if (hasWorkers(store)) return store;
  await store.close();
  throw new Error(`store ${path}: opened without workers`);
}

/** The live workers, their accounts named after `config` where it names them. */
export async function listWorkers(registry: Pick<WorkerRegistry, 'list'>, config: Pick<Config, 'accounts'> | undefined): Promise<WorkersListing> {
  const names = new Map<string, string>();
  for (const account of config?.accounts ?? []) if (account.enabled) names.set(mailboxIdentity(account), account.name);
  const live = await registry.list();
  const held = new Set(live.flatMap((worker) => worker.identities));
  const named = (identity: string): HeldAccount => ({ name: names.get(identity), identity });
  return {
    workers: live.map(({ identities, ...worker }) => ({ ...worker, accounts: identities.map(named) })),
    unheld: config === undefined ? undefined : [...names.keys()].filter((identity) => !held.has(identity)).map(named),
  };
}

export function printWorkers(output: Output, listing: WorkersListing, options: { json: boolean; store: string; now: number }): void {
  if (options.json) {
    for (const worker of listing.workers) {
      output.json('worker', {
        id: worker.id,
        host: worker.host,
        pid: worker.pid,
        startedAt: isoTime(worker.startedAt),
        heartbeatAt: isoTime(worker.heartbeatAt),
        accounts: worker.accounts,
      });
    }
    output.json('workers', { store: options.store, live: listing.workers.length, ...(listing.unheld === undefined ? {} : { unheld: listing.unheld }) });
    return;
  }
  output.print(listing.workers.length === 0 ? `workers: none live on ${options.store}` : `workers: ${listing.workers.length} live on ${options.store}`);
  for (const worker of listing.workers) {
    const ago = Math.max(0, Math.round((options.now - worker.heartbeatAt) / 1000));
    output.print(
      `  ${worker.host} pid ${worker.pid}  started ${isoTime(worker.startedAt)}  heartbeat ${ago}s ago  ${plural(worker.accounts.length, 'account')}  (worker ${worker.id})`,
    );
    for (const account of worker.accounts) output.print(`      ${describeAccount(account)}`);
  }
  if (listing.unheld !== undefined) {
    output.print(listing.unheld.length === 0 ? 'not held: none' : `not held: ${plural(listing.unheld.length, 'account')}`);
    for (const account of listing.unheld) output.print(`      ${describeAccount(account)}`);
  }
}

function describeAccount(account: HeldAccount): string {
  return account.name === undefined ? account.identity : `${account.name} (${account.identity})`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
