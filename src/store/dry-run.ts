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
  return new DryRunStore(openStore(path, { ...options, memory }));
}

/** A lease nobody else sees: a dry run takes none, and waits for none. */
const NO_LEASE: LeaseResult = { ok: true, lease: { renew: () => true, release: () => undefined } };

class DryRunStore implements Store {
  readonly path: string;
  /** Rows this run's baseline would have written, by `keyOf`. */
  private readonly baselined = new Map<string, MessageRecord>();

  constructor(private readonly inner: Store) {
    this.path = inner.path;
  }

  // Reads: from the ledger as it is.
  findByUids(key: Omit<MessageKey, 'uid'>, uids: readonly string[]): Map<string, MessageRecord> {
    const found = this.inner.findByUids(key, uids);
    // What this dry run's baseline would have skipped is skipped in the rest of the run too.
    for (const uid of uids) {
      const skipped = found.has(uid) ? undefined : this.baselined.get(keyOf({ ...key, uid }));
      if (skipped !== undefined) found.set(uid, skipped);
    }
    return found;
  }
  findRenumbered(where: Omit<MessageKey, 'uid'>, fingerprints: readonly string[]): Map<string, MessageRecord[]> {
    return this.inner.findRenumbered(where, fingerprints);
  }
  pendingDecisions(identity: string, mailbox: string): MessageRecord[] {
    return this.inner.pendingDecisions(identity, mailbox);
  }
  keptBefore(where: Omit<MessageKey, 'uid'>, handledBefore: number): MessageRecord[] {
    return this.inner.keptBefore(where, handledBefore);
  }
  get(ref: number): MessageRecord | undefined {
    return this.inner.get(ref);
  }
  raw(ref: number): Buffer | undefined {
    return this.inner.raw(ref);
  }
  previewPurge(options: PurgeOptions): PurgeResult {
    return this.inner.previewPurge(options);
  }
  history(query: HistoryQuery): { runs: RunRecord[]; messages: MessageRecord[] } {
    return this.inner.history(query);
  }
  isFirstRun(identity: string, mailbox: string): boolean {
    return this.inner.isFirstRun(identity, mailbox);
  }
  quarantinedCount(identity: string): number {
    return this.inner.quarantinedCount(identity);
  }
  quarantinedRefs(filter: QuarantineFilter): number[] {
    return this.inner.quarantinedRefs(filter);
  }
  now(): number {
    return this.inner.now();
  }
  close(): void {
    this.inner.close();
  }

  // Writes: none.
  beginRun(_info: { pid: number; command: string; dryRun: boolean }): number {
    return 0;
  }
  recordAccountRun(_runId: number, _result: AccountRunRecord): void {}
  endRun(_runId: number, _exitCode: number): void {}
  acquireLease(_identity: string, _options: { ttlMs: number }): LeaseResult {
    return NO_LEASE;
  }
  adoptLegacyRows(_where: Omit<MessageKey, 'uid' | 'uidValidity'>, _owner: { account: string; protocol: Protocol }): number {
    return 0;
  }
  recordReceived(_runId: number, _messages: readonly ReceivedMessage[], _options: { archive: boolean }): Map<string, number> {
    return new Map();
  }
  recordHandled(_ref: number, _decision: Decision): void {}
  recordFailed(ref: number, _error: string, maxAttempts: number): 'failed' | 'quarantined' {
    const record = this.inner.get(ref);
    return record !== undefined && record.attempts + 1 >= maxAttempts ? 'quarantined' : 'failed';
  }
  recordTemporaryFailure(_ref: number, _error: string, _detail?: string | undefined): void {}
  recordActionFailed(ref: number, _error: string, maxAttempts: number): 'handled' | 'quarantined' {
    const record = this.inner.get(ref);
    return record !== undefined && record.attempts + 1 >= maxAttempts ? 'quarantined' : 'handled';
  }
  markDone(_refs: readonly number[]): void {}
  markExpired(_refs: readonly number[]): void {}
  rekey(_ref: number, _key: MessageKey): void {}
  setAside(_ref: number): void {}
  /** Kept in memory only, so that the run's report shows what the baseline leaves out. */
  recordBaseline(_runId: number, _where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): number {
    let recorded = 0;
    for (const message of messages) {
      const key = keyOf(message.key);
      if (this.baselined.has(key) || this.inner.findByUids(message.key, [message.key.uid]).has(message.key.uid)) continue;
      this.baselined.set(key, skippedRecord(message, this.inner.now()));
      recorded += 1;
    }
    return recorded;
  }
  release(_ref: number): boolean {
    return false;
  }
  sync(): void {}
  purge(_options: PurgeOptions): PurgeResult {
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
