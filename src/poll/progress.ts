/**
 * What a cycle says about its work while it goes, for a live progress line (the CLI's
 * `cli/progress-line.ts`): how many messages it has for the handler, and each one back from
 * it. Kept out of the cycle's story: the cycle announces the total, `countHandled` wraps its
 * handler invoker, and the run says when the account is over.
 */
import type { HandlerInvoker } from '../handler/invoke.js';

export interface CycleProgress {
  /** `account`'s cycle has `total` messages to hand to the handler. */
  start(account: string, total: number): void;
  /** One of them came back from its handler, whatever the outcome. */
  handled(account: string): void;
  /** `account`'s cycle is over (also when it failed or stopped early). */
  end(account: string): void;
}

/** `invoker` with each call, whatever its end, told to `progress` as handled. */
export function countHandled(invoker: HandlerInvoker, progress: CycleProgress | undefined, account: string): HandlerInvoker {
  if (!progress) return invoker;
  return {
    ...invoker,
    invoke: async (...args) => {
      try {
        return await invoker.invoke(...args);
      } finally {
        progress.handled(account);
      }
    },
  };
}
