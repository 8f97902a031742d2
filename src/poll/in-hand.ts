/**
 * How many messages are in their handlers right now, in this process. The first SIGINT or
 * SIGTERM says "stopping after the message in hand" only when there is one; between messages
 * (waiting for the next cycle, logging in) mailpoll just stops.
 */
import type { LoadedHandler } from '../handler/types.js';

let inHand = 0;

export function messagesInHand(): number {
  return inHand;
}

/** `loaded` with its handler counted in `messagesInHand` while it runs, whatever its end. */
export function countInHand(loaded: LoadedHandler): LoadedHandler {
  const { fn } = loaded;
  return {
    ...loaded,
    fn: async (mailMessage, context) => {
      inHand += 1;
      try {
        return await fn(mailMessage, context);
      } finally {
        inHand -= 1;
      }
    },
  };
}
