/**
 * `mailpoll check`: connect, log in and open the folder of each account, report its
 * counts. Changes nothing. A CI smoke check: the exit code is 3 if any account fails.
 */
import type { AccountConfig } from '../config/types.js';
import { describeError, ExitCode, MailpollError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createMailbox } from '../mailbox/open.js';
import type { CheckEvent, Reporter } from '../report/types.js';
import { retryCommand } from './account.js';

export interface CheckOptions {
  accounts: AccountConfig[];
  reporter: Reporter;
  /** Its `debug` gets the protocol log (--verbose). */
  logger?: Logger | undefined;
  /** The account's quarantined messages in the store; absent when there is no store yet. */
  quarantined?: ((account: AccountConfig) => Promise<number>) | undefined;
  now?: () => number;
}

const DAY = 24 * 60 * 60 * 1000;

export async function checkAccounts(options: CheckOptions): Promise<ExitCode> {
  const now = options.now ?? Date.now;
  let exitCode: ExitCode = ExitCode.ok;
  for (const account of options.accounts) {
    const started = now();
    const event: CheckEvent = {
      type: 'check',
      account: account.name,
      protocol: account.protocol,
      server: account.protocol === 'maildir' ? null : `${account.host ?? ''}:${account.port ?? ''}`,
      folder: null,
      total: null,
      unseen: null,
      bytes: null,
      quarantined: (await options.quarantined?.(account)) ?? null,
      retry: null,
      status: 'ok',
      error: null,
      code: null,
      durationMs: 0,
      certificate: null,
    };
    if (event.quarantined !== null && event.quarantined > 0) event.retry = retryCommand([account.name]);
    let mailbox: Awaited<ReturnType<typeof createMailbox>> | undefined;
    try {
      mailbox = await createMailbox(account, { logger: options.logger });
      const status = await mailbox.open();
      event.folder = status.folder;
      event.total = status.total;
      event.unseen = status.unseen ?? null;
      event.bytes = status.bytes ?? null;
      if (status.certificate) {
        const { subject, issuer, validTo, fingerprint, protocol } = status.certificate;
        const expiresInDays = Math.floor((Date.parse(validTo) - now()) / DAY);
        event.certificate = { subject, issuer, validTo, fingerprint, protocol: protocol ?? null, expiresInDays };
      }
    } catch (error) {
      event.status = 'error';
      event.error = describeError(error);
      event.code = error instanceof MailpollError ? error.code : null;
      exitCode = ExitCode.accountFailed;
    } finally {
      await mailbox?.close().catch(() => undefined);
    }
    event.durationMs = now() - started;
    options.reporter.report(event);
  }
  return exitCode;
}
