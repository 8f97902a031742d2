import { CONFIG_DEFAULTS } from '../../config/defaults.js';
import { ExitCode } from '../../errors.js';
import type { PurgeResult } from '../../store/types.js';
import { createOutput } from '../output.js';
import { withCliStore } from '../store.js';

export interface PurgeCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  json?: boolean | undefined;
  /** Count what would be deleted; delete nothing. */
  dryRun?: boolean | undefined;
  timestamps?: boolean | undefined;
}

/** `mailpoll purge`: apply retention now (every run also does this at its start); `--dry-run` only counts. */
export async function purgeCommand(options: PurgeCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const dryRun = options.dryRun ?? false;
  return withCliStore(options, async (store, config) => {
    // Without a config file: the same defaults a config would have.
    const retention = { retentionDays: config?.retentionDays ?? CONFIG_DEFAULTS.retentionDays, ledgerDays: config?.ledgerDays ?? CONFIG_DEFAULTS.ledgerDays };
    const result = dryRun ? await store.previewPurge(retention) : await store.purge(retention);
    if (options.json) output.json('purge', { ...retention, ...result, dryRun });
    else output.out(describePurge(result, retention, store.path, dryRun));
    return ExitCode.ok;
  });
}

function describePurge(result: PurgeResult, retention: { retentionDays: number; ledgerDays: number }, path: string, dryRun: boolean): string {
  const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
  const what =
    `${plural(result.rawDeleted, 'raw copy', 'raw copies')} (older than ${retention.retentionDays} days), ` +
    `${plural(result.rowsDeleted, 'ledger row', 'ledger rows')} and ${plural(result.runsDeleted, 'run', 'runs')} (older than ${retention.ledgerDays} days)`;
  return dryRun ? `would purge ${what} from ${path} (dry run: nothing deleted)` : `purged ${what} from ${path}`;
}
