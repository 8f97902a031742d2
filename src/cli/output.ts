/**
 * Where the CLI writes. stdout carries the report only; everything else (handler logs,
 * --verbose, errors) goes to stderr. Every line passes through `redact`, so a password
 * that slipped into an error text from a server or a library never reaches a terminal or a log,
 * and through `escapeControls`, so text from mail or a server cannot drive the terminal.
 */
import { capErrorText } from '../errors.js';
import type { Logger } from '../logger.js';
import { redact } from '../redact.js';
import { createJsonReporter } from '../report/json.js';
import { escapeControls, escapeLines } from '../report/sanitize.js';
import { createTextReporter, shouldColor } from '../report/text.js';
import type { Reporter, ReportEvent } from '../report/types.js';

export interface Output {
  reporter: Reporter;
  /** A report line on stdout (any line break or control character in it is escaped). */
  out: (line: string) => void;
  /** A diagnostic line on stderr (any line break or control character in it is escaped). */
  err: (line: string) => void;
  /** A multi-line diagnostic on stderr (handler logs): its line breaks kept, other controls escaped. */
  lines: (text: string) => void;
  /**
   * What the run, the watch, check and the adapters log: `debug` a --verbose line on stderr
   * (absent without --verbose), `info` a handler's `context.log` text (as `lines`).
   */
  logger: Logger;
}

export interface OutputOptions {
  json?: boolean | undefined;
  quiet?: boolean | undefined;
  verbose?: boolean | undefined;
}

export function createOutput(options: OutputOptions): Output {
  const out = (line: string): void => {
    process.stdout.write(`${escapeControls(redact(line))}\n`);
  };
  const err = (line: string): void => {
    process.stderr.write(`${escapeControls(redact(line))}\n`);
  };
  const lines = (text: string): void => {
    process.stderr.write(`${escapeLines(redact(text))}\n`);
  };
  // Protocol logs and stack traces are several lines.
  const logger: Logger = { debug: options.verbose ? (text: string) => lines(`debug: ${text}`) : undefined, info: lines };
  const reporter = options.json
    ? createJsonReporter(out)
    : createTextReporter({
        // The text reporter escapes the events' fields itself, before colouring them.
        write: (line) => process.stdout.write(`${redact(line)}\n`),
        color: shouldColor(process.stdout),
        quiet: options.quiet,
      });
  return { reporter: withCappedErrors(reporter, logger), out, err, lines, logger };
}

/** Error texts over 4 KB are cut in the report; the full text goes to stderr under --verbose. */
function withCappedErrors(reporter: Reporter, logger: Logger): Reporter {
  return {
    report(event: ReportEvent): void {
      if (!('error' in event) || event.error === null) return reporter.report(event);
      const error = capErrorText(event.error);
      if (error !== event.error) logger.debug?.(`the full error text cut in the report below: ${event.error}`);
      reporter.report({ ...event, error });
    },
  };
}
