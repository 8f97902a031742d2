/**
 * One event type for everything a run reports. The text and NDJSON reporters both
 * render these; the NDJSON form is the documented machine interface (README).
 */
import type { Action, Protocol } from '../domain.js';

/** `quarantined`: failed `maxAttempts` times (or too large): skipped by later runs until `mailpoll retry`. */
export type MessageStatus = 'ok' | 'failed' | 'dry-run' | 'quarantined';

/** One message's fate. */
export interface MessageEvent {
  type: 'message';
  /** The store's number for this message (`mailpoll show REF`); null under --dry-run. */
  ref: number | null;
  account: string;
  protocol: Protocol;
  folder: string;
  uid: string;
  messageId: string | null;
  from: string | null;
  subject: string | null;
  /** ISO 8601. */
  date: string | null;
  size: number;
  /** The action taken (or, under --dry-run, that would have been; for a failure, none: `keep`). */
  action: Action;
  moveTo: string | null;
  /** Flags and keywords the Decision set besides its action (`$Processed`), in the result's words; empty when none. */
  flags: string[];
  /** Flags and keywords it cleared. */
  unflags: string[];
  /** Where it left a copy; null when none. */
  copyTo: string | null;
  transition: boolean;
  status: MessageStatus;
  error: string | null;
  /**
   * Stable code of `error`, null when the message is ok: `E_HANDLER_THREW`, `E_HANDLER_TIMEOUT`,
   * `E_INVALID_RESULT`, `E_PARSE`, `E_ACTION_REFUSED`, `E_TOO_LARGE`; `E_CONNECTION` or
   * `E_TIMEOUT` when the link was lost before the server answered the action (README, "Error codes").
   */
  code: string | null;
  /** A Decision recorded by an interrupted run, carried out now without calling the handler. */
  recovered: boolean;
  /** deleteAfter: a message kept that long is deleted now (`action` delete), without the handler. */
  expired: boolean;
  durationMs: number;
}

/** One account's result at the end of its cycle. */
export interface AccountEvent {
  type: 'account';
  account: string;
  /** null for a refused row of the accounts table (README, "Accounts in the database"). */
  protocol: Protocol | null;
  /** `busy`: another mailpoll process is working on this account; skipped (not an error). */
  status: 'ok' | 'error' | 'busy';
  /** Messages whose source was downloaded. */
  fetched: number;
  /** Messages handled and disposed of (or, under --dry-run, handled). */
  processed: number;
  failed: number;
  transitions: number;
  /** Failed messages left alone this time: their next attempt (`retryDelay`) is not due yet. */
  deferred: number;
  /** When the first of the deferred messages is tried again (ISO 8601); null when none is deferred. */
  nextAttemptAt: string | null;
  /** The account's quarantined messages in the store (all of them, not only this run's). */
  quarantined: number;
  /** The command that releases them (`mailpoll retry --account support`); null when there are none. */
  retry: string | null;
  error: string | null;
  /** Stable code of `error` (E_AUTH, E_TLS, ...). */
  code: string | null;
  durationMs: number;
}

/** A baseline was taken (`startFrom` on a first run, `mailpoll baseline`): what was there is recorded as skipped. */
export interface BaselineEvent {
  type: 'baseline';
  account: string;
  protocol: Protocol;
  /** The folder as the server names it (the Maildir path; POP3: INBOX). */
  folder: string;
  /** Messages recorded as skipped now (already known ones are left as they are). */
  recorded: number;
  /** Always 0: a baseline hands nothing over. */
  handled: 0;
}

/** `mailpoll check`: one account's connection test. */
export interface CheckEvent {
  type: 'check';
  account: string;
  protocol: Protocol;
  server: string | null;
  folder: string | null;
  total: number | null;
  unseen: number | null;
  /** Total size in bytes, where the server reports it (POP3 STAT). */
  bytes: number | null;
  /** The account's quarantined messages in the store; null when there is no store yet. */
  quarantined: number | null;
  /** The command that releases them; null when there are none. */
  retry: string | null;
  status: 'ok' | 'error';
  error: string | null;
  code: string | null;
  durationMs: number;
  /** The server's certificate, when the connection used TLS; null otherwise. */
  certificate: CheckCertificate | null;
}

/** What `check` shows of a server certificate (its text comes from the server: escaped on output). */
export interface CheckCertificate {
  subject: string;
  issuer: string;
  /** ISO time it expires. */
  validTo: string;
  /** Whole days until it expires (negative: expired). */
  expiresInDays: number;
  /** `sha256/<base64>`, as `tlsFingerprint` takes it. */
  fingerprint: string;
  /** The TLS version negotiated, e.g. `TLSv1.3`. */
  protocol: string | null;
}

/** The last line of a run. */
export interface SummaryEvent {
  type: 'summary';
  accounts: number;
  accountsFailed: number;
  /** The failed accounts by the code of their error, e.g. `{"E_AUTH": 1, "E_STORE": 1}`. */
  accountsFailedBy: Record<string, number>;
  fetched: number;
  processed: number;
  failed: number;
  transitions: number;
  /** Failed messages left alone until their next attempt is due, over all accounts. */
  deferred: number;
  /** Quarantined messages of the accounts that ran, in the store. */
  quarantined: number;
  /** The command that releases them; null when there are none. */
  retry: string | null;
  dryRun: boolean;
  exitCode: number;
  durationMs: number;
}

/** Watch mode: one account's cycle (the heartbeat for supervisors). */
export interface CycleEvent {
  type: 'cycle';
  account: string;
  protocol: Protocol;
  status: 'ok' | 'error' | 'busy';
  fetched: number;
  processed: number;
  failed: number;
  transitions: number;
  deferred: number;
  nextAttemptAt: string | null;
  quarantined: number;
  retry: string | null;
  error: string | null;
  code: string | null;
  durationMs: number;
  /** The connection stays open, waiting for new mail (IMAP IDLE). */
  idle: boolean;
  /**
   * Why the account polls (`idle: false`, `nextAt` set) although its config asks for IDLE,
   * e.g. `the server has no IDLE`; null otherwise.
   */
  fallback: string | null;
  /** When the next cycle starts (ISO 8601); null when the account waits in IDLE or stops. */
  nextAt: string | null;
}

/** Watch mode: a wait before reconnecting (doubling up to the cap), or giving up on an account. */
export interface BackoffEvent {
  type: 'backoff';
  account: string;
  /** Consecutive failed attempts so far. */
  attempt: number;
  /** Milliseconds until the next attempt; 0 when giving up. */
  waitMs: number;
  nextAt: string | null;
  giveUp: boolean;
  /** Why the last attempt failed. */
  error: string | null;
  code: string | null;
}

/** Watch mode: the loop started, reloaded its config, or stopped (and why). */
export interface WatchEvent {
  type: 'watch';
  state: 'started' | 'reloaded' | 'stopped';
  accounts: number;
  /** Why it stopped or what was reloaded, in words. */
  reason: string | null;
  exitCode: number | null;
}

/**
 * Watch mode on a shared store (PostgreSQL): this worker started with its share of the accounts,
 * took one over, handed one back, lost one to another worker, or could not reach the store.
 */
export interface WorkerEvent {
  type: 'worker';
  /** `changed`: the account's settings changed, its loop restarted with them; `refused`: a row of the accounts table that cannot be used (`reason` says why). */
  state: 'started' | 'took' | 'released' | 'lost' | 'unreachable' | 'stopped' | 'changed' | 'refused';
  /** This worker's id in the store (`mailpoll workers`). */
  worker: string;
  /** The account concerned; null for the worker as a whole. */
  account: string | null;
  /** Accounts this worker holds after the change. */
  held: number;
  /** Accounts configured (every worker has the same list). */
  accounts: number;
  /** Live workers last counted, this one included; null when not known. */
  liveWorkers: number | null;
  /** Why, in words (`above the fair share of 10`, the store's error ...); null when plain. */
  reason: string | null;
}

export type ReportEvent = MessageEvent | AccountEvent | BaselineEvent | CheckEvent | SummaryEvent | CycleEvent | BackoffEvent | WatchEvent | WorkerEvent;

/** Where events go. `text.ts` and `json.ts` implement it. */
export interface Reporter {
  report(event: ReportEvent): void;
}
