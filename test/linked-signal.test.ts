import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { linkSignals } from '../src/poll/linked-signal.js';

describe('linkSignals', () => {
  it('aborts when any source aborts, with that source\'s reason', () => {
    const watch = new AbortController();
    const lease = new AbortController();
    const linked = linkSignals(watch.signal, undefined, lease.signal);
    assert.equal(linked.signal.aborted, false);
    lease.abort(new Error('taken over'));
    assert.equal(linked.signal.aborted, true);
    assert.equal((linked.signal.reason as Error).message, 'taken over');
    // The other source is let go once one has fired.
    assert.equal(getEventListeners(watch.signal, 'abort').length, 0);
  });

  it('lets go of a long-lived source on unlink: no listener stays behind, a later abort does not reach it', () => {
    const watch = new AbortController();
    for (let session = 0; session < 1_000; session++) {
      const linked = linkSignals(watch.signal, new AbortController().signal);
      linked.unlink();
    }
    assert.equal(getEventListeners(watch.signal, 'abort').length, 0);
    const last = linkSignals(watch.signal);
    last.unlink();
    watch.abort();
    assert.equal(last.signal.aborted, false);
  });

  it('is aborted at once when a source already is', () => {
    const stopped = AbortSignal.abort('stopping');
    const linked = linkSignals(new AbortController().signal, stopped);
    assert.equal(linked.signal.aborted, true);
    assert.equal(linked.signal.reason, 'stopping');
  });
});
