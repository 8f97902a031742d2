/**
 * Where mailpoll's diagnostics go, passed as `logger` the way imapflow takes one. The CLI
 * builds it from its output (stderr, controls escaped, secrets masked); a library caller
 * may pass its own or none.
 */
export interface Logger {
  /** --verbose lines: protocol traces, stack traces, notes. Absent: not wanted (traces are then not even formatted). */
  debug?: ((line: string) => void) | undefined;
  /** A handler's `context.log` text, each line prefixed `[account] `; may span lines. Absent: stderr. */
  info?: ((text: string) => void) | undefined;
  /** A warning that is no failure (a Maildir entry that is not a message file, skipped). Absent: stderr. */
  warn?: ((line: string) => void) | undefined;
}

/** `line` to `logger.debug`, if wanted. A failing logger must not break the session it logs. */
export function logDebug(logger: Logger | undefined, line: string): void {
  if (!logger?.debug) return;
  try {
    logger.debug(line);
  } catch {
    // the log is only a log
  }
}
