/**
 * A mailbox's baseline in PostgreSQL (see baselines.ts): what is there is recorded as
 * `skipped` (a message the ledger knows keeps its row), in one transaction with the mark that
 * the baseline was taken.
 */
import { firstSeenParams } from '../message-row.js';
import type { ReceivedMessage } from '../types.js';
import type { Connection } from './connection.js';
import { storableText } from './message-columns.js';

export class PostgresBaselines {
  constructor(
    private readonly connection: Connection,
    private readonly now: () => number,
  ) {}

  /** Neither a baseline nor any ledger row for this mailbox: its first run. */
  async isFirstRun(identity: string, mailbox: string): Promise<boolean> {
    const first = await this.connection.value<boolean>(
      `SELECT NOT EXISTS (SELECT 1 FROM mailpoll.baselines WHERE identity = $1 AND mailbox = $2)
          AND NOT EXISTS (SELECT 1 FROM mailpoll.messages WHERE identity = $1 AND mailbox = $2)`,
      [identity, mailbox],
    );
    return first === true;
  }

  /** Records `messages` as skipped (those the ledger does not know yet) and marks the baseline taken. Returns how many were new. */
  async record(runId: number, where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): Promise<number> {
    const now = this.now();
    const params = messages.map((message) => firstSeenParams(message, now, runId));
    const text = (pick: (row: (typeof params)[number]) => string | null) => params.map((row) => storableText(pick(row)));
    return this.connection.transaction(async (sql) => {
      // Sender and subject are not kept for a skipped message, as on SQLite.
      const recorded =
        params.length === 0
          ? 0
          : await sql.run(
              `INSERT INTO mailpoll.messages (identity, account, mailbox, uid_validity, uid, protocol, fingerprint, message_id,
                 date, size, state, attempts, first_seen_at, updated_at, on_server, run_id)
               SELECT t.identity, t.account, t.mailbox, t.uid_validity, t.uid, t.protocol, t.fingerprint, t.message_id,
                 t.date, t.size, 'skipped', 0, $11, $11, true, (SELECT id FROM mailpoll.runs WHERE id = $12)
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[])
                 AS t(identity, account, mailbox, uid_validity, uid, protocol, fingerprint, message_id, date, size)
               ON CONFLICT (identity, mailbox, uid_validity, uid) DO NOTHING`,
              [
                text((row) => row.identity), text((row) => row.account), text((row) => row.mailbox), text((row) => row.uidValidity),
                text((row) => row.uid), text((row) => row.protocol), text((row) => row.fingerprint), text((row) => row.messageId),
                text((row) => row.date), params.map((row) => row.size), now, runId,
              ],
            );
      await sql.run(
        'INSERT INTO mailpoll.baselines (identity, mailbox, taken_at) VALUES ($1, $2, $3) ON CONFLICT (identity, mailbox) DO NOTHING',
        [where.identity, where.mailbox, now],
      );
      return recorded;
    });
  }
}
