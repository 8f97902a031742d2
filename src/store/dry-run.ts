/**
 * The store of a dry run: it reads an existing ledger (so that what is done is not shown as
 * new) and writes nothing: no run row, no account rows, no lease, no ledger change, and no
 * file where there was none. Every write of the Store interface is listed here and does
 * nothing, so a method added to Store must be sorted into reads or writes to compile.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Decision } from '../decision/types.js';
import type { Protocol } from '../domain.js';
import { hasAccountsTable, type AccountsTable } from './accounts-table.js';
import { openStore, type OpenStoreOptions } from './open.js';
import type {
  AccountRunRecord,
  HistoryQuery,
  LeaseResult,
  MessageKey,
  MessageRecord,
  PurgeOptions,
  PurgeResult,
  QuarantineFilter,
  ReceivedMessage,
  RunRecord,
  Store,
} from './types.js';

/**
 * The store at `path` for reading, or an empty one in memory when there is no file yet.
 * A store of an older mailpoll is still brought to the current schema first (as any
 * command would): its queries need it, and no record of this run is added.
 */
export function openDryRunStore(path: string, options: OpenStoreOptions = {}): Store {
  const memory = !existsSync(resolve(path));
  return dryRunOver(openStore(path, { ...options, memory }));
}

/** Any store, as a dry run sees it: reads through, writes nothing. */
export function dryRunOver(inner: Store): Store {
  return new DryRunStore(inner);
}

/** A lease nobody else sees: a dry run takes none, and waits for none. */
function noLease(identity: string): LeaseResult {
  return { ok: true, lease: { identity, token: 'dry-run', renew: async () => true, release: async () => undefined } };
}

class DryRunStore implements Store {
  readonly path: string;
  /** Rows this run's baseline would have written, by `keyOf`. */
  private readonly baselined = new Map<string, MessageRecord>();

  /** The inner store's accounts table, when it has one: reading it writes nothing. */
  readonly accountsTable?: () => AccountsTable;

  constructor(private readonly inner: Store) {
    this.path = inner.path;
    if (hasAccountsTable(inner)) this.accountsTable = () => inner.accountsTable();
  }

  // Reads: from the ledger as it is.
  async findByUids(key: Omit<MessageKey, 'uid'>, uids: readonly string[]): Promise<Map<string, MessageRecord>> {
    const found = await this.inner.findByUids(key, uids);
    // What this dry run's baseline would have skipped is skipped in the rest of the run too.
    for (const uid of uids) {
      const skipped = found.has(uid) ? undefined : this.baselined.get(keyOf({ ...key, uid }));
      if (skipped !== undefined) found.set(uid, skipped);
    }
    return found;
  }
  async findRenumbered(where: Omit<MessageKey, 'uid'>, fingerprints: readonly string[]): Promise<Map<string, MessageRecord[]>> {
    return this.inner.findRenumbered(where, fingerprints);
  }
  async pendingDecisions(identity: string, mailbox: string): Promise<MessageRecord[]> {
    return this.inner.pendingDecisions(identity, mailbox);
  }
  async keptBefore(where: Omit<MessageKey, 'uid'>, handledBefore: number): Promise<MessageRecord[]> {
    return this.inner.keptBefore(where, handledBefore);
  }
  async get(ref: number): Promise<MessageRecord | undefined> {
    return this.inner.get(ref);
  }
  async raw(ref: number): Promise<Buffer | undefined> {
    return this.inner.raw(ref);
  }
  async previewPurge(options: PurgeOptions): Promise<PurgeResult> {
    return this.inner.previewPurge(options);
  }
  async history(query: HistoryQuery): Promise<{ runs: RunRecord[]; messages: MessageRecord[] }> {
    return this.inner.history(query);
  }
  async isFirstRun(identity: string, mailbox: string): Promise<boolean> {
    return this.inner.isFirstRun(identity, mailbox);
  }
  async quarantinedCount(identity: string): Promise<number> {
    return this.inner.quarantinedCount(identity);
  }
  async quarantinedRefs(filter: QuarantineFilter): Promise<number[]> {
    return this.inner.quarantinedRefs(filter);
  }
  now(): number {
    return this.inner.now();
  }
  async close(): Promise<void> {
    this.inner.close();
  }

  // Writes: none.
  async beginRun(_info: { pid: number; command: string; dryRun: boolean }): Promise<number> {
    return 0;
  }
  async recordAccountRun(_runId: number, _result: AccountRunRecord): Promise<void> {}
  async endRun(_runId: number, _exitCode: number): Promise<void> {}
  async acquireLease(identity: string, _options: { ttlMs: number }): Promise<LeaseResult> {
    return noLease(identity);
  }
  async adoptLegacyRows(_where: Omit<MessageKey, 'uid' | 'uidValidity'>, _owner: { account: string; protocol: Protocol }): Promise<number> {
    return 0;
  }
  async recordReceived(_runId: number, _messages: readonly ReceivedMessage[], _options: { archive: boolean }): Promise<Map<string, number>> {
    return new Map();
  }
  async recordHandled(_ref: number, _decision: Decision): Promise<void> {}
  async recordFailed(ref: number, _error: string, maxAttempts: number): Promise<'failed' | 'quarantined'> {
    const record = await this.inner.get(ref);
    return record !== undefined && record.attempts + 1 >= maxAttempts ? 'quarantined' : 'failed';
  }
  async recordTemporaryFailure(_ref: number, _error: string, _detail?: string | undefined): Promise<void> {}
  async recordActionFailed(ref: number, _error: string, maxAttempts: number): Promise<'handled' | 'quarantined'> {
    const record = await this.inner.get(ref);
    return record !== undefined && record.attempts + 1 >= maxAttempts ? 'quarantined' : 'handled';
  }
  async markDone(_refs: readonly number[]): Promise<void> {}
  async markExpired(_refs: readonly number[]): Promise<void> {}
  async rekey(_ref: number, _key: MessageKey): Promise<void> {}
  async setAside(_ref: number): Promise<void> {}
  /** Kept in memory only, so that the run's report shows what the baseline leaves out. */
  async recordBaseline(_runId: number, _where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): Promise<number> {
    let recorded = 0;
    for (const message of messages) {
      const key = keyOf(message.key);
      if (this.baselined.has(key) || (await this.inner.findByUids(message.key, [message.key.uid])).has(message.key.uid)) continue;
      this.baselined.set(key, skippedRecord(message, this.inner.now()));
      recorded += 1;
    }
    return recorded;
  }
  async release(_ref: number): Promise<boolean> {
    return false;
  }
  async sync(): Promise<void> {}
  async purge(_options: PurgeOptions): Promise<PurgeResult> {
    return { rawDeleted: 0, rowsDeleted: 0, runsDeleted: 0 };
  }
}

function keyOf(key: MessageKey): string {
  return JSON.stringify([key.identity, key.mailbox, key.uidValidity, key.uid]);
}

/** The row a baseline would write (no ref: a dry run hands out none). */
function skippedRecord(message: ReceivedMessage, now: number): MessageRecord {
  return {
    ...message.key,
    ...message.meta,
    ref: 0,
    account: message.account,
    protocol: message.protocol,
    fingerprint: message.fingerprint,
    rawHash: null,
    state: 'skipped',
    action: null,
    moveTo: null,
    extras: null,
    expiredAt: null,
    transition: null,
    attempts: 0,
    lastError: null,
    lastErrorDetail: null,
    firstSeenAt: now,
    updatedAt: now,
    handledAt: null,
    doneAt: null,
    onServer: true,
    hasRaw: false,
    runId: null,
  };
}
