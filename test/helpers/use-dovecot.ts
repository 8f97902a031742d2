/**
 * The lifecycle every Dovecot test file shares: a private Dovecot started before the file's
 * tests (or the suite's, when called inside `describe`) and stopped after them, together with
 * the TCP relays the tests opened.
 *
 *   const dovecot = useDovecot();
 *   const world = scenario(dovecot);
 *   test('...', async () => { await dovecot.addUser('ann', 'secret'); ... });
 *
 * The returned object stands for the started server: use it inside tests, not at module load
 * (it is not started yet then). Work the tests share (users, mail) goes in `prepare`: it runs
 * once the server is up. A `before` hook of the file's own would not wait for the start, as
 * Node runs the hooks of the top level side by side.
 */
import { after, before } from 'node:test';
import { startDovecot, type Dovecot, type DovecotOptions } from './dovecot.js';
import { closeRelays } from './tcp-relay.js';

export function useDovecot(options: DovecotOptions = {}, prepare?: (dovecot: Dovecot) => Promise<void>): Dovecot {
  let started: Dovecot | undefined;
  before(async () => {
    started = await startDovecot(options);
    await prepare?.(started);
  });
  after(async () => {
    closeRelays();
    await started?.stop();
  });
  return new Proxy({} as Dovecot, {
    get(_target, key) {
      if (started === undefined) throw new Error(`useDovecot(): dovecot.${String(key)} read before the server started (use it inside tests and hooks)`);
      return started[key as keyof Dovecot];
    },
  });
}
