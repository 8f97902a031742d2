/**
 * The one way mailpoll masks a secret in text it writes: every resolved password is
 * registered here (config/secrets.ts does it), and the CLI's output, the adapters' messages
 * and protocol traces pass their text through `redact`. Where a protocol line carries
 * credentials as a whole (POP3 PASS, IMAP LOGIN/AUTHENTICATE), the adapter drops them at the
 * source instead; this catches a secret that a server or a library echoes anywhere else.
 */

/** What a secret becomes in any text mailpoll writes (`validate` shows passwords the same way). */
export const SECRET_PLACEHOLDER = '***';

/** Secrets shorter than this are not masked (replacing `a` everywhere would garble output). */
export const MIN_SECRET_LENGTH = 3;

const registered = new Set<string>();
/** `registered`, longest first, so that a secret containing another is masked whole. */
let registeredLongestFirst: string[] | undefined;

/** Add a value to the secrets `redact` masks by default. Values shorter than `MIN_SECRET_LENGTH` are ignored. */
export function registerSecret(value: string | undefined): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
  // Also the form it takes inside a JSON string (NDJSON reports), when that differs.
  const escaped = JSON.stringify(value).slice(1, -1);
  for (const variant of [value, escaped]) {
    if (!registered.has(variant)) {
      registered.add(variant);
      registeredLongestFirst = undefined;
    }
  }
}

/** Whether `value` is exactly a registered secret (a resolved password): kept out of a command handler's environment. */
export function isSecret(value: string): boolean {
  return registered.has(value);
}

/**
 * `text` with every secret replaced by `***`: the registered ones, or `secrets` when given
 * (an adapter masks its own account's password). Longest first; secrets shorter than
 * `MIN_SECRET_LENGTH` are left alone. Plain substring search: a secret is never turned into
 * a regular expression (its size or characters could break one).
 */
export function redact(text: string, secrets?: readonly (string | undefined)[]): string {
  let ordered: readonly string[];
  if (secrets === undefined) {
    if (registered.size === 0) return text;
    ordered = registeredLongestFirst ??= [...registered].sort((a, b) => b.length - a.length);
  } else {
    ordered = secrets.filter((secret): secret is string => secret !== undefined && secret.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  }
  let masked = text;
  for (const secret of ordered) {
    if (masked.includes(secret)) masked = masked.split(secret).join(SECRET_PLACEHOLDER);
  }
  return masked;
}
