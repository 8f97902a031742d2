/** One logged-in POP3 session as the adapter keeps it, and how it sends commands. */
import type { Listing } from './listing.js';
import type { Pop3Command, Pop3Connection, Pop3Reply } from './connection.js';

/** DELE and TOP commands per write when pipelining. */
export const PIPELINE_BATCH = 256;

export interface Session {
  connection: Pop3Connection;
  /** CAPA after login; undefined when the server has no CAPA. */
  capabilities: Set<string> | undefined;
  pipelining: boolean;
  listing: Listing | undefined;
  /** Message numbers whose DELE was answered +OK (-> their uid): final only at QUIT. */
  deleted: Map<number, string>;
}

/**
 * Send `commands`, pipelined in batches where the server allows, one at a time otherwise,
 * and return their answers in order. A connection failure rejects.
 */
export async function runCommands(session: Session, commands: Pop3Command[]): Promise<Pop3Reply[]> {
  const replies: Pop3Reply[] = [];
  const size = session.pipelining ? PIPELINE_BATCH : 1;
  for (let start = 0; start < commands.length; start += size) {
    for (const reply of session.connection.send(commands.slice(start, start + size))) replies.push(await reply);
  }
  return replies;
}

/** CAPA lines -> their upper-cased first words (`PIPELINING`, `UIDL`, `STLS`, `SASL`...). */
export function parseCapabilities(body: Buffer | undefined): Set<string> {
  const result = new Set<string>();
  for (const line of (body ?? Buffer.alloc(0)).toString('latin1').split(/\r?\n/)) {
    const word = line.trim().split(/\s+/)[0];
    if (word) result.add(word.toUpperCase());
  }
  return result;
}
