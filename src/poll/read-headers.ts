/**
 * What the ledger and the report record of a fetched message, before any handler sees it:
 * its header fields, fingerprint and source hash. Where the handler is a module, its worker
 * thread parses the message, so this thread reads only the fields it records
 * (message/header-fields.ts); a handler in this thread (a command, a webhook, a function)
 * gets the header-only parse made here.
 */
import type { AccountConfig } from '../config/types.js';
import type { LoadedHandler, MailMessage } from '../handler/types.js';
import type { FetchedMessage } from '../mailbox/types.js';
import { readHeaderFields } from '../message/header-fields.js';
import { parseMessage } from '../message/parse.js';
import { fingerprint } from '../store/fingerprint.js';
import type { MessageMeta } from '../store/types.js';
import { metaOf, sentDateOf } from './message-meta.js';
import { sourceHash } from './source-hash.js';

/** A fetched message with what the ledger records of it, read from its header block. */
export interface Received {
  message: FetchedMessage;
  /** The header-only parse (what a `parse = 'headers'` handler in this thread receives); none for a module's worker. */
  headers: MailMessage | undefined;
  /** Set when the header block could not be parsed: the message fails with it instead of reaching its handler. */
  unreadable: { error: unknown } | undefined;
  meta: MessageMeta & { size: number };
  print: string | null;
  /** sha256 of the source as downloaded: what proves it is a message already handled. */
  rawHash: string;
}

export async function readHeaders(account: Pick<AccountConfig, 'name' | 'folder'>, handler: LoadedHandler, message: FetchedMessage): Promise<Received> {
  const rawHash = sourceHash(message);
  try {
    // A module's worker parses the message itself (handler/invoke.ts).
    const inWorker = handler.module !== undefined;
    const headers = inWorker ? undefined : await parseMessage(message, { account: account.name, folder: account.folder, headersOnly: true });
    const fields = headers ?? (await readHeaderFields(message.raw));
    const print = fingerprint({ messageId: fields.messageId, sentDate: sentDateOf(fields), size: message.size });
    return { message, headers, unreadable: undefined, meta: metaOf(fields, message.size), print, rawHash };
  } catch (error) {
    const meta = { messageId: null, sender: null, subject: null, date: null, size: message.size };
    // The worker's own parse says what is wrong with a message the reader could not read.
    const unreadable = handler.module === undefined ? { error } : undefined;
    return { message, headers: undefined, unreadable, meta, print: null, rawHash };
  }
}
