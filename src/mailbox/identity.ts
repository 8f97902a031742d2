/**
 * What the ledger and the leases know a mailbox by: its protocol, login, host and folder
 * (IMAP), or its absolute path (Maildir). Never the account's name (two configs may name two
 * mailboxes alike; a renamed account is the same mailbox) and never a secret.
 *
 *   imap://alice@mail.example.com/INBOX    pop3://alice@mail.example.com    maildir:///home/a/Maildir
 *
 * The port is left out on purpose: one mailbox is reached on 143 (STARTTLS) or 993 (TLS), or
 * through a tunnel or proxy, and changing that must not hand its mail over again. Two servers
 * on one host that differ only by port, with one login, would share a key: the UIDVALIDITY in
 * IMAP keys and the byte comparison of the fallback (cycle.ts) keep their messages apart.
 * The login is percent-encoded (`bob%40example.com`); the host is lower-cased; `inbox` in any
 * case is INBOX, as IMAP says.
 */
import path from 'node:path';
import type { AccountConfig } from '../config/types.js';

export function mailboxIdentity(account: AccountConfig): string {
  if (account.protocol === 'maildir') return `maildir://${path.resolve(account.path ?? '')}`;
  const login = encodeURIComponent(account.login ?? account.user ?? '');
  const server = `${account.protocol}://${login}@${(account.host ?? '').toLowerCase()}`;
  if (account.protocol === 'pop3') return server;
  // `folders:`: the account's lease covers all its folders; each folder's cycle keys its ledger rows by its own folder.
  if (account.folders !== undefined) return `${server}/*`;
  const folder = account.folder.toUpperCase() === 'INBOX' ? 'INBOX' : account.folder;
  return `${server}/${folder}`;
}

/** The account (with `folder` set) whose cycle wrote `identity`: itself, or for `folders:` the one folder's account; undefined: another mailbox. */
export function accountOfIdentity(account: AccountConfig, identity: string): AccountConfig | undefined {
  if (account.folders === undefined) return mailboxIdentity(account) === identity ? account : undefined;
  const server = mailboxIdentity(account).slice(0, -1);
  if (!identity.startsWith(server)) return undefined;
  return { ...account, folder: identity.slice(server.length), folders: undefined };
}

/** How `history` and `show` name where a message came from; rows of an older store did not record it. */
export function describeIdentity(identity: string): string {
  if (identity.startsWith('legacy:')) return 'server not recorded (older store)';
  return identity;
}
