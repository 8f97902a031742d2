/**
 * protocol -> adapter. Adapters are imported lazily so that a Maildir-only run never
 * loads imapflow (cold start matters: cron runs mailpoll every minute).
 */
import type { AccountConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { ExtraConnection } from './connection-utils.js';
import { retryRefusedToken } from './oauth2-login.js';
import type { Mailbox } from './types.js';

export interface CreateMailboxOptions {
  /** Its `debug` gets the protocol log (stderr under --verbose). */
  logger?: Logger | undefined;
  /** Warnings that are not failures (Maildir: a non-file skipped). Default: the logger's `warn`, else stderr. */
  warn?: ((line: string) => void) | undefined;
  /** IMAP and POP3: asked before a session opens a second connection to its host (`ExtraConnection`). Default: no limit. */
  extraConnection?: ExtraConnection | undefined;
}

export async function createMailbox(account: AccountConfig, options: CreateMailboxOptions = {}): Promise<Mailbox> {
  const mailbox = await createAdapter(account, options);
  return account.auth === 'oauth2' ? retryRefusedToken(mailbox, account) : mailbox;
}

async function createAdapter(account: AccountConfig, options: CreateMailboxOptions): Promise<Mailbox> {
  switch (account.protocol) {
    case 'imap': {
      const { createImapMailbox } = await import('./imap/mailbox.js');
      return createImapMailbox(account, { logger: options.logger, extraConnection: options.extraConnection });
    }
    case 'maildir': {
      const { createMaildirMailbox } = await import('./maildir.js');
      return createMaildirMailbox(account, { warn: options.warn ?? options.logger?.warn, log: options.logger?.debug });
    }
    case 'pop3': {
      const { createPop3Mailbox } = await import('./pop3/mailbox.js');
      return createPop3Mailbox(account, { logger: options.logger, extraConnection: options.extraConnection });
    }
  }
}
