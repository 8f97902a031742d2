/**
 * The human report: one line per message, one per account, a summary. The only module
 * that imports chalk. Colour only on a TTY, never with NO_COLOR or FORCE_COLOR=0 (chalk's own
 * detection ignores NO_COLOR, so the level is decided here). Control and bidi characters in the
 * events' text are shown escaped (`sanitize.ts`).
 */
import { describeExtras } from '../domain.js';
import { Chalk, type ChalkInstance } from 'chalk';
import { escapeControls, escapeFields } from './sanitize.js';
import type { AccountEvent, BackoffEvent, CheckCertificate, CheckEvent, CycleEvent, MessageEvent, Reporter, ReportEvent, SummaryEvent, WatchEvent, WorkerEvent } from './types.js';

export interface TextReporterOptions {
  /** Where lines go (stdout). Each call is one line without its newline. */
  write: (line: string) => void;
  /** Use colours. Decide with `shouldColor`. */
  color: boolean;
  /** Only failures and errors, and the summary when something failed. */
  quiet?: boolean | undefined;
  /** Message lines show the server's uid beside the ref. */
  verbose?: boolean | undefined;
}

/** Colour when writing to a terminal, unless NO_COLOR is set or FORCE_COLOR is 0/false; any other FORCE_COLOR forces it. */
export function shouldColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force === '0' || force === 'false') return false;
  if (force !== undefined) return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

const SUBJECT_WIDTH = 50;

export function createTextReporter(options: TextReporterOptions): Reporter {
  const c = new Chalk({ level: options.color ? 1 : 0 });
  const quiet = options.quiet ?? false;
  const verbose = options.verbose ?? false;
  return {
    report(event: ReportEvent): void {
      // Fields from mail and servers are escaped before styling adds its own escape codes.
      const line = formatEvent(escapeFields(event), c, quiet, verbose);
      if (line !== undefined) options.write(line);
    },
  };
}

function formatEvent(event: ReportEvent, c: ChalkInstance, quiet: boolean, verbose: boolean): string | undefined {
  switch (event.type) {
    case 'message':
      // Quiet keeps what needs a person: failures, and the quarantine they end in.
      if (quiet && event.status !== 'failed' && event.status !== 'quarantined') return undefined;
      return formatMessage(event, c, verbose);
    case 'account':
      if (quiet && event.status !== 'error' && event.failed === 0 && event.quarantined === 0) return undefined;
      return formatAccount(event, c);
    case 'baseline':
      return `${c.bold(event.account)}: baseline: ${event.recorded.toLocaleString('en-US')} message${event.recorded === 1 ? '' : 's'} recorded, none handled`;
    case 'check':
      return formatCheck(event, c);
    case 'summary':
      if (quiet && event.exitCode === 0) return undefined;
      return formatSummary(event, c);
    case 'cycle':
      return formatCycle(event, c, quiet);
    case 'backoff':
      return formatBackoff(event, c);
    case 'watch':
      return formatWatch(event, c);
    case 'worker':
      return formatWorker(event, c);
  }
}

/**
 * Long-running logs stay quiet: a cycle line only when something happened. A failed cycle is
 * told once, by the backoff line that always follows it (the error and when the next attempt is).
 */
function formatCycle(event: CycleEvent, c: ChalkInstance, quiet: boolean): string | undefined {
  const eventful = event.status === 'busy' || event.fetched > 0 || event.failed > 0;
  if (event.status === 'error' || !eventful || (quiet && event.status === 'ok' && event.failed === 0)) return undefined;
  if (event.status === 'busy') return c.yellow(event.error ?? `${event.account}: busy`);
  const next = event.idle ? 'waiting for new mail (IDLE)' : event.nextAt === null ? '' : `next ${clock(event.nextAt)}`;
  const counts = `${event.fetched} fetched, ${event.processed} processed, ${event.failed} failed${formatWaiting(event, c)}`;
  return `${c.bold(event.account)}: ${counts} ${c.dim(`(${seconds(event.durationMs)})${next ? `; ${next}` : ''}`)}`;
}

function formatBackoff(event: BackoffEvent, c: ChalkInstance): string {
  if (event.giveUp) {
    const error = event.error?.replace(`last error: ${event.account}: `, 'last error: ') ?? null;
    return accountError(event.account, error, c, (text) => c.red(`giving up: ${text}`), 'never connected');
  }
  const wait = formatWait(event.waitMs);
  return `${accountError(event.account, event.error, c, (text) => `${c.yellow(`attempt ${event.attempt} failed`)}: ${text}`, '')} ${c.dim(`(next attempt in ${wait}${event.nextAt ? ` at ${clock(event.nextAt)}` : ''})`)}`;
}

function formatWatch(event: WatchEvent, c: ChalkInstance): string {
  const accounts = `${event.accounts} account${event.accounts === 1 ? '' : 's'}`;
  if (event.state === 'started') return c.dim(`mailpoll: watching ${accounts}${event.reason ? ` (${event.reason})` : ''}`);
  if (event.state === 'reloaded') return c.dim(`mailpoll: config reloaded: ${accounts}${event.reason ? ` (${event.reason})` : ''}`);
  return `mailpoll: stopped: ${event.reason ?? 'done'} ${c.dim(`(exit ${event.exitCode ?? 0})`)}`;
}

function formatWorker(event: WorkerEvent, c: ChalkInstance): string {
  const workers = event.liveWorkers === null ? '' : `, ${event.liveWorkers} live worker${event.liveWorkers === 1 ? '' : 's'}`;
  const holds = c.dim(`(holds ${event.held} of ${event.accounts}${workers})`);
  const why = event.reason === null ? '' : `: ${event.reason}`;
  const account = c.bold(event.account ?? '');
  switch (event.state) {
    case 'started':
      return `mailpoll: worker ${event.worker} holds ${event.held} of ${event.accounts} account${event.accounts === 1 ? '' : 's'}${workers}`;
    case 'took':
      return `${account}: taken over by this worker${why} ${holds}`;
    case 'released':
      return `${account}: handed back${why} ${holds}`;
    case 'lost':
      return `${account}: ${c.yellow('lease lost')}${why} ${holds}`;
    case 'unreachable':
      return `mailpoll: worker ${event.worker}: ${c.yellow('the store did not answer the heartbeat')}${why}`;
    case 'stopped':
      return c.dim(`mailpoll: worker ${event.worker} stopped and gave its accounts back${why}`);
    case 'changed':
      return `${account}: settings changed${why} ${holds}`;
    case 'refused':
      return `${account}: ${c.red('not worked on')}${why}`;
  }
}

/**
 * `account: error`, the account named once: errors name their account so that they stand alone
 * in logs and NDJSON (`support: cannot connect ...`, `support (imap.example.com:993): login
 * failed ...`), and the text line names it first already. `paint` colours the error's text.
 */
function accountError(account: string, error: string | null, c: ChalkInstance, paint: (text: string) => string, fallback = 'failed'): string {
  const text = error ?? fallback;
  if (text.startsWith(`${account}: `)) return `${c.bold(account)}: ${paint(text.slice(account.length + 2))}`;
  const where = text.startsWith(`${account} (`) ? text.indexOf('): ') : -1;
  if (where > 0) return `${c.bold(account)}${text.slice(account.length, where + 1)}: ${paint(text.slice(where + 3))}`;
  return `${c.bold(account)}: ${paint(text)}`;
}

function clock(iso: string): string {
  return new Date(iso).toTimeString().slice(0, 8);
}

function formatWait(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

function formatMessage(event: MessageEvent, c: ChalkInstance, verbose: boolean): string {
  const from = event.from ?? '(no sender)';
  const subject = event.subject === null ? '(no subject)' : `"${shorten(event.subject, SUBJECT_WIDTH)}"`;
  const action = event.action === 'move' ? `move:${event.moveTo ?? ''}` : event.action;
  const parts = [c.bold(event.account)];
  // The ref is what `mailpoll show` and `mailpoll retry` take; the server's uid is a detail for -v.
  if (event.ref !== null) parts.push(c.dim(`ref:${event.ref}`));
  if (verbose) parts.push(c.dim(`uid:${event.uid}`));
  parts.push(from, subject);
  if (event.status === 'failed' || event.status === 'quarantined') {
    parts.push(c.red(`${event.status}: ${event.error ?? 'unknown error'}`));
    return parts.join(' ');
  }
  parts.push(action, ...describeExtras({ flags: event.flags, unflags: event.unflags, copyTo: event.copyTo ?? undefined }));
  if (event.transition) parts.push('+transition');
  parts.push(event.status === 'dry-run' ? c.yellow('dry-run') : c.green('ok'));
  if (event.recovered) parts.push(c.dim('(decision recorded by an interrupted run, applied now)'));
  if (event.expired) parts.push(c.dim('(kept for deleteAfter, deleted now)'));
  return parts.join(' ');
}

function formatAccount(event: AccountEvent, c: ChalkInstance): string {
  const took = c.dim(`(${seconds(event.durationMs)})`);
  if (event.status === 'busy') return c.yellow(event.error ?? `${event.account}: busy`);
  if (event.status === 'error') {
    const counts = event.fetched > 0 ? ` after ${formatCounts(event)}` : '';
    return `${accountError(event.account, event.error, c, c.red)}${counts} ${took}`;
  }
  const text = `${c.bold(event.account)}: ${formatCounts(event)}${formatWaiting(event, c)} ${took}`;
  return event.failed > 0 ? c.yellow(text) : text;
}

/**
 * What waits in the store besides this cycle's work: `; 2 deferred (next attempt 14:05:00);
 * 3 quarantined: mailpoll retry --account support`. Nothing when nothing waits.
 */
function formatWaiting(event: Pick<AccountEvent, 'deferred' | 'nextAttemptAt' | 'quarantined' | 'retry'>, c: ChalkInstance): string {
  let text = '';
  if (event.deferred > 0) text += `; ${event.deferred} deferred${event.nextAttemptAt ? ` (next attempt ${clock(event.nextAttemptAt)})` : ''}`;
  if (event.quarantined > 0) text += `; ${c.red(`${event.quarantined} quarantined`)}${event.retry ? `: ${event.retry}` : ''}`;
  return text;
}

function formatCounts(event: AccountEvent): string {
  const parts = [`${event.fetched} fetched`, `${event.processed} processed`, `${event.failed} failed`];
  if (event.transitions > 0) parts.push(`${event.transitions} transition${event.transitions === 1 ? '' : 's'}`);
  return parts.join(', ');
}

function formatCheck(event: CheckEvent, c: ChalkInstance): string {
  const where = [event.protocol, event.server, event.folder].filter((part) => part !== null).join(' ');
  if (event.status === 'error') return accountError(event.account, event.error, c, c.red);
  const unseen = event.unseen === null ? '' : `, ${event.unseen} unseen`;
  const size = event.bytes === null ? '' : `, ${(event.bytes / 1024 / 1024).toFixed(1)} MB`;
  const quarantined = event.quarantined ? `; ${c.red(`${event.quarantined} quarantined`)}${event.retry ? `: ${event.retry}` : ''}` : '';
  const line = `${c.bold(event.account)}: ${where}: ${event.total ?? 0} messages${unseen}${size} ${c.green('ok')}${quarantined} ${c.dim(`(${seconds(event.durationMs)})`)}`;
  return event.certificate === null ? line : `${line}\n${formatCertificate(event.certificate, c)}`;
}

/** Days before expiry from which `check` warns. */
export const CERTIFICATE_WARNING_DAYS = 14;

/** The certificate lines under a check line; a warning when it expires within 14 days. */
function formatCertificate(certificate: CheckCertificate, c: ChalkInstance): string {
  const days = certificate.expiresInDays;
  const expires = `expires ${certificate.validTo.slice(0, 10)}`;
  const lines = [
    `  certificate: ${escapeControls(certificate.subject)}, issued by ${escapeControls(certificate.issuer)}, ${expires}${certificate.protocol ? `, ${escapeControls(certificate.protocol)}` : ''}`,
    `  tlsFingerprint: ${certificate.fingerprint}`,
  ];
  if (days < 0) lines.push(`  ${c.red(`warning: the certificate expired ${-days} day${days === -1 ? '' : 's'} ago`)}`);
  else if (days <= CERTIFICATE_WARNING_DAYS) lines.push(`  ${c.yellow(`warning: the certificate expires in ${days} day${days === 1 ? '' : 's'}; renew it before then`)}`);
  return lines.join('\n');
}

function formatSummary(event: SummaryEvent, c: ChalkInstance): string {
  const parts = [`${event.accounts} account${event.accounts === 1 ? '' : 's'}`];
  for (const [code, count] of Object.entries(event.accountsFailedBy)) parts.push(c.red(`${count} ${FAILED_BECAUSE[code] ?? 'account error'}`));
  parts.push(`${event.processed} processed`);
  if (event.failed > 0) parts.push(c.red(`${event.failed} failed`));
  if (event.transitions > 0) parts.push(`${event.transitions} transition${event.transitions === 1 ? '' : 's'}`);
  if (event.deferred > 0) parts.push(`${event.deferred} deferred`);
  if (event.quarantined > 0) parts.push(`${c.red(`${event.quarantined} quarantined`)}${event.retry ? `: ${event.retry}` : ''}`);
  const mode = event.dryRun ? c.yellow(' (dry run: nothing changed)') : '';
  return `mailpoll: ${parts.join(', ')}${mode} ${c.dim(`(${seconds(event.durationMs)}, exit ${event.exitCode})`)}`;
}

/** Why accounts failed, in the summary's words, by error code. */
const FAILED_BECAUSE: Readonly<Record<string, string>> = {
  E_AUTH: 'failed to log in',
  E_CONNECTION: 'unreachable',
  E_TLS: 'TLS failure',
  E_TIMEOUT: 'timed out',
  E_MAILBOX: 'mailbox error',
  E_CONFIG: 'config error',
  E_STORE: 'store error',
  E_INTERNAL: 'internal error',
};

function seconds(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** Single line, at most `width` characters, an ellipsis when cut. */
export function shorten(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= width ? flat : `${flat.slice(0, width - 1)}…`;
}
