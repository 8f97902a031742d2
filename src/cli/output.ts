/**
 * Where the CLI writes. stdout carries the report only; everything else (handler logs,
 * --verbose, errors) goes to stderr. Every line passes through `redact`, so a password
 * that slipped into an error text from a server or a library never reaches a terminal or a log.
 */
import { redact } from '../config/secrets.js';
import { createJsonReporter } from '../report/json.js';
import { createTextReporter, shouldColor } from '../report/text.js';
import type { Reporter } from '../report/types.js';

export interface Output {
  reporter: Reporter;
  /** A report line on stdout. */
  out: (line: string) => void;
  /** A diagnostic line on stderr. */
  err: (line: string) => void;
  /** A --verbose line on stderr (no-op without --verbose). */
  debug: ((line: string) => void) | undefined;
}

export interface OutputOptions {
  json?: boolean | undefined;
  quiet?: boolean | undefined;
  verbose?: boolean | undefined;
}

export function createOutput(options: OutputOptions): Output {
  const out = (line: string): void => {
    process.stdout.write(`${redact(line)}\n`);
  };
  const err = (line: string): void => {
    process.stderr.write(`${redact(line)}\n`);
  };
  const reporter = options.json
    ? createJsonReporter(out)
    : createTextReporter({ write: out, color: shouldColor(process.stdout), quiet: options.quiet });
  return { reporter, out, err, debug: options.verbose ? (line) => err(`debug: ${line}`) : undefined };
}
