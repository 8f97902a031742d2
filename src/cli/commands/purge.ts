import { CONFIG_DEFAULTS } from '../../config/defaults.js';
import { ExitCode } from '../../errors.js';
import { createOutput } from '../output.js';
import { withCliStore } from '../store.js';

export interface PurgeCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  json?: boolean | undefined;
}

/** `mailpoll purge`: apply retention now (every run also does this at its start). */
export async function purgeCommand(options: PurgeCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  return withCliStore(options, async (store, config) => {
    // Without a config file: the same defaults a config would have.
    const retention = { retentionDays: config?.retentionDays ?? CONFIG_DEFAULTS.retentionDays, ledgerDays: config?.ledgerDays ?? CONFIG_DEFAULTS.ledgerDays };
    const result = store.purge(retention);
    if (options.json) output.out(JSON.stringify({ type: 'purge', ...retention, ...result }));
    else {
      output.out(
        `purged ${result.rawDeleted} raw cop${result.rawDeleted === 1 ? 'y' : 'ies'} (older than ${retention.retentionDays} days), ` +
          `${result.rowsDeleted} ledger row${result.rowsDeleted === 1 ? '' : 's'} and ${result.runsDeleted} run${result.runsDeleted === 1 ? '' : 's'} (older than ${retention.ledgerDays} days) from ${store.path}`,
      );
    }
    return ExitCode.ok;
  });
}
