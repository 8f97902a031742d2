/** `defineHandler`: a typed handler without spelling out its types. */
import type { Handler } from './types.js';

/**
 * Returns `handler` as it is. Written around a handler (`export default defineHandler(async
 * (mailMessage, context) => ...)`), it gives the parameters their types and checks the result,
 * in TypeScript and in a JavaScript editor alike.
 */
export function defineHandler<T extends Handler>(handler: T): T {
  return handler;
}
