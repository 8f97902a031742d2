/** Small tools for tests that drive a mailbox adapter directly (imap, pop3, maildir). */
import assert from 'node:assert/strict';
import type { FetchedMessage, Mailbox } from '../../src/mailbox/types.js';

/** Every message a fetch streams. */
export async function collect(iterable: AsyncIterable<FetchedMessage>): Promise<FetchedMessage[]> {
  const result: FetchedMessage[] = [];
  for await (const item of iterable) result.push(item);
  return result;
}

/** The error `promise` rejects with; the test fails if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail('expected a rejection');
}

/** The error `open()` fails with; the mailbox is closed afterwards either way. */
export async function openError(mailbox: Mailbox): Promise<Error> {
  try {
    return await rejection(mailbox.open());
  } finally {
    await mailbox.close();
  }
}
