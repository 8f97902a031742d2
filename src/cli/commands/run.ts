import { loadConfig } from '../../config/load.js';
import { selectAccounts } from '../../config/select.js';
import type { ExitCode } from '../../errors.js';
import { runOnce } from '../../poll/run.js';
import { insecureTlsWarnings } from '../insecure-tls.js';
import { createOutput } from '../output.js';
import { createProgressLine, wantsProgress } from '../progress-line.js';
import { openCliStore, openDryRunCliStore } from '../store.js';
import { recordedCommandLine } from '../command-line.js';
import { joinAccountsTable, refusedAccount } from '../accounts-table.js';

export interface RunCommandOptions {
  config?: string | undefined;
  store?: string | undefined;
  account?: string[] | undefined;
  script?: string | undefined;
  json?: boolean | undefined;
  dryRun?: boolean | undefined;
  limit?: number | undefined;
  first?: boolean | undefined;
  quiet?: boolean | undefined;
  verbose?: boolean | undefined;
  /** `mailpoll baseline`: record what is there as skipped, hand nothing over. */
  baseline?: boolean | undefined;
}

/** `mailpoll [run]`: one cycle over the selected accounts. */
export async function runCommand(options: RunCommandOptions, signal: AbortSignal): Promise<ExitCode> {
  const progress = wantsProgress(options, process.stderr) ? createProgressLine(process.stderr) : undefined;
  const output = createOutput({ ...options, around: progress?.around });
  const config = await loadConfig({ configFile: options.config, accounts: options.account, script: options.script, store: options.store });
  // An unknown name stops the run before the store is opened, unless it may be a row of the accounts table.
  if (config.accountsTable === undefined) selectAccounts(config, options.account);
  const location = { store: options.store, config };
  const store = options.dryRun ? await openDryRunCliStore(location) : await openCliStore(location);
  try {
    const table = await joinAccountsTable(config, store, options.account);
    const accounts = selectAccounts(config, options.account);
    for (const line of insecureTlsWarnings(accounts)) output.err(line);
    const result = await runOnce({
      refused: table?.refused.map(refusedAccount),
      accounts,
      reporter: output.reporter,
      store,
      retention: { retentionDays: config.retentionDays, ledgerDays: config.ledgerDays },
      command: recordedCommandLine(),
      dryRun: options.dryRun ?? false,
      limit: options.limit,
      first: options.first,
      baseline: options.baseline,
      signal,
      logger: output.logger,
      progress,
    });
    return result.exitCode;
  } finally {
    progress?.close();
    await store.close();
  }
}
