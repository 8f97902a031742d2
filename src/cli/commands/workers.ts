/**
 * `mailpoll workers`: the live workers on a shared (PostgreSQL) store, every `--watch`
 * process on it, and the accounts each holds; with a config, also the accounts nobody holds
 * (the accounts table's too, with `accountsTable: true`).
 * Read only: nothing is created, migrated or released.
 */
import type { Config } from '../../config/types.js';
import { ExitCode, UsageError } from '../../errors.js';
import { mailboxIdentity } from '../../mailbox/identity.js';
import { isPostgresUrl, maskStoreUrl } from '../../store/postgres/store-url.js';
import type { LiveWorker, WorkerRegistry } from '../../store/workers.js';
import { createOutput, type Output } from '../output.js';
import { loadConfigIfAny, openPostgresCliStore, storePath } from '../store.js';
import { isoTime } from '../timestamps.js';
import { accountsTableOf } from '../accounts-table.js';
import { readAccountsTable } from '../../config/read-accounts-table.js';

export interface WorkersCommandOptions {
  config?: string | undefined;
  /** `--store URL`: a postgres:// URL (a SQLite file has no workers). */
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
  const url = storePath(location);
  if (!isPostgresUrl(url)) {
    throw new UsageError(`workers share a PostgreSQL store, and this store is a SQLite file (${url}): pass --store postgres://user@host:5432/database`);
  }
  const store = await openPostgresCliStore(location, url, true);
  try {
    // The table's accounts are named too (their secrets are not needed for that).
    const table = config === undefined ? undefined : accountsTableOf(config, store);
    if (config !== undefined && table !== undefined) config.accounts.push(...(await readAccountsTable(config, table, { resolveSecrets: false })).accounts);
    const listing = await listWorkers(store.workerRegistry(), config);
    printWorkers(output, listing, { json: options.json === true, store: maskStoreUrl(url), now: store.now() });
    return ExitCode.ok;
  } finally {
    await store.close();
  }
}

/** The live workers, their accounts named after `config` where it names them. */
export async function listWorkers(registry: WorkerRegistry, config: Pick<Config, 'accounts'> | undefined): Promise<WorkersListing> {
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
