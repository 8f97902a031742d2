/**
 * The bridge from imapflow's logger to mailpoll's verbose log: one text line per protocol
 * line or event, credentials removed. imapflow reports a command's NO only as a warning, so
 * warnings also reach the adapter's bookkeeping (`ServerAnswers`).
 */
import type { Logger as ImapFlowLogger } from 'imapflow';
import { logDebug, type Logger } from '../../logger.js';
import { oneLine } from '../connection-utils.js';

/** What a protocol trace shows instead of a line's credentials (LOGIN, AUTHENTICATE, SASL continuations). */
const CREDENTIALS_HIDDEN = '(* credentials hidden *)';

/**
 * imapflow's logger. Warnings go to `onWarning` (imapflow reports a command's NO only
 * there); with a `trace` logger (the adapter's, which masks the password in case a server
 * echoes it), every entry also becomes a text line for the verbose log. imapflow already
 * masks the password; this also drops every credential-carrying line. Without a trace
 * imapflow is told that only warnings are wanted.
 */
export function createLogger(trace: Logger | undefined, onWarning: (entry: unknown) => void): ImapFlowLogger {
  const sink = trace?.debug;
  const write = (level: string) => (entry: unknown) => {
    if (!sink) return;
    const line = formatLogEntry(level, entry);
    if (line !== undefined) logDebug(trace, line);
  };
  const warn = write('warn');
  const logger: ImapFlowLogger & { isLevelEnabled(level: string): boolean } = {
    trace: write('trace'),
    debug: write('debug'),
    info: write('info'),
    warn: (entry: unknown) => {
      try {
        onWarning(entry);
      } catch {
        // Bookkeeping only: it must not break the IMAP session.
      }
      warn(entry);
    },
    error: write('error'),
    fatal: write('fatal'),
    isLevelEnabled: (level) => sink !== undefined || level === 'warn',
  };
  return logger;
}

function formatLogEntry(level: string, entry: unknown): string | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  const { src, msg, comment, err } = entry as { src?: unknown; msg?: unknown; comment?: unknown; err?: unknown };
  let text = typeof msg === 'string' ? msg : '';
  if (src === 'c') {
    // SASL continuation lines (imapflow labels them with a comment) carry credentials. The
    // other commented lines are IDLE's DONE and imapflow's NOOP: those are shown.
    if (comment !== undefined && !/^(?:DONE|\S+ NOOP)$/i.test(text)) return `C: ${CREDENTIALS_HIDDEN}`;
    text = redactLogin(text);
  }
  const detail = err instanceof Error ? err.message : '';
  const body = [text, detail].filter(Boolean).join(': ');
  if (body === '') return undefined;
  const prefix = src === 'c' ? 'C: ' : src === 's' ? 'S: ' : `${level}: `;
  return prefix + oneLine(body);
}

/** `2 LOGIN "ann" "pw"` -> `2 LOGIN (* credentials hidden *)`; AUTHENTICATE keeps its mechanism. */
export function redactLogin(line: string): string {
  const match = /^(\S+\s+)(LOGIN|AUTHENTICATE)(?:\s+(\S+))?(\s.*)?$/i.exec(line);
  if (!match) return line;
  const [, tag, command, first, rest] = match;
  if (command!.toUpperCase() === 'LOGIN') return `${tag}${command} ${CREDENTIALS_HIDDEN}`;
  return `${tag}${command}${first ? ` ${first}` : ''}${rest ? ` ${CREDENTIALS_HIDDEN}` : ''}`;
}
