import { ExitCode } from '../../errors.js';
import { createOutput } from '../output.js';
import { loadConfigIfAny, openCliStore } from '../store.js';

export interface PurgeCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  json?: boolean | undefined;
}

/** `mailpoll purge`: apply retention now (every run also does this at its start). */
export async function purgeCommand(options: PurgeCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const config = await loadConfigIfAny(options.config);
  const store = await openCliStore({ store: options.store, config });
  try {
    const retention = { retentionDays: config?.retentionDays ?? 7, ledgerDays: config?.ledgerDays ?? 90 };
    const result = store.purge(retention);
    if (options.json) output.out(JSON.stringify({ type: 'purge', ...retention, ...result }));
    else {
      output.out(
        `purged ${result.rawDeleted} raw cop${result.rawDeleted === 1 ? 'y' : 'ies'} (older than ${retention.retentionDays} days), ` +
          `${result.rowsDeleted} ledger row${result.rowsDeleted === 1 ? '' : 's'} and ${result.runsDeleted} run${result.runsDeleted === 1 ? '' : 's'} (older than ${retention.ledgerDays} days) from ${store.path}`,
      );
    }
    return ExitCode.ok;
  } finally {
    store.close();
  }
}
