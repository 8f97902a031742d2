/**
 * The processed-mail ledger (`messages`) and the archive of raw copies (`archive` for blobs,
 * `archive_files` for the large ones kept as files, see archive-files.ts): the state
 * machine of one message, received -> handled -> done, with failed / quarantined on the side.
 * Every write runs in a `BEGIN IMMEDIATE` transaction, so it waits for the write lock up
 * front (busy_timeout) instead of failing half-way on a stale WAL snapshot.
 */
import type { Decision } from '../decision/types.js';
import { capErrorText, StoreError } from '../errors.js';
import { redact } from '../redact.js';
import { ARCHIVE_FILE_MIN_BYTES, type ArchiveFiles } from './archive-files.js';
import { type StoreContext, unknownRefError } from './context.js';
import {
  firstSeenParams,
  type FirstSeenParams,
  MESSAGE_COLUMNS,
  type MessageTuple,
  UID_COLUMN,
  recordsByFingerprint,
  toMessageRecord,
  toUidValidityColumn,
  writeExtras,
} from './message-row.js';
import type { MessageKey, MessageRecord, QuarantineFilter, ReceivedMessage } from './types.js';

export class Ledger {
  private readonly selectByUids;
  private readonly selectByUid;
  private readonly selectRenumbered;
  private readonly selectPending;
  private readonly selectKept;
  private readonly updateExpired;
  private readonly expiredTx;
  private readonly selectLegacy;
  private readonly updateLegacy;
  private readonly updateSetAside;
  private readonly selectByRef;
  private readonly selectRefByKey;
  private readonly selectRaw;
  private readonly selectFileRow;
  private readonly upsertReceived;
  private readonly insertRaw;
  private readonly insertFileRow;
  private readonly deleteRaw;
  private readonly deleteFileRow;
  private readonly updateHandled;
  private readonly updateFailed;
  private readonly updateActionFailed;
  private readonly updateTemporaryFailure;
  private readonly updateDone;
  private readonly updateKey;
  private readonly updateReleased;
  private readonly selectQuarantinedCount;
  private readonly selectQuarantinedRefs;

  private readonly receiveTx;
  private readonly handledTx;
  private readonly failedTx;
  private readonly actionFailedTx;
  private readonly temporaryFailureTx;
  private readonly doneTx;
  private readonly rekeyTx;
  private readonly releaseTx;
  private readonly adoptTx;
  private readonly setAsideTx;
  /** `identity|mailbox` pairs whose legacy rows were looked for by this connection. */
  private readonly adopted = new Set<string>();

  constructor(
    private readonly context: StoreContext,
    private readonly files: ArchiveFiles,
  ) {
    const { db } = context;
    this.selectByUids = db
      .prepare<[string, string, string, string], MessageTuple>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages m
         WHERE m.identity = ? AND m.mailbox = ? AND m.uid_validity = ? AND m.uid IN (SELECT value FROM json_each(?))`,
      )
      .raw();
    // One uid (a single message looked up): no JSON array for that.
    this.selectByUid = db
      .prepare<[string, string, string, string], MessageTuple>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages m
         WHERE m.identity = ? AND m.mailbox = ? AND m.uid_validity = ? AND m.uid = ?`,
      )
      .raw();
    // Only rows the ledger still believes on the server under an older UIDVALIDITY can be a
    // message renumbered since: once found again they are rekeyed and leave this set.
    this.selectRenumbered = db
      .prepare<[string, string, string, string], MessageTuple>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages m
         WHERE m.identity = ? AND m.fingerprint IN (SELECT value FROM json_each(?))
           AND m.mailbox = ? AND m.uid_validity <> ? AND m.on_server = 1
         ORDER BY m.updated_at, m.ref`,
      )
      .raw();
    this.selectPending = db
      .prepare<[string, string], MessageTuple>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages m
         WHERE m.identity = ? AND m.mailbox = ? AND m.state = 'handled'
         ORDER BY m.handled_at, m.ref`,
      )
      .raw();
    // deleteAfter: kept messages (keep, markSeen; with or without flags and a copy) still on the
    // server, handled before the cutoff, under the folder's current UIDVALIDITY.
    this.selectKept = db
      .prepare<[string, string, string, number], MessageTuple>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages m
         WHERE m.identity = ? AND m.mailbox = ? AND m.uid_validity = ? AND m.state = 'done' AND m.on_server = 1
           AND m.action IN ('keep', 'markSeen') AND m.expired_at IS NULL AND m.handled_at <= ?
         ORDER BY m.handled_at, m.ref`,
      )
      .raw();
    this.updateExpired = db.prepare<[{ ref: number; now: number }]>(
      `UPDATE messages SET on_server = 0, expired_at = @now, updated_at = @now WHERE ref = @ref AND state = 'done'`,
    );
    this.selectByRef = db.prepare<[number], MessageTuple>(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.ref = ?`).raw();
    this.selectRefByKey = db
      .prepare<[string, string, string, string], number>(
        'SELECT ref FROM messages WHERE identity = ? AND mailbox = ? AND uid_validity = ? AND uid = ?',
      )
      .pluck();
    this.selectLegacy = db
      .prepare<[LegacyParams], number>(
        'SELECT EXISTS (SELECT 1 FROM messages WHERE identity = @legacy AND protocol = @protocol AND mailbox = @mailbox)',
      )
      .pluck();
    // OR IGNORE: a row whose key the identity already has stays legacy rather than fail the run.
    this.updateLegacy = db.prepare<[LegacyParams & { identity: string }]>(
      `UPDATE OR IGNORE messages SET identity = @identity
       WHERE identity = @legacy AND protocol = @protocol AND mailbox = @mailbox`,
    );
    this.updateSetAside = db.prepare<[{ ref: number; now: number }]>(
      `UPDATE messages SET uid = uid || '#' || ref, on_server = 0, updated_at = @now WHERE ref = @ref`,
    );
    this.selectRaw = db.prepare<[number], Buffer>('SELECT raw FROM archive WHERE ref = ?').pluck();
    this.selectFileRow = db.prepare<[number], number>('SELECT bytes FROM archive_files WHERE ref = ?').pluck();

    // A new row starts `received` with 0 attempts; an existing one (failed and retried,
    // `received` from a crashed run, `done` being reprocessed) goes back to `received`,
    // keeps its attempts, ref and first_seen_at, and forgets the previous Decision.
    this.upsertReceived = db
      .prepare<[FirstSeenParams], number>(
        `INSERT INTO messages (identity, account, mailbox, uid_validity, uid, protocol, fingerprint, raw_sha256,
           message_id, sender, subject, date, size, state, attempts, first_seen_at, updated_at, on_server, run_id)
         VALUES (@identity, @account, @mailbox, @uidValidity, @uid, @protocol, @fingerprint, @rawHash,
           @messageId, @sender, @subject, @date, @size, 'received', 0, @now, @now, 1, (SELECT id FROM runs WHERE id = @runId))
         ON CONFLICT (identity, mailbox, uid_validity, uid) DO UPDATE SET
           account = excluded.account, protocol = excluded.protocol, fingerprint = excluded.fingerprint,
           raw_sha256 = coalesce(excluded.raw_sha256, raw_sha256), message_id = excluded.message_id,
           sender = excluded.sender, subject = excluded.subject, date = excluded.date, size = excluded.size,
           state = 'received', action = NULL, move_to = NULL, transition = NULL, extras = NULL, expired_at = NULL, handled_at = NULL,
           done_at = NULL, on_server = 1, updated_at = excluded.updated_at, run_id = excluded.run_id
         RETURNING ref`,
      )
      .pluck();
    this.insertRaw = db.prepare<[number, number, Buffer]>('INSERT OR REPLACE INTO archive (ref, stored_at, raw) VALUES (?, ?, ?)');
    this.insertFileRow = db.prepare<[number, number, number]>(
      'INSERT OR REPLACE INTO archive_files (ref, stored_at, bytes) VALUES (?, ?, ?)',
    );
    // A message received again (after a failed attempt, say) may change sides: its earlier copy goes.
    this.deleteRaw = db.prepare<[number]>('DELETE FROM archive WHERE ref = ?');
    this.deleteFileRow = db.prepare<[number]>('DELETE FROM archive_files WHERE ref = ?');

    this.updateHandled = db.prepare<[HandledParams]>(
      `UPDATE messages SET state = 'handled', action = @action, move_to = @moveTo, transition = @transition, extras = @extras,
         handled_at = @now, updated_at = @now, last_error = NULL, last_error_detail = NULL
       WHERE ref = @ref`,
    );
    this.updateFailed = db
      .prepare<[{ ref: number; error: string; detail: string | null; maxAttempts: number; now: number }], 'failed' | 'quarantined'>(
        `UPDATE messages SET attempts = attempts + 1, last_error = @error, last_error_detail = @detail, updated_at = @now,
           state = CASE WHEN attempts + 1 >= @maxAttempts THEN 'quarantined' ELSE 'failed' END
         WHERE ref = @ref
         RETURNING state`,
      )
      .pluck();
    // A refused server action is an attempt like a failed handler: at maxAttempts the row is
    // quarantined, and its Decision is no longer applied (pendingDecisions reads `handled` only).
    this.updateActionFailed = db
      .prepare<[{ ref: number; error: string; maxAttempts: number; now: number }], 'handled' | 'quarantined'>(
        `UPDATE messages SET attempts = attempts + 1, last_error = @error, last_error_detail = NULL, updated_at = @now,
           state = CASE WHEN attempts + 1 >= @maxAttempts THEN 'quarantined' ELSE state END
         WHERE ref = @ref
         RETURNING state`,
      )
      .pluck();
    // State and attempts untouched: a row `received` stays so, and is handed over on the next run.
    this.updateTemporaryFailure = db.prepare<[{ ref: number; error: string; detail: string | null; now: number }]>(
      `UPDATE messages SET last_error = @error, last_error_detail = @detail, updated_at = @now WHERE ref = @ref`,
    );
    this.selectQuarantinedCount = db
      .prepare<[string], number>("SELECT count(*) FROM messages WHERE identity = ? AND state = 'quarantined'")
      .pluck();
    this.selectQuarantinedRefs = db
      .prepare<[{ identity: string | null; account: string | null }], number>(
        `SELECT ref FROM messages WHERE state = 'quarantined'
           AND (@identity IS NULL OR identity = @identity) AND (@account IS NULL OR account = @account) ORDER BY ref`,
      )
      .pluck();
    this.updateDone = db.prepare<[{ ref: number; now: number }]>(
      `UPDATE messages SET state = 'done', done_at = @now, updated_at = @now, last_error = NULL, last_error_detail = NULL,
         on_server = CASE WHEN action IN ('delete', 'move') THEN 0 ELSE 1 END
       WHERE ref = @ref`,
    );
    this.updateKey = db.prepare<[KeyParams]>(
      `UPDATE messages SET identity = @identity, mailbox = @mailbox, uid_validity = @uidValidity, uid = @uid,
         on_server = 1, updated_at = @now
       WHERE ref = @ref`,
    );
    this.updateReleased = db.prepare<[{ ref: number; now: number }]>(
      `UPDATE messages SET state = 'failed', attempts = 0, updated_at = @now
       WHERE ref = @ref AND state IN ('failed', 'quarantined', 'skipped')`,
    );

    this.receiveTx = db.transaction(
      (runId: number, messages: readonly ReceivedMessage[], archive: boolean, files: FileWork): Map<string, number> => {
        const now = context.now();
        const refs = new Map<string, number>();
        for (const message of messages) {
          const { key } = message;
          const ref = this.upsertReceived.get(firstSeenParams(message, now, runId));
          if (ref === undefined) throw new StoreError(`store ${context.file}: recording ${key.uid} returned no ref`);
          if (archive && message.raw !== undefined) this.archiveRaw(ref, now, message.raw, files);
          refs.set(key.uid, ref);
        }
        // Before the commit: a `received` row never points at a file whose name could still vanish.
        if (files.written > 0) this.files.syncFolder();
        return refs;
      },
    );
    this.handledTx = db.transaction((ref: number, decision: Decision) => {
      const result = this.updateHandled.run({
        ref,
        action: decision.action,
        moveTo: decision.action === 'move' ? (decision.folder ?? null) : null,
        transition: decision.transition ? 1 : 0,
        extras: writeExtras(decision.extras),
        now: context.now(),
      });
      if (result.changes === 0) throw unknownRefError(context, ref);
    });
    this.failedTx = db.transaction((ref: number, error: string, detail: string | null, maxAttempts: number) => {
      const state = this.updateFailed.get({ ref, error, detail, maxAttempts, now: context.now() });
      if (state === undefined) throw unknownRefError(context, ref);
      return state;
    });
    this.actionFailedTx = db.transaction((ref: number, error: string, maxAttempts: number) => {
      const state = this.updateActionFailed.get({ ref, error, maxAttempts, now: context.now() });
      if (state === undefined) throw unknownRefError(context, ref);
      return state;
    });
    this.temporaryFailureTx = db.transaction((ref: number, error: string, detail: string | null) => {
      if (this.updateTemporaryFailure.run({ ref, error, detail, now: context.now() }).changes === 0) throw unknownRefError(context, ref);
    });
    this.doneTx = db.transaction((refs: readonly number[]) => {
      const now = context.now();
      for (const ref of refs) {
        if (this.updateDone.run({ ref, now }).changes === 0) throw unknownRefError(context, ref);
      }
    });
    this.rekeyTx = db.transaction((ref: number, key: MessageKey) => {
      const uidValidity = toUidValidityColumn(key.uidValidity);
      const holder = this.selectRefByKey.get(key.identity, key.mailbox, uidValidity, key.uid);
      if (holder !== undefined && holder !== ref) {
        throw new StoreError(
          `store ${context.file}: cannot give ref ${ref} the key ${describeKey(key)}: ref ${holder} already has it`,
        );
      }
      const result = this.updateKey.run({ ref, ...key, uidValidity, now: context.now() });
      if (result.changes === 0) throw unknownRefError(context, ref);
    });
    this.expiredTx = db.transaction((refs: readonly number[]) => {
      const now = context.now();
      for (const ref of refs) this.updateExpired.run({ ref, now });
    });
    this.releaseTx = db.transaction((ref: number) => this.updateReleased.run({ ref, now: context.now() }).changes > 0);
    this.adoptTx = db.transaction((params: LegacyParams & { identity: string }) => this.updateLegacy.run(params).changes);
    this.setAsideTx = db.transaction((ref: number) => {
      if (this.updateSetAside.run({ ref, now: context.now() }).changes === 0) throw unknownRefError(context, ref);
    });
  }

  findByUids(key: Omit<MessageKey, 'uid'>, uids: readonly string[]): Map<string, MessageRecord> {
    const found = new Map<string, MessageRecord>();
    const uidValidity = toUidValidityColumn(key.uidValidity);
    if (uids.length === 1) {
      const row = this.selectByUid.get(key.identity, key.mailbox, uidValidity, uids[0] as string);
      if (row !== undefined) found.set(row[UID_COLUMN], toMessageRecord(row));
      return found;
    }
    if (uids.length === 0) return found;
    const rows = this.selectByUids.all(key.identity, key.mailbox, uidValidity, JSON.stringify(uids));
    for (const row of rows) found.set(row[UID_COLUMN], toMessageRecord(row));
    return found;
  }

  findRenumbered(where: Omit<MessageKey, 'uid'>, fingerprints: readonly string[]): Map<string, MessageRecord[]> {
    const found = new Map<string, MessageRecord[]>();
    const wanted = fingerprints.filter((fingerprint) => typeof fingerprint === 'string' && fingerprint !== '');
    if (wanted.length === 0) return found;
    const uidValidity = toUidValidityColumn(where.uidValidity);
    return recordsByFingerprint(this.selectRenumbered.all(where.identity, JSON.stringify(wanted), where.mailbox, uidValidity));
  }

  pendingDecisions(identity: string, mailbox: string): MessageRecord[] {
    return this.selectPending.all(identity, mailbox).map(toMessageRecord);
  }

  keptBefore(where: Omit<MessageKey, 'uid'>, handledBefore: number): MessageRecord[] {
    return this.selectKept.all(where.identity, where.mailbox, toUidValidityColumn(where.uidValidity), handledBefore).map(toMessageRecord);
  }

  markExpired(refs: readonly number[]): void {
    if (refs.length > 0) this.expiredTx.immediate(refs);
  }

  /** A read first: the write lock is taken only when there is something to adopt. */
  adoptLegacyRows(where: Omit<MessageKey, 'uid' | 'uidValidity'>, owner: { account: string; protocol: string }): number {
    const seen = `${where.identity}\0${where.mailbox}\0${owner.account}`;
    if (this.adopted.has(seen)) return 0;
    const params = { legacy: `legacy:${owner.account}`, protocol: owner.protocol, mailbox: where.mailbox };
    const adopted = this.selectLegacy.get(params) === 1 ? this.adoptTx.immediate({ ...params, identity: where.identity }) : 0;
    this.adopted.add(seen);
    return adopted;
  }

  setAside(ref: number): void {
    this.setAsideTx.immediate(ref);
  }

  get(ref: number): MessageRecord | undefined {
    const row = this.selectByRef.get(ref);
    return row === undefined ? undefined : toMessageRecord(row);
  }

  /** The blob, else the file; a StoreError when `archive_files` has the ref but its file cannot be read. */
  raw(ref: number): Buffer | undefined {
    const blob = this.selectRaw.get(ref);
    if (blob !== undefined) return blob;
    if (this.selectFileRow.get(ref) === undefined) return undefined;
    try {
      return this.files.read(ref);
    } catch (error) {
      // Purged by another process between the row and the file: as if asked a moment later.
      if (this.selectFileRow.get(ref) === undefined) return undefined;
      throw error;
    }
  }

  recordReceived(runId: number, messages: readonly ReceivedMessage[], options: { archive: boolean }): Map<string, number> {
    if (messages.length === 0) return new Map();
    const files: FileWork = { written: 0, fresh: [], stale: [] };
    let refs: Map<string, number>;
    try {
      refs = this.receiveTx.immediate(runId, messages, options.archive, files);
    } catch (error) {
      // Rolled back: a file written for a ref without a committed file row would be litter.
      this.files.remove(files.fresh);
      throw error;
    }
    // Only after the commit: until then the dropped file row could come back with a rollback.
    this.files.remove(files.stale);
    return refs;
  }

  recordHandled(ref: number, decision: Decision): void {
    this.handledTx.immediate(ref, decision);
  }

  recordFailed(ref: number, error: string, maxAttempts: number, detail?: string | undefined): 'failed' | 'quarantined' {
    // A handler may throw megabytes: the row keeps 4 KB of it, on every attempt.
    return this.failedTx.immediate(ref, capErrorText(error), storedDetail(detail), maxAttempts);
  }

  recordTemporaryFailure(ref: number, error: string, detail?: string | undefined): void {
    this.temporaryFailureTx.immediate(ref, capErrorText(error), storedDetail(detail));
  }

  recordActionFailed(ref: number, error: string, maxAttempts: number): 'handled' | 'quarantined' {
    return this.actionFailedTx.immediate(ref, capErrorText(error), maxAttempts);
  }

  quarantinedCount(identity: string): number {
    return this.selectQuarantinedCount.get(identity) ?? 0;
  }

  quarantinedRefs(filter: QuarantineFilter): number[] {
    return this.selectQuarantinedRefs.all({ identity: filter.identity ?? null, account: filter.account ?? null });
  }

  markDone(refs: readonly number[]): void {
    if (refs.length === 0) return;
    this.doneTx.immediate(refs);
  }

  rekey(ref: number, key: MessageKey): void {
    this.rekeyTx.immediate(ref, key);
  }

  release(ref: number): boolean {
    return this.releaseTx.immediate(ref);
  }

  /**
   * One raw copy, inside the received transaction: a file from ARCHIVE_FILE_MIN_BYTES up
   * (written and flushed before the row that names it), else a blob. Whichever side the
   * message had before is emptied; a file left over from before is noted for removal.
   */
  private archiveRaw(ref: number, now: number, raw: Buffer, files: FileWork): void {
    if (raw.length >= ARCHIVE_FILE_MIN_BYTES) {
      const replaced = this.selectFileRow.get(ref) !== undefined;
      this.files.write(ref, raw);
      files.written += 1;
      if (!replaced) files.fresh.push(ref);
      this.insertFileRow.run(ref, now, raw.length);
      this.deleteRaw.run(ref);
      return;
    }
    this.insertRaw.run(ref, now, raw);
    // Only a ref that had a file row can have a file: no unlink attempt per small message.
    if (this.deleteFileRow.run(ref).changes > 0) files.stale.push(ref);
  }
}

/** Files touched by one received transaction, for the work that must wait for its outcome. */
interface FileWork {
  /** Files written: the folder is flushed once before the commit when there are any. */
  written: number;
  /** Refs that got a file and had no file row before: removed if the transaction rolls back. */
  fresh: number[];
  /** Refs now archived as blobs: any file of theirs is removed once the transaction has committed. */
  stale: number[];
}

interface HandledParams {
  ref: number;
  action: string;
  moveTo: string | null;
  transition: 0 | 1;
  extras: string | null;
  now: number;
}

interface LegacyParams {
  legacy: string;
  protocol: string;
  mailbox: string;
}

interface KeyParams {
  ref: number;
  identity: string;
  mailbox: string;
  uidValidity: string;
  uid: string;
  now: number;
}

/** A stack can quote what the handler held (a password in a URL, say): masked before it is written, and capped. */
function storedDetail(detail: string | undefined): string | null {
  return detail === undefined || detail === '' ? null : capErrorText(redact(detail));
}

function describeKey(key: MessageKey): string {
  return [key.identity, key.mailbox, key.uidValidity ?? '-', key.uid].join('/');
}
