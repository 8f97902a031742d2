/**
 * A PostgreSQL store is named by its URL (`postgres://user@host:5432/db`) in every message,
 * with its password masked: the URL may carry one (`user:secret@`, `?password=`), and a
 * `--store` URL is otherwise printed by `history` and by every store error.
 */
import { registerSecret, SECRET_PLACEHOLDER } from '../../redact.js';

/** Whether `value` names a PostgreSQL store rather than a SQLite file. */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

/**
 * `url` as messages show it: the password in the user part and in `password=` parameters
 * replaced by `***`. Works on text that does not parse as a URL too (it is masked, not parsed).
 */
export function maskStoreUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)([^/?#]*)(@)/i, `$1${SECRET_PLACEHOLDER}$3`)
    .replace(/([?&](?:ssl)?password=)[^&#]*/gi, `$1${SECRET_PLACEHOLDER}`);
}

/** Every password the store's connection may use, registered so that no output shows it. */
export function registerStoreSecrets(url: string, password: string | undefined): void {
  const userPart = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:([^/?#]*)@/i.exec(url)?.[1];
  const params = [...url.matchAll(/[?&](?:ssl)?password=([^&#]*)/gi)].map((match) => match[1]);
  for (const secret of [userPart, ...params]) {
    if (secret === undefined || secret === '') continue;
    registerSecret(secret);
    registerSecret(decodeQuietly(secret));
  }
  registerSecret(password);
  // The driver falls back on it when the URL has no password.
  registerSecret(process.env.PGPASSWORD);
}

/** Host and port as the URL names them, for "cannot connect to HOST:PORT" (5432 when none is given). */
export function describeServer(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname === '' ? 'the local socket' : decodeQuietly(parsed.hostname);
    return `${host}:${parsed.port === '' ? '5432' : parsed.port}`;
  } catch {
    return 'the server';
  }
}

function decodeQuietly(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
