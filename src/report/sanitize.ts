/**
 * Text from mail or from a server, made safe for a terminal. A subject, a sender, a folder
 * name or a server's error text can carry escape sequences (retitle the window, move the
 * cursor up and erase the report), a CR/LF that forges a line of its own, or a bidi override
 * that shows a name backwards. Every such character is written as a visible escape instead.
 *
 * The escapes are also valid inside a JSON string (`\n`, `\u001b`), so a whole NDJSON line can
 * pass through here unchanged in meaning: JSON.stringify escapes C0 controls but leaves DEL,
 * C1 controls and bidi characters raw.
 */

/** C0 controls, DEL, C1 controls, bidi marks, embeddings, overrides and isolates, line/paragraph separators. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `text` with every control and bidi character written as `\n`, `\r`, `\t` or `\uXXXX`. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (char) => SHORT[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Lines of a multi-line diagnostic (stderr) escaped one by one: its own line breaks stay. */
export function escapeLines(text: string): string {
  return text.split('\n').map(escapeControls).join('\n');
}

/** A copy of a flat event with each string field escaped (for reporters that add their own styling). */
export function escapeFields<T extends object>(event: T): T {
  const copy = { ...event } as Record<string, unknown>;
  for (const [key, value] of Object.entries(copy)) if (typeof value === 'string') copy[key] = escapeControls(value);
  return copy as unknown as T;
}
