/**
 * Retention: raw copies go after `retentionDays`; ledger rows after `ledgerDays`, but only
 * rows whose story is over (`done`) and whose message is off the server (deleted or moved).
 * A row for a message still on the server is what keeps it from being handled twice, so it
 * stays however old it is; failed / quarantined / handled / received rows are never purged.
 * Raw copies kept as files (archive-files.ts) go by the same rules as blobs; the files
 * themselves are removed once the purge has committed.
 */
import type { ArchiveFiles } from './archive-files.js';
import type { StoreContext } from './context.js';
import type { PurgeOptions, PurgeResult } from './types.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Thrown inside the purge transaction of a preview, to roll it back with its counts. */
class PreviewRollback extends Error {
  constructor(readonly result: PurgeResult) {
    super('purge preview: rolled back');
  }
}

export class Retention {
  private readonly deleteAllRaw;
  private readonly deleteOldRaw;
  private readonly deletePurgeableRaw;
  private readonly deleteAllFileRows;
  private readonly deleteOldFileRows;
  private readonly deletePurgeableFileRows;
  private readonly deletePurgeableRows;
  private readonly deleteOldRuns;
  private readonly purgeTx;

  constructor(
    private readonly context: StoreContext,
    private readonly files: ArchiveFiles,
  ) {
    const { db } = context;
    this.deleteAllRaw = db.prepare('DELETE FROM archive');
    this.deleteOldRaw = db.prepare<[number]>('DELETE FROM archive WHERE stored_at < ?');
    const purgeable = "state = 'done' AND on_server = 0 AND updated_at < @cutoff";
    // Counted explicitly: the ON DELETE CASCADE from messages would not show in changes().
    this.deletePurgeableRaw = db.prepare<[{ cutoff: number }]>(
      `DELETE FROM archive WHERE ref IN (SELECT ref FROM messages WHERE ${purgeable})`,
    );
    this.deletePurgeableRows = db.prepare<[{ cutoff: number }]>(`DELETE FROM messages WHERE ${purgeable}`);
    // The same for copies kept as files, returning the refs whose files are to go.
    this.deleteAllFileRows = db.prepare<[], number>('DELETE FROM archive_files RETURNING ref').pluck();
    this.deleteOldFileRows = db.prepare<[number], number>('DELETE FROM archive_files WHERE stored_at < ? RETURNING ref').pluck();
    this.deletePurgeableFileRows = db
      .prepare<[{ cutoff: number }], number>(
        `DELETE FROM archive_files WHERE ref IN (SELECT ref FROM messages WHERE ${purgeable}) RETURNING ref`,
      )
      .pluck();
    // A run that never ended (crashed) ages by its start; runs still going in this process stay.
    this.deleteOldRuns = db.prepare<[{ cutoff: number; active: string }]>(
      `DELETE FROM runs WHERE coalesce(ended_at, started_at) < @cutoff
         AND id NOT IN (SELECT value FROM json_each(@active))`,
    );

    this.purgeTx = db.transaction(
      (retentionDays: number, ledgerDays: number, activeRuns: readonly number[], preview: boolean): { result: PurgeResult; fileRefs: number[] } => {
        const now = context.now();
        const rawCutoff = now - retentionDays * DAY_MS;
        let rawDeleted = retentionDays === 0 ? this.deleteAllRaw.run().changes : this.deleteOldRaw.run(rawCutoff).changes;
        const oldFiles = retentionDays === 0 ? this.deleteAllFileRows.all() : this.deleteOldFileRows.all(rawCutoff);
        const cutoff = now - ledgerDays * DAY_MS;
        rawDeleted += this.deletePurgeableRaw.run({ cutoff }).changes;
        const fileRefs = oldFiles.concat(this.deletePurgeableFileRows.all({ cutoff }));
        rawDeleted += fileRefs.length;
        const rowsDeleted = this.deletePurgeableRows.run({ cutoff }).changes;
        const runsDeleted = this.deleteOldRuns.run({ cutoff, active: JSON.stringify(activeRuns) }).changes;
        if (preview) throw new PreviewRollback({ rawDeleted, rowsDeleted, runsDeleted });
        return { result: { rawDeleted, rowsDeleted, runsDeleted }, fileRefs };
      },
    );
  }

  /** `activeRuns`: runs this process has begun and not ended, kept whatever their age. */
  purge(options: PurgeOptions, activeRuns: readonly number[]): PurgeResult {
    const retentionDays = checkDays('retentionDays', options.retentionDays);
    const ledgerDays = checkDays('ledgerDays', options.ledgerDays);
    const { result, fileRefs } = this.purgeTx.immediate(retentionDays, ledgerDays, activeRuns, false);
    // After the commit, never before: a rolled-back purge must still find every file it kept.
    this.files.remove(fileRefs);
    // Give freed pages back to the file system (auto_vacuum = INCREMENTAL); cheap when none are free.
    this.context.db.exec('PRAGMA incremental_vacuum');
    return result;
  }

  /**
   * What `purge` would delete now, counted by the same statements in a transaction that is
   * rolled back: nothing changes, no archive file is removed.
   */
  preview(options: PurgeOptions, activeRuns: readonly number[]): PurgeResult {
    const retentionDays = checkDays('retentionDays', options.retentionDays);
    const ledgerDays = checkDays('ledgerDays', options.ledgerDays);
    try {
      this.purgeTx.immediate(retentionDays, ledgerDays, activeRuns, true);
    } catch (error) {
      if (error instanceof PreviewRollback) return error.result;
      throw error;
    }
    throw new Error('purge preview: the transaction was not rolled back');
  }
}

function checkDays(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`purge: ${name} must be 0 or more days, got ${value}`);
  return value;
}
