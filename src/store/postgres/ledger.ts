/**
 * The processed-mail ledger in PostgreSQL: the same states, attempts and columns as the SQLite
 * ledger (ledger.ts), statement for statement. A write that concerns one message is one
 * statement (one implicit transaction); a batch is one transaction. Writes that record a
 * decision or its outcome may carry a Fence: see leases.ts.
 */
import type { Decision } from '../../decision/types.js';
import { capErrorText, StoreError } from '../../errors.js';
import { redact } from '../../redact.js';
import { type Fence, LeaseLostError } from '../contract.js';
import { firstSeenParams, type MessageTuple, recordsByFingerprint, toMessageRecord, UID_COLUMN, toUidValidityColumn, writeExtras } from '../message-row.js';
import type { MessageKey, MessageRecord, QuarantineFilter, ReceivedMessage } from '../types.js';
import { readRawCopy, writeRawCopies } from './archive.js';
import type { Connection } from './connection.js';
import { checkFence, FENCE_CTE, FENCE_HOLDS, fenceParams, isFenceHeld } from './leases.js';
import { PG_MESSAGE_COLUMNS, storableText } from './message-columns.js';


export class PostgresLedger {
  /** `identity|mailbox|account` whose legacy rows were looked for by this store. */
  private readonly adopted = new Set<string>();

  constructor(
    private readonly connection: Connection,
    private readonly label: string,
    private readonly now: () => number,
  ) {}

  async findByUids(key: Omit<MessageKey, 'uid'>, uids: readonly string[]): Promise<Map<string, MessageRecord>> {
    const found = new Map<string, MessageRecord>();
    if (uids.length === 0) return found;
    const rows = await this.connection.rows<MessageTuple>(
      `SELECT ${PG_MESSAGE_COLUMNS} FROM mailpoll.messages m
       WHERE m.identity = $1 AND m.mailbox = $2 AND m.uid_validity = $3 AND m.uid = ANY($4::text[])`,
      [key.identity, key.mailbox, toUidValidityColumn(key.uidValidity), uids],
    );
    for (const row of rows) found.set(row[UID_COLUMN], toMessageRecord(row));
    return found;
  }

  /** Rows still believed on the server under another UIDVALIDITY, by fingerprint (see ledger.ts). */
  async findRenumbered(where: Omit<MessageKey, 'uid'>, fingerprints: readonly string[]): Promise<Map<string, MessageRecord[]>> {
    const found = new Map<string, MessageRecord[]>();
    const wanted = fingerprints.filter((fingerprint) => typeof fingerprint === 'string' && fingerprint !== '');
    if (wanted.length === 0) return found;
    const rows = await this.connection.rows<MessageTuple>(
      `SELECT ${PG_MESSAGE_COLUMNS} FROM mailpoll.messages m
       WHERE m.identity = $1 AND m.fingerprint = ANY($2::text[]) AND m.mailbox = $3 AND m.uid_validity <> $4 AND m.on_server
       ORDER BY m.updated_at, m.ref`,
      [where.identity, wanted, where.mailbox, toUidValidityColumn(where.uidValidity)],
    );
    return recordsByFingerprint(rows);
  }

  async pendingDecisions(identity: string, mailbox: string): Promise<MessageRecord[]> {
    const rows = await this.connection.rows<MessageTuple>(
      `SELECT ${PG_MESSAGE_COLUMNS} FROM mailpoll.messages m
       WHERE m.identity = $1 AND m.mailbox = $2 AND m.state = 'handled' ORDER BY m.handled_at, m.ref`,
      [identity, mailbox],
    );
    return rows.map(toMessageRecord);
  }

  async keptBefore(where: Omit<MessageKey, 'uid'>, handledBefore: number): Promise<MessageRecord[]> {
    const rows = await this.connection.rows<MessageTuple>(
      `SELECT ${PG_MESSAGE_COLUMNS} FROM mailpoll.messages m
       WHERE m.identity = $1 AND m.mailbox = $2 AND m.uid_validity = $3 AND m.state = 'done' AND m.on_server
         AND m.action IN ('keep', 'markSeen') AND m.expired_at IS NULL AND m.handled_at <= $4
       ORDER BY m.handled_at, m.ref`,
      [where.identity, where.mailbox, toUidValidityColumn(where.uidValidity), handledBefore],
    );
    return rows.map(toMessageRecord);
  }

  async adoptLegacyRows(where: Omit<MessageKey, 'uid' | 'uidValidity'>, owner: { account: string; protocol: string }): Promise<number> {
    const seen = `${where.identity}\0${where.mailbox}\0${owner.account}`;
    if (this.adopted.has(seen)) return 0;
    // A row whose key the identity already has stays legacy rather than fail the run.
    const adopted = await this.connection.run(
      `UPDATE mailpoll.messages m SET identity = $1
       WHERE m.identity = $2 AND m.protocol = $3 AND m.mailbox = $4
         AND NOT EXISTS (SELECT 1 FROM mailpoll.messages o
                         WHERE o.identity = $1 AND o.mailbox = m.mailbox AND o.uid_validity = m.uid_validity AND o.uid = m.uid)`,
      [where.identity, `legacy:${owner.account}`, owner.protocol, where.mailbox],
    );
    this.adopted.add(seen);
    return adopted;
  }

  /**
   * One transaction for the batch: every row upserted to `received` in one statement (a row
   * known already keeps its ref, attempts and first_seen_at, and forgets its Decision), then
   * the raw copies. A key given twice counts once, the last one.
   */
  async recordReceived(runId: number, messages: readonly ReceivedMessage[], options: { archive: boolean }): Promise<Map<string, number>> {
    if (messages.length === 0) return new Map();
    const now = this.now();
    const byKey = new Map<string, ReceivedMessage>();
    for (const message of messages) byKey.set(keyOf(message.key), message);
    const batch = [...byKey.values()];
    const params = batch.map((message) => firstSeenParams(message, now, runId));
    const column = <K extends keyof (typeof params)[number]>(name: K) => params.map((row) => storableText(row[name] as string | null));
    return this.connection.transaction(async (sql) => {
      const rows = await sql.rows<[number, string, string, string, string]>(
        `INSERT INTO mailpoll.messages AS m (identity, account, mailbox, uid_validity, uid, protocol, fingerprint, raw_sha256,
           message_id, sender, subject, date, size, state, attempts, first_seen_at, updated_at, on_server, run_id)
         SELECT t.identity, t.account, t.mailbox, t.uid_validity, t.uid, t.protocol, t.fingerprint, t.raw_sha256,
           t.message_id, t.sender, t.subject, t.date, t.size, 'received', 0, $14, $14, true, (SELECT id FROM mailpoll.runs WHERE id = $15)
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
           $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[])
           AS t(identity, account, mailbox, uid_validity, uid, protocol, fingerprint, raw_sha256, message_id, sender, subject, date, size)
         ON CONFLICT (identity, mailbox, uid_validity, uid) DO UPDATE SET
           account = excluded.account, protocol = excluded.protocol, fingerprint = excluded.fingerprint,
           raw_sha256 = coalesce(excluded.raw_sha256, m.raw_sha256), message_id = excluded.message_id,
           sender = excluded.sender, subject = excluded.subject, date = excluded.date, size = excluded.size,
           state = 'received', action = NULL, move_to = NULL, transition = NULL, extras = NULL, expired_at = NULL, handled_at = NULL,
           done_at = NULL, on_server = true, updated_at = excluded.updated_at, run_id = excluded.run_id
         RETURNING m.ref, m.identity, m.mailbox, m.uid_validity, m.uid`,
        [
          column('identity'), column('account'), column('mailbox'), column('uidValidity'), column('uid'), column('protocol'),
          column('fingerprint'), column('rawHash'), column('messageId'), column('sender'), column('subject'), column('date'),
          params.map((row) => row.size), now, runId,
        ],
      );
      const refByKey = new Map(rows.map(([ref, identity, mailbox, uidValidity, uid]) => [keyOf({ identity, mailbox, uidValidity, uid }), ref]));
      const refs = new Map<string, number>();
      for (const message of messages) {
        const ref = refByKey.get(keyOf(message.key));
        if (ref === undefined) throw new StoreError(`store ${this.label}: recording ${message.key.uid} returned no ref`);
        refs.set(message.key.uid, ref);
      }
      if (options.archive) {
        const copies = batch.flatMap((message) => (message.raw === undefined ? [] : [{ ref: refByKey.get(keyOf(message.key)) as number, raw: message.raw }]));
        await writeRawCopies(sql, copies, now);
      }
      return refs;
    });
  }

  async recordHandled(ref: number, decision: Decision, fence?: Fence): Promise<void> {
    const now = this.now();
    const changed = await this.connection.run(
      `WITH ${FENCE_CTE}
       UPDATE mailpoll.messages SET state = 'handled', action = $4, move_to = $5, transition = $6, extras = $7::jsonb,
         handled_at = $3, updated_at = $3, last_error = NULL, last_error_detail = NULL
       WHERE ref = $8 AND ${FENCE_HOLDS}`,
      [
        ...fenceParams(fence),
        now,
        decision.action,
        decision.action === 'move' ? (decision.folder ?? null) : null,
        Boolean(decision.transition),
        writeExtras(decision.extras),
        ref,
      ],
    );
    if (changed === 0) throw await this.noChange(ref, fence);
  }

  async recordFailed(ref: number, error: string, maxAttempts: number, detail?: string | undefined, fence?: Fence): Promise<'failed' | 'quarantined'> {
    // A handler may throw megabytes: the row keeps 4 KB of it, on every attempt.
    const state = await this.connection.value<'failed' | 'quarantined'>(
      `WITH ${FENCE_CTE}
       UPDATE mailpoll.messages SET attempts = attempts + 1, last_error = $4, last_error_detail = $5, updated_at = $3,
         state = CASE WHEN attempts + 1 >= $6 THEN 'quarantined' ELSE 'failed' END
       WHERE ref = $7 AND ${FENCE_HOLDS}
       RETURNING state`,
      [...fenceParams(fence), this.now(), storedError(error), storedDetail(detail), maxAttempts, ref],
    );
    if (state === undefined) throw await this.noChange(ref, fence);
    return state;
  }

  /** State and attempts untouched: a row `received` stays so, and is handed over on the next run. */
  async recordTemporaryFailure(ref: number, error: string, detail?: string | undefined, fence?: Fence): Promise<void> {
    const changed = await this.connection.run(
      `WITH ${FENCE_CTE}
       UPDATE mailpoll.messages SET last_error = $4, last_error_detail = $5, updated_at = $3
       WHERE ref = $6 AND ${FENCE_HOLDS}`,
      [...fenceParams(fence), this.now(), storedError(error), storedDetail(detail), ref],
    );
    if (changed === 0) throw await this.noChange(ref, fence);
  }

  /** A refused server action is an attempt like a failed handler; at maxAttempts the row is quarantined. */
  async recordActionFailed(ref: number, error: string, maxAttempts: number, fence?: Fence): Promise<'handled' | 'quarantined'> {
    const state = await this.connection.value<'handled' | 'quarantined'>(
      `WITH ${FENCE_CTE}
       UPDATE mailpoll.messages SET attempts = attempts + 1, last_error = $4, last_error_detail = NULL, updated_at = $3,
         state = CASE WHEN attempts + 1 >= $5 THEN 'quarantined' ELSE state END
       WHERE ref = $6 AND ${FENCE_HOLDS}
       RETURNING state`,
      [...fenceParams(fence), this.now(), storedError(error), maxAttempts, ref],
    );
    if (state === undefined) throw await this.noChange(ref, fence);
    return state;
  }

  async quarantinedCount(identity: string): Promise<number> {
    return (await this.connection.value<number>("SELECT count(*) FROM mailpoll.messages WHERE identity = $1 AND state = 'quarantined'", [identity])) ?? 0;
  }

  async quarantinedRefs(filter: QuarantineFilter): Promise<number[]> {
    const rows = await this.connection.rows<[number]>(
      `SELECT ref FROM mailpoll.messages WHERE state = 'quarantined'
         AND ($1::text IS NULL OR identity = $1) AND ($2::text IS NULL OR account = $2) ORDER BY ref`,
      [filter.identity ?? null, filter.account ?? null],
    );
    return rows.map(([ref]) => ref);
  }

  /** One transaction: every ref done, or (an unknown one among them) none. */
  async markDone(refs: readonly number[], fence?: Fence): Promise<void> {
    if (refs.length === 0) return;
    const now = this.now();
    await this.connection.transaction(async (sql) => {
      await checkFence(sql, fence);
      const done = await sql.rows<[number]>(
        `UPDATE mailpoll.messages SET state = 'done', done_at = $2, updated_at = $2, last_error = NULL, last_error_detail = NULL,
           on_server = action IS NULL OR action NOT IN ('delete', 'move')
         WHERE ref = ANY($1::bigint[]) RETURNING ref`,
        [refs, now],
      );
      const found = new Set(done.map(([ref]) => ref));
      const unknown = refs.find((ref) => !found.has(ref));
      if (unknown !== undefined) throw this.unknownRef(unknown);
    });
  }

  /** deleteAfter removed these kept messages: off the server from now. Rows no longer `done` are left alone. */
  async markExpired(refs: readonly number[], fence?: Fence): Promise<void> {
    if (refs.length === 0) return;
    const now = this.now();
    await this.connection.transaction(async (sql) => {
      await checkFence(sql, fence);
      await sql.run(
        "UPDATE mailpoll.messages SET on_server = false, expired_at = $2, updated_at = $2 WHERE ref = ANY($1::bigint[]) AND state = 'done'",
        [refs, now],
      );
    });
  }

  async rekey(ref: number, key: MessageKey): Promise<void> {
    const uidValidity = toUidValidityColumn(key.uidValidity);
    await this.connection.transaction(async (sql) => {
      const holder = await sql.value<number>(
        'SELECT ref FROM mailpoll.messages WHERE identity = $1 AND mailbox = $2 AND uid_validity = $3 AND uid = $4',
        [key.identity, key.mailbox, uidValidity, key.uid],
      );
      if (holder !== undefined && holder !== ref) {
        throw new StoreError(`store ${this.label}: cannot give ref ${ref} the key ${describeKey(key)}: ref ${holder} already has it`);
      }
      const changed = await sql.run(
        `UPDATE mailpoll.messages SET identity = $2, mailbox = $3, uid_validity = $4, uid = $5, on_server = true, updated_at = $6
         WHERE ref = $1`,
        [ref, key.identity, key.mailbox, uidValidity, key.uid, this.now()],
      );
      if (changed === 0) throw this.unknownRef(ref);
    });
  }

  async setAside(ref: number): Promise<void> {
    const changed = await this.connection.run(
      "UPDATE mailpoll.messages SET uid = uid || '#' || ref, on_server = false, updated_at = $2 WHERE ref = $1",
      [ref, this.now()],
    );
    if (changed === 0) throw this.unknownRef(ref);
  }

  async release(ref: number): Promise<boolean> {
    const changed = await this.connection.run(
      "UPDATE mailpoll.messages SET state = 'failed', attempts = 0, updated_at = $2 WHERE ref = $1 AND state IN ('failed', 'quarantined', 'skipped')",
      [ref, this.now()],
    );
    return changed > 0;
  }

  async get(ref: number): Promise<MessageRecord | undefined> {
    const [row] = await this.connection.rows<MessageTuple>(`SELECT ${PG_MESSAGE_COLUMNS} FROM mailpoll.messages m WHERE m.ref = $1`, [ref]);
    return row === undefined ? undefined : toMessageRecord(row);
  }

  raw(ref: number): Promise<Buffer | undefined> {
    return readRawCopy(this.connection, ref, this.label);
  }

  /** A fenced write changed nothing: its lease was taken over, or the ref is unknown. */
  private async noChange(ref: number, fence: Fence | undefined): Promise<StoreError> {
    if (fence !== undefined && !(await isFenceHeld(this.connection, fence))) return new LeaseLostError(fence.identity);
    return this.unknownRef(ref);
  }

  /** A ref the caller got from this store no longer (or never) exists: a bug, said plainly. */
  private unknownRef(ref: number): StoreError {
    return new StoreError(`store ${this.label}: no message with ref ${ref}`);
  }
}

function keyOf(key: { identity: string; mailbox: string; uidValidity: string | null; uid: string }): string {
  return JSON.stringify([key.identity, key.mailbox, toUidValidityColumn(key.uidValidity), key.uid]);
}

function storedError(error: string): string {
  return storableText(capErrorText(error));
}

/** A stack can quote what the handler held (a password in a URL, say): masked before it is written, and capped. */
function storedDetail(detail: string | undefined): string | null {
  return detail === undefined || detail === '' ? null : storableText(capErrorText(redact(detail)));
}

function describeKey(key: MessageKey): string {
  return [key.identity, key.mailbox, key.uidValidity ?? '-', key.uid].join('/');
}
