/**
 * Where the CLI writes. stdout carries the report only; everything else (handler logs,
 * --verbose, errors) goes to stderr. Every line passes through `redact`, so a password
 * that slipped into an error text from a server or a library never reaches a terminal or a log,
 * and through `escapeControls`, so text from mail or a server cannot drive the terminal.
 * Log lines carry the time they were written (`timestamps.ts`): NDJSON as a `time` field, text
 * as an ISO prefix where the stream is not a terminal, or with --timestamps.
 */
import { capErrorText } from '../errors.js';
import type { Logger } from '../logger.js';
import { redact } from '../redact.js';
import { createJsonReporter } from '../report/json.js';
import { escapeControls, escapeLines } from '../report/sanitize.js';
import { createTextReporter, shouldColor } from '../report/text.js';
import type { Reporter, ReportEvent } from '../report/types.js';
import { isoTime, outputClock, stampLines, wantsTimestamps } from './timestamps.js';

export interface Output {
  reporter: Reporter;
  /** A report line on stdout (any line break or control character in it is escaped), time-stamped like the report. */
  out: (line: string) => void;
  /** A line of a document on stdout (validate's config, show, history's listing): never time-stamped. */
  print: (line: string) => void;
  /** One NDJSON line on stdout: `{type, time, ...fields}`; `time` given, else now. */
  json: (type: string, fields: object, time?: string) => void;
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
  /** --timestamps (true), --no-timestamps (false); undefined: where the stream is not a terminal. */
  timestamps?: boolean | undefined;
  /** Every write goes through it: a live progress line (`progress-line.ts`) steps out of the way. */
  around?: ((write: () => void) => void) | undefined;
}

export function createOutput(options: OutputOptions): Output {
  const now = outputClock();
  const stampOut = wantsTimestamps(options.timestamps, process.stdout) ? (text: string) => stampLines(text, now) : (text: string) => text;
  const stampErr = wantsTimestamps(options.timestamps, process.stderr) ? (text: string) => stampLines(text, now) : (text: string) => text;
  const around = options.around ?? ((write: () => void) => write());
  const toStdout = (text: string): void => around(() => process.stdout.write(text));
  const toStderr = (text: string): void => around(() => process.stderr.write(text));
  const print = (line: string): void => {
    toStdout(`${escapeControls(redact(line))}\n`);
  };
  const out = (line: string): void => {
    toStdout(`${stampOut(escapeControls(redact(line)))}\n`);
  };
  const json = (type: string, fields: object, time = isoTime(now())): void => print(JSON.stringify({ type, time, ...fields }));
  const err = (line: string): void => {
    toStderr(`${stampErr(escapeControls(redact(line)))}\n`);
  };
  const lines = (text: string): void => {
    toStderr(`${stampErr(escapeLines(redact(text)))}\n`);
  };
  // Protocol logs and stack traces are several lines.
  const logger: Logger = { debug: options.verbose ? (text: string) => lines(`debug: ${text}`) : undefined, info: lines, warn: (line) => err(`mailpoll: ${line}`) };
  const reporter = options.json
    ? createJsonReporter(print, now)
    : createTextReporter({
        // The text reporter escapes the events' fields itself, before colouring them.
        write: (line) => toStdout(`${stampOut(redact(line))}\n`),
        color: shouldColor(process.stdout),
        quiet: options.quiet,
        verbose: options.verbose,
      });
  return { reporter: withCappedErrors(reporter, logger), out, print, json, err, lines, logger };
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
