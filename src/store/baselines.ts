/**
 * A mailbox's baseline (`startFrom`, `mailpoll baseline`): what is already there is recorded
 * as `skipped`, in one transaction with the mark that the baseline was taken. A skipped row
 * is never handed over (not even with `reprocess`) until `mailpoll retry` releases it.
 */
import type { StoreContext } from './context.js';
import { firstSeenParams, type FirstSeenParams } from './message-row.js';
import type { ReceivedMessage } from './types.js';

export class Baselines {
  private readonly selectTaken;
  private readonly selectAnyRow;
  private readonly insertSkipped;
  private readonly insertMark;
  private readonly recordTx;

  constructor(context: StoreContext) {
    const { db } = context;
    this.selectTaken = db.prepare<[string, string], number>('SELECT 1 FROM baselines WHERE identity = ? AND mailbox = ?').pluck();
    this.selectAnyRow = db.prepare<[string, string], number>('SELECT 1 FROM messages WHERE identity = ? AND mailbox = ? LIMIT 1').pluck();
    // A message the ledger knows already keeps its row (and its state).
    this.insertSkipped = db.prepare<[FirstSeenParams]>(
      `INSERT INTO messages (identity, account, mailbox, uid_validity, uid, protocol, fingerprint, message_id, sender, subject,
         date, size, state, attempts, first_seen_at, updated_at, on_server, run_id)
       VALUES (@identity, @account, @mailbox, @uidValidity, @uid, @protocol, @fingerprint, @messageId, NULL, NULL,
         @date, @size, 'skipped', 0, @now, @now, 1, (SELECT id FROM runs WHERE id = @runId))
       ON CONFLICT (identity, mailbox, uid_validity, uid) DO NOTHING`,
    );
    this.insertMark = db.prepare<[string, string, number]>(
      'INSERT INTO baselines (identity, mailbox, taken_at) VALUES (?, ?, ?) ON CONFLICT (identity, mailbox) DO NOTHING',
    );
    this.recordTx = db.transaction((runId: number, where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): number => {
      const now = context.now();
      let recorded = 0;
      for (const message of messages) {
        const result = this.insertSkipped.run(firstSeenParams(message, now, runId));
        recorded += result.changes;
      }
      this.insertMark.run(where.identity, where.mailbox, now);
      return recorded;
    });
  }

  /** Neither a baseline nor any ledger row for this mailbox: its first run. */
  isFirstRun(identity: string, mailbox: string): boolean {
    return this.selectTaken.get(identity, mailbox) === undefined && this.selectAnyRow.get(identity, mailbox) === undefined;
  }

  /** Records `messages` as skipped (those the ledger does not know yet) and marks the baseline taken. Returns how many were new. */
  record(runId: number, where: { identity: string; mailbox: string }, messages: readonly ReceivedMessage[]): number {
    return this.recordTx.immediate(runId, where, messages);
  }
}
