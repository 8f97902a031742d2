/**
 * What the ledger and the leases know a mailbox by: its protocol, login, host, port and
 * folder (IMAP), or its absolute path (Maildir). Never the account's name (two configs may
 * name two mailboxes alike; a renamed account is the same mailbox) and never a secret.
 *
 *   imap://alice@127.0.0.1:993/INBOX    pop3://alice@mail.example.com:995    maildir:///home/a/Maildir
 *
 * The login is percent-encoded (`bob%40example.com`); the host is lower-cased; a port left
 * out is the one the adapter would use; `inbox` in any case is INBOX, as IMAP says.
 */
import path from 'node:path';
import type { AccountConfig } from '../config/types.js';

export function mailboxIdentity(account: AccountConfig): string {
  if (account.protocol === 'maildir') return `maildir://${path.resolve(account.path ?? '')}`;
  const login = encodeURIComponent(account.login ?? account.user ?? '');
  const host = (account.host ?? '').toLowerCase();
  const server = `${account.protocol}://${login}@${host}:${account.port ?? defaultPort(account)}`;
  if (account.protocol === 'pop3') return server;
  const folder = account.folder.toUpperCase() === 'INBOX' ? 'INBOX' : account.folder;
  return `${server}/${folder}`;
}

function defaultPort(account: AccountConfig): number {
  const implicit = account.tls === 'implicit';
  if (account.protocol === 'pop3') return implicit ? 995 : 110;
  return implicit ? 993 : 143;
}

/** How `history` and `show` name where a message came from; rows of an older store did not record it. */
export function describeIdentity(identity: string): string {
  if (identity.startsWith('legacy:')) return 'server not recorded (older store)';
  return identity;
}
