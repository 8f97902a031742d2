/**
 * The handler stage of a batch: messages go to their handlers in mailbox order, up to the
 * account's `handlerConcurrency` at once (README, "Handlers side by side"). Each message's
 * `work` records its `handled` row as soon as its own handler answered, so a crash repeats at
 * most `limit` handlers; the server actions wait for the whole stage.
 */

/**
 * Runs `work(item, index)` for each item, starting them in order, at most `limit` at once.
 * `stop()` is asked before each start. An error thrown by `work` (the store failing, a module
 * that no longer loads) starts no more and is thrown once the running ones have ended.
 * `ahead(item)` is told the item that must wait for a free place, when one does: its handler's
 * worker can parse it meanwhile (handler/worker/pool.ts).
 */
export async function handleInOrder<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
  stop: () => boolean,
  ahead?: (item: T) => void,
): Promise<void> {
  const running = new Set<Promise<void>>();
  let failed: { error: unknown } | undefined;
  for (const [index, item] of items.entries()) {
    if (running.size >= limit) await Promise.race(running);
    if (failed !== undefined || stop()) break;
    const task: Promise<void> = work(item, index)
      .catch((error: unknown) => {
        failed ??= { error };
      })
      .finally(() => running.delete(task));
    running.add(task);
    const next = items[index + 1];
    if (ahead !== undefined && next !== undefined && running.size >= limit) ahead(next);
  }
  await Promise.all(running);
  if (failed !== undefined) throw failed.error;
}
