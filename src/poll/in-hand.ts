/**
 * How many messages are in their handlers right now, in this process. The first SIGINT or
 * SIGTERM says "stopping after the message in hand" only when there is one; between messages
 * (waiting for the next cycle, logging in) mailpoll just stops.
 */
import type { HandlerInvoker } from '../handler/invoke.js';

let inHand = 0;

export function messagesInHand(): number {
  return inHand;
}

/** `invoker` with each call counted in `messagesInHand` while it runs, whatever its end. */
export function countInHand(invoker: HandlerInvoker): HandlerInvoker {
  return {
    ...invoker,
    invoke: async (...args) => {
      inHand += 1;
      try {
        return await invoker.invoke(...args);
      } finally {
        inHand -= 1;
      }
    },
  };
}
