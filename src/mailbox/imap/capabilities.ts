/** What the server offers, tested the way imapflow tests it before it picks a command. */
import type { ImapFlow } from 'imapflow';

/** IMAP4rev2 is in use: it folds IDLE, MOVE and UIDPLUS into the base protocol. */
function speaksRev2(client: ImapFlow): boolean {
  return client.enabled.has('IMAP4REV2') || (client.capabilities.has('IMAP4rev2') && !client.capabilities.has('IMAP4rev1'));
}

/** The server offers IDLE: advertised, or part of IMAP4rev2 when that is in use. */
export function hasIdle(client: ImapFlow): boolean {
  return client.capabilities.has('IDLE') || speaksRev2(client);
}

/** The server offers `capability` (MOVE, UIDPLUS): advertised, or folded into IMAP4rev2 when that is in use. */
export function offers(client: ImapFlow, capability: 'MOVE' | 'UIDPLUS'): boolean {
  return client.capabilities.has(capability) || speaksRev2(client);
}
