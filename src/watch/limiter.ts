/**
 * How many accounts are worked on at once: at most `concurrency` in all and at most
 * `maxPerHost` against the same server host. A promise queue, no timers.
 */

export interface LimiterOptions {
  /** Works running at once, in all: an integer >= 1, or Infinity for no limit. */
  concurrency: number;
  /** Works running at once for the same host: an integer >= 1, or Infinity for no limit. */
  maxPerHost: number;
}

export interface Limiter {
  /**
   * Run `work` as soon as a slot is free, overall and for `host` (`undefined`: no per-host
   * limit, e.g. a Maildir), and settle as it does. The slot is freed when `work` settles,
   * rejected or not (a synchronous throw counts as a rejection), before the caller resumes.
   *
   * Waiting works start first come, first served: when a slot frees, the longest-waiting
   * work that may run now starts. A work whose host is at its limit does not hold up works
   * for other hosts queued behind it; it keeps its place for when its host has a free slot.
   */
  run<T>(host: string | undefined, work: () => Promise<T>): Promise<T>;
  /**
   * A slot taken now, without waiting, when one is free for `host` and no waiting work could
   * use it: the function that gives it back (once; later calls do nothing), else undefined.
   * For something short-lived that must count against the same limit (a second connection).
   */
  tryAcquire(host: string | undefined): (() => void) | undefined;
  /** Works running now. */
  readonly active: number;
  /** Works waiting for a slot. */
  readonly pending: number;
}

interface Waiter {
  host: string | undefined;
  start: () => void;
}

export function createLimiter(options: LimiterOptions): Limiter {
  const concurrency = checkLimit('concurrency', options.concurrency);
  const maxPerHost = checkLimit('maxPerHost', options.maxPerHost);
  const queue: Waiter[] = [];
  const perHost = new Map<string, number>();
  let active = 0;

  const fits = (host: string | undefined) => active < concurrency && (host === undefined || (perHost.get(host) ?? 0) < maxPerHost);

  const take = (host: string | undefined) => {
    active += 1;
    if (host !== undefined) perHost.set(host, (perHost.get(host) ?? 0) + 1);
  };

  const release = (host: string | undefined) => {
    active -= 1;
    if (host !== undefined) {
      const left = (perHost.get(host) ?? 1) - 1;
      if (left === 0) perHost.delete(host);
      else perHost.set(host, left);
    }
    // The oldest waiters that fit now, in order (a start may queue more: re-read the length).
    for (let index = 0; index < queue.length && active < concurrency; ) {
      const waiter = queue[index]!;
      if (!fits(waiter.host)) {
        index += 1;
        continue;
      }
      queue.splice(index, 1);
      take(waiter.host);
      waiter.start();
    }
  };

  return {
    run<T>(host: string | undefined, work: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const start = () => {
          let running: Promise<T>;
          try {
            running = Promise.resolve(work());
          } catch (error) {
            running = Promise.reject(error);
          }
          running.then(
            (value) => {
              release(host);
              resolve(value);
            },
            (error: unknown) => {
              release(host);
              reject(error);
            },
          );
        };
        // Whatever waits cannot run now (else it would have been started), so a work that
        // fits overtakes no one who could.
        if (fits(host)) {
          take(host);
          start();
        } else {
          queue.push({ host, start });
        }
      });
    },
    tryAcquire(host: string | undefined): (() => void) | undefined {
      // Whatever waits could not run now (see run), so a free slot that fits takes it from no one.
      if (!fits(host)) return undefined;
      take(host);
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        release(host);
      };
    },
    get active() {
      return active;
    },
    get pending() {
      return queue.length;
    },
  };
}

function checkLimit(name: string, value: number): number {
  if (value === Number.POSITIVE_INFINITY || (Number.isInteger(value) && value >= 1)) return value;
  throw new RangeError(`createLimiter: ${name} must be an integer >= 1 or Infinity, got ${value}`);
}
