/**
 * The command line a run records (`history` shows it, from any store, to anyone who can read
 * the store): a `--store postgres://user:pw@...` URL's password and every registered secret
 * masked before it is written, so neither store ever holds one.
 */
import { redact } from '../redact.js';
import { maskStoreUrl } from '../store/postgres/store-url.js';

/** `mailpoll ARGS...` as the run history records it, secrets masked. Call it after the store is open (its password registered). */
export function recordedCommandLine(argv: readonly string[] = process.argv.slice(2)): string {
  return redact(['mailpoll', ...argv.map(maskArgument)].join(' '));
}

/** A URL argument, also in `--store=URL` form, with its password masked. */
function maskArgument(argument: string): string {
  const equals = argument.indexOf('=');
  if (argument.startsWith('--') && equals !== -1) return `${argument.slice(0, equals + 1)}${maskStoreUrl(argument.slice(equals + 1))}`;
  return maskStoreUrl(argument);
}
