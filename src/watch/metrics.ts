/**
 * The watch's Prometheus metrics (`/metrics`), kept in a registry of its own so that nothing
 * else in the process (a handler module that uses prom-client too) adds to or reads them.
 *
 * Fed by the events the watch reports and by lease changes; imported only when `--listen`
 * is used (prom-client is not loaded by a cold `mailpoll run`).
 *
 * Node's process metrics (`process_*`, `nodejs_*`: memory, event loop lag, open files) are
 * registered too: a process meant to run for weeks is watched for exactly those, and they
 * cost one collection per scrape.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ReportEvent } from '../report/types.js';

/** Handler and cycle times, in seconds: from a quick script to a slow webhook or a large first run. */
const HANDLER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const CYCLE_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** `mailpoll_backoff_state`: what each value means. */
export const BACKOFF_STATE = { ok: 0, waiting: 1, gaveUp: 2 } as const;

export interface WatchMetrics {
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>;
  contentType: string;
  observe(event: ReportEvent): void;
  leaseChanged(account: string, held: boolean): void;
}

export function createWatchMetrics(): WatchMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const messages = new Counter({
    name: 'mailpoll_messages_total',
    help: 'Messages handled, by account and outcome (ok, failed, quarantined).',
    labelNames: ['account', 'outcome'],
    registers: [registry],
  });
  const handlerDuration = new Histogram({
    name: 'mailpoll_handler_duration_seconds',
    help: 'Time from handing a message to its handler to its decision.',
    labelNames: ['account'],
    buckets: HANDLER_BUCKETS,
    registers: [registry],
  });
  const cycleDuration = new Histogram({
    name: 'mailpoll_cycle_duration_seconds',
    help: 'Time one cycle of an account took, by its status (ok, error, busy).',
    labelNames: ['account', 'status'],
    buckets: CYCLE_BUCKETS,
    registers: [registry],
  });
  const fetchedBytes = new Counter({
    name: 'mailpoll_fetched_bytes_total',
    help: 'Bytes of message source downloaded, by account.',
    labelNames: ['account'],
    registers: [registry],
  });
  const accountGauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['account'], registers: [registry] });
  const backoffState = accountGauge('mailpoll_backoff_state', 'Reconnect backoff of an account: 0 connected, 1 waiting to reconnect, 2 gave up.');
  const backoffFailures = accountGauge('mailpoll_backoff_failures', 'Failed connection attempts in a row of an account (0 after a successful cycle).');
  const lastSuccess = accountGauge('mailpoll_last_success_timestamp_seconds', 'When the last successful cycle of an account ended (Unix time).');
  const quarantined = accountGauge('mailpoll_quarantined_messages', 'Quarantined messages of an account in the store (until mailpoll retry).');
  const leases = accountGauge('mailpoll_lease_held', 'Whether this process holds the lease of an account (1) or not (0).');

  return {
    render: () => registry.metrics(),
    contentType: registry.contentType,
    observe(event) {
      switch (event.type) {
        case 'message':
          messages.inc({ account: event.account, outcome: event.status });
          // A recovered Decision is carried out without downloading or calling the handler.
          if (event.recovered) return;
          handlerDuration.observe({ account: event.account }, event.durationMs / 1000);
          fetchedBytes.inc({ account: event.account }, event.size);
          return;
        case 'cycle':
          cycleDuration.observe({ account: event.account, status: event.status }, event.durationMs / 1000);
          quarantined.set({ account: event.account }, event.quarantined);
          if (event.status === 'ok') {
            lastSuccess.set({ account: event.account }, Date.now() / 1000);
            backoffState.set({ account: event.account }, BACKOFF_STATE.ok);
            backoffFailures.set({ account: event.account }, 0);
          }
          return;
        case 'backoff':
          backoffState.set({ account: event.account }, event.giveUp ? BACKOFF_STATE.gaveUp : BACKOFF_STATE.waiting);
          backoffFailures.set({ account: event.account }, event.attempt);
          return;
        default:
          return;
      }
    },
    leaseChanged(account, held) {
      leases.set({ account }, held ? 1 : 0);
    },
  };
}
