/**
 * The JSON config loader: `JSON.parse`, with a failure told as line, column and reason
 * (`line 3, column 5: Expected double-quoted property name (a trailing comma?)`) rather than
 * a code frame cut off before its cause.
 */

/** The parsed value of `content`; throws an Error whose message is `line L, column C: reason`. */
export function parseJsonConfig(content: string): unknown {
  try {
    return JSON.parse(content) as unknown;
  } catch (error) {
    throw new Error(describeJsonError(content, error instanceof Error ? error.message : String(error)));
  }
}

function describeJsonError(content: string, message: string): string {
  // V8 says "... in JSON at position 59" (Node 22 adds " (line 1 column 60)").
  const position = /at position (\d+)/.exec(message);
  const reason = message.replace(/\s*in JSON at position \d+.*$/s, '').replace(/\s*\(line \d+ column \d+\)/, '');
  if (position === null) return /Unexpected end of JSON input/.test(message) ? `${where(content, content.length)}: unexpected end of the file` : reason;
  const offset = Number(position[1]);
  const before = content.slice(0, offset).trimEnd();
  const hint = before.endsWith(',') && /^\s*[}\]]/.test(content.slice(offset)) ? ' (a trailing comma? JSON allows none)' : '';
  return `${where(content, offset)}: ${reason}${hint}`;
}

/** `line L, column C` of the character at `offset` (both from 1). */
function where(content: string, offset: number): string {
  const lines = content.slice(0, offset).split('\n');
  return `line ${lines.length}, column ${lines.at(-1)!.length + 1}`;
}
