/**
 * Our errors from what a POP3 server answers or the connection reports: what leaves the POP3
 * adapter is an AuthError, ConnectionError, TlsError, TimeoutError, MailboxError or
 * ConfigError with a one-line message.
 */
import { AuthError, ConnectionError, MailboxError, MailpollError, TimeoutError, describeError } from '../../errors.js';
import { greetingProtocol, oneLine, sentence, type ConnectionGuard } from '../connection-utils.js';
import { describeNetworkError, errorCode, wrongProtocolError } from '../net-errors.js';
import { Pop3ClosedError, Pop3GreetingError, Pop3ProtocolError } from './connection.js';

export const TLS_ALTERNATIVES = "Use tls: implicit with the server's TLS port (usually 995), or tls: none (insecure).";

/** Server text made safe for a message: one line, the password masked, in case a server echoes it. */
export function cleanLine(guard: ConnectionGuard, text: string): string {
  return oneLine(guard.clean(text));
}

/** `-ERR` to USER or PASS. RFC 2449/3206 codes tell a locked or broken mailbox from bad credentials. */
export function loginRefused(guard: ConnectionGuard, text: string): MailpollError {
  const { name, where } = guard;
  const said = sentence(cleanLine(guard, text) || '-ERR');
  if (/^\[IN-USE\]/i.test(text)) {
    return new ConnectionError(`${name} (${where}): the mailbox is in use by another session: ${said} Try again later.`, { account: name });
  }
  if (/^\[SYS\//i.test(text)) {
    return new ConnectionError(`${name} (${where}): the server cannot open the mailbox now: ${said} Try again later.`, { account: name });
  }
  const check = guard.account.auth === 'oauth2' ? 'that the access token grants mail access (scope)' : 'password';
  return new AuthError(`${name} (${where}): login failed: ${said} Check user/login and ${check}.`, { account: name });
}

/** The server answered `-ERR text` to `command` while doing `what`. */
export function refused(guard: ConnectionGuard, command: string, what: string, text: string): MailboxError {
  return new MailboxError(`${guard.name} (${guard.where}): ${what} failed: the server refused ${command}: ${sentence(cleanLine(guard, text) || '-ERR')}`, {
    account: guard.name,
  });
}

/** Any failure as one of our errors, in one line; `during` says what was being done. */
export function describePop3Error(guard: ConnectionGuard, error: unknown, during: string): MailpollError {
  return guard.describe(error, () => shapeError(guard, error, during));
}

function shapeError(guard: ConnectionGuard, error: unknown, during: string): MailpollError {
  const { name, where, host, port } = guard;
  const options = { account: name, cause: error };
  const network = describeNetworkError(error, { account: name, host, port });
  if (network) return network;
  if (error instanceof Pop3ClosedError) {
    const reason = error.serverText ? `: ${cleanLine(guard, error.serverText)}` : '';
    const stage = during === 'connect' ? 'before it greeted' : `while ${during}`;
    const fix = during === 'connect' ? 'Check port and tls:.' : 'Try again later.';
    return new ConnectionError(`${name}: connection to ${where} closed ${error.byClient ? 'by mailpoll' : 'by the server'} ${stage}${reason}. ${fix}`, options);
  }
  if (error instanceof Pop3GreetingError) {
    const first = Buffer.from(error.line, 'latin1');
    const spoken = greetingProtocol(first);
    if (spoken !== undefined && spoken !== 'pop3') return wrongProtocolError(spoken, 'pop3', first, { account: name, host, port });
  }
  if (error instanceof Pop3ProtocolError) {
    return new ConnectionError(`${name} (${where}): not a POP3 answer while ${during} (${cleanLine(guard, error.message)}). Check port and tls:.`, options);
  }
  return new MailboxError(`${name} (${where}): ${during} failed: ${sentence(cleanLine(guard, oneLine(describeError(error))))}`, options);
}

/** Why a connection is closed, as the end of a sentence. */
export function closedReason(error: unknown): string {
  if (error instanceof TimeoutError) return 'the connection was ended after a timeout';
  if (error instanceof Pop3ClosedError) {
    if (error.byClient) return 'the connection was already ended';
    return `the server closed the connection${error.serverText ? ` (${oneLine(error.serverText)})` : ''}`;
  }
  const code = errorCode(error);
  return `the connection failed (${code ?? oneLine(describeError(error))})`;
}
