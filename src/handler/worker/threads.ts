/**
 * The handler worker threads of a whole run or `--watch` process: one shared pool per handler
 * module and worker-level settings (dryRun, handlerMemoryLimit), all within one budget of live
 * threads, kept from one cycle to the next and ended by `close()` when the run ends. Memory
 * then follows the budget, not the number of accounts polling at once.
 */
import { availableParallelism } from 'node:os';
import { createSharedPool, createThreadBudget, type HandlerPool, type PoolClient, type SharedPool, type ThreadBudget } from './pool.js';

export interface HandlerThreads {
  /** The pool of `file`'s workers as one account uses it (its `close()` leaves the workers running). */
  poolFor(worker: { file: string; dryRun: boolean; memoryLimit: number }, client: PoolClient): HandlerPool;
  /** Ends every worker; resolves once they are gone. */
  close(): Promise<void>;
}

/**
 * Live handler threads at most: the CPU cores (at least 2), or more when an account asks for
 * more messages at once (`handlerConcurrency`), so that an account alone runs as many as it
 * asks for. Accounts polling at the same time share them.
 */
export function handlerThreadCap(handlerConcurrencies: Iterable<number>): number {
  return Math.max(2, availableParallelism(), ...handlerConcurrencies);
}

export function createHandlerThreads(cap: number): HandlerThreads {
  const budget: ThreadBudget = createThreadBudget(cap);
  const pools = new Map<string, SharedPool>();
  return {
    poolFor: ({ file, dryRun, memoryLimit }, client) => {
      const key = JSON.stringify([file, dryRun, memoryLimit]);
      let pool = pools.get(key);
      if (pool === undefined) {
        pool = createSharedPool({ file, dryRun }, memoryLimit, budget);
        pools.set(key, pool);
      }
      return pool.client(client);
    },
    close: async () => {
      const closing = [...pools.values()].map((pool) => pool.close());
      pools.clear();
      await Promise.all(closing);
    },
  };
}
