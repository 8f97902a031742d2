/**
 * imapflow's error shapes, kept in here: what leaves the IMAP adapter is an AuthError,
 * ConnectionError, TlsError, TimeoutError or MailboxError with a one-line message. Also the
 * server's NO answers that imapflow reports only through its logger (`ServerAnswers`).
 */
import { formatDuration } from '../../duration.js';
import { AuthError, ConnectionError, MailboxError, MailpollError, TimeoutError, TlsError, describeError } from '../../errors.js';
import { NO_GREETING_HINT, oneLine, sentence, type ConnectionGuard } from '../connection-utils.js';
import { describeNetworkError, errorCode } from '../net-errors.js';

/** imapflow codes for a connection that went away without a socket error. */
const CLOSED_CODES = new Set(['NoConnection', 'EConnectionClosed', 'ClosedAfterConnectText', 'ClosedAfterConnectTLS', 'StateLogout']);
const TIMEOUT_CODES = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ETIMEOUT']);

/** The fields of imapflow's errors we read (see ImapFlowError in imapflow's errors.d.ts). */
interface ImapFlowErrorFields {
  code?: string | undefined;
  authenticationFailed?: boolean | undefined;
  tlsFailed?: boolean | undefined;
  mailboxMissing?: boolean | undefined;
  responseStatus?: string | undefined;
  responseText?: string | undefined;
  serverResponseCode?: string | undefined;
  response?: unknown;
  reason?: string | undefined;
  command?: string | undefined;
}

/** The server's answer to a failed command, e.g. `[AUTHENTICATIONFAILED] Authentication failed.` */
export function serverText(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const fields = error as ImapFlowErrorFields;
  // `response` is the tagged line once imapflow has enhanced the error: `2 NO [CODE] text`.
  if (typeof fields.response === 'string' && fields.response.trim() !== '') {
    return oneLine(fields.response.replace(/^\S+\s+(?:NO|BAD)\s+/i, ''));
  }
  if (fields.responseText) {
    const code = fields.serverResponseCode ? `[${fields.serverResponseCode}] ` : '';
    return oneLine(`${code}${fields.responseText}`);
  }
  return undefined;
}

/** What the server answered to a failed command, else the error's own text; cleaned. */
export function said(guard: ConnectionGuard, error: unknown): string {
  return guard.clean(serverText(error) ?? oneLine(describeError(error)));
}

/** The server refused `command` while doing `what`; `answer`: the error imapflow logged for it, when there is one. */
export function refused(guard: ConnectionGuard, command: string, what: string, answer?: unknown): MailboxError {
  const text = answer ? serverText(answer) : undefined;
  const why = text ? `: ${sentence(guard.clean(text))}` : ' (the verbose log has its answer).';
  return new MailboxError(`${guard.name} (${guard.where}): ${what} failed: the server refused ${command}${why}`, {
    account: guard.name,
    cause: answer,
  });
}

/** `requireAuth: false`, but the server asked for a login (no PREAUTH greeting). */
export function notPreauthenticated(guard: ConnectionGuard, cause: unknown): AuthError {
  return new AuthError(
    `${guard.name} (${guard.where}): the server did not pre-authenticate the session (no PREAUTH greeting), and requireAuth is false. Set a password source and remove requireAuth: false.`,
    { account: guard.name, cause },
  );
}

/** Any failure as one of our errors, in one line; `during` says what was being done. */
export function describeImapError(guard: ConnectionGuard, error: unknown, during: string): MailpollError {
  return guard.describe(error, () => shapeError(guard, error, during));
}

function shapeError(guard: ConnectionGuard, error: unknown, during: string): MailpollError {
  const { name, where, account } = guard;
  const options = { account: name, cause: error };
  const fields = (error && typeof error === 'object' ? error : {}) as ImapFlowErrorFields;
  const code = errorCode(error);

  if (fields.authenticationFailed) {
    const user = account.login ?? account.user ?? '';
    const answer = sentence(guard.clean(serverText(error) ?? 'authentication failed'));
    const check = account.auth === 'oauth2' ? 'that the access token grants mail access (scope)' : 'password';
    return new AuthError(`${name} (${where}): login failed: ${answer} Check user/login (${user}) and ${check}.`, options);
  }
  const network = describeNetworkError(error, { account: name, host: guard.host, port: guard.port });
  if (network) return network;
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    const hint = code === 'GREETING_TIMEOUT' && account.tls !== 'implicit' ? NO_GREETING_HINT : '';
    return new TimeoutError(`${name}: connecting to ${where} timed out after ${formatDuration(account.connectTimeout)}${hint}. Check host, port and tls:.`, options);
  }
  if (fields.tlsFailed) {
    const text = guard.clean(oneLine(describeError(error)));
    if (/STARTTLS/i.test(text)) {
      const why = /does not support STARTTLS/i.test(text) ? 'the server does not offer STARTTLS' : `STARTTLS is not possible (${text})`;
      return new TlsError(`${name} (${where}): ${why}. Use tls: implicit with the server's TLS port, or tls: none (insecure).`, options);
    }
    return new TlsError(`${name} (${where}): TLS failed (${text}). Check tls: and port.`, options);
  }
  if (fields.mailboxMissing || code === 'NotFound' || fields.serverResponseCode === 'NONEXISTENT') {
    return new MailboxError(`${name}: folder does not exist on ${where} (${said(guard, error)}). Check folder: and moveTo:.`, options);
  }
  if (code !== undefined && CLOSED_CODES.has(code)) {
    const reason = fields.reason ? `: ${guard.clean(fields.reason)}` : '';
    const stage = during === 'connect' ? 'before login' : `while ${during}`;
    const fix = during === 'connect' ? 'Check port and tls:.' : 'Try again later.';
    return new ConnectionError(`${name}: connection to ${where} closed by the server ${stage}${reason}. ${fix}`, options);
  }
  if (fields.responseStatus === 'NO' || fields.responseStatus === 'BAD') {
    const command = fields.command ? `${fields.command} ` : '';
    return new MailboxError(`${name} (${where}): ${command}failed while ${during}: ${sentence(said(guard, error))}`, options);
  }
  return new MailboxError(`${name} (${where}): ${during} failed: ${sentence(said(guard, error))}`, options);
}

/**
 * The NO answers imapflow reported through its logger: those it turned into failures (the
 * last one is kept for the error message) and those it turned into success (any NO with
 * "Some of the requested messages no longer exist", whatever the command).
 */
export class ServerAnswers {
  #count = 0;
  #last: unknown;

  constructor(private readonly guard: ConnectionGuard) {}

  /** An imapflow logger warning: counted when it carries a NO. */
  noteWarning(entry: unknown): void {
    const err = entry && typeof entry === 'object' ? (entry as { err?: unknown }).err : undefined;
    if (err && typeof err === 'object' && (err as ImapFlowErrorFields).responseStatus === 'NO') {
      this.#count += 1;
      this.#last = err;
    }
  }

  /**
   * One disposition command through imapflow, which answers true/false (or a result object)
   * and keeps the server's NO to itself: false becomes a refusal with the server's answer,
   * and an "OK" that imapflow made of a NO a failure too, since the server may not have
   * carried the command out for the messages that are still there.
   */
  async exact(command: string, what: string, run: () => Promise<unknown>): Promise<void> {
    const before = this.#count;
    this.#last = undefined;
    const result = await run();
    const { guard } = this;
    if (!result) throw refused(guard, command, what, this.#last);
    if (this.#count !== before) {
      const answer = this.#last ? ` (${sentence(said(guard, this.#last))})` : '';
      throw new MailboxError(`${guard.name} (${guard.where}): ${what} failed: the server did not carry out ${command} for every message${answer}`, {
        account: guard.name,
        cause: this.#last,
      });
    }
  }
}
