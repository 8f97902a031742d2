import type { Candidate } from '../mailbox/types.js';

export interface BatchLimits {
  /** At most this many messages per batch. */
  maxCount: number;
  /** At most this many bytes of message source per batch (a larger single message is a batch of its own). */
  maxBytes: number;
}

/**
 * Cut candidates into consecutive batches. Bodies of one batch are held in memory
 * together, so both the count and the summed size are bounded.
 */
export function* batchCandidates(candidates: readonly Candidate[], limits: BatchLimits): Generator<Candidate[]> {
  let batch: Candidate[] = [];
  let bytes = 0;
  for (const candidate of candidates) {
    const size = candidate.size ?? 0;
    if (batch.length > 0 && (batch.length >= limits.maxCount || bytes + size > limits.maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(candidate);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}
