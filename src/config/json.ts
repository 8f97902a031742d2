/**
 * The JSON config loader: `JSON.parse`, with a failure told as line, column and reason
 * (`line 4, column 3: a trailing comma before "]" (JSON allows none)`). V8's messages carry a
 * position only for some mistakes, and cosmiconfig's code frame was cut off before its cause,
 * so on failure a small scanner walks the text to the first mistake.
 */

/** The parsed value of `content`; throws an Error whose message is `line L, column C: reason`. */
export function parseJsonConfig(content: string): unknown {
  try {
    return JSON.parse(content) as unknown;
  } catch (error) {
    const found = findJsonMistake(content);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(found === undefined ? reason : `${where(content, found.offset)}: ${found.reason}`);
  }
}

interface Mistake {
  offset: number;
  reason: string;
}

/** The first syntax mistake in `text`, or undefined when it is valid JSON. */
export function findJsonMistake(text: string): Mistake | undefined {
  let at = 0;
  class Stop {
    constructor(readonly mistake: Mistake) {}
  }
  const fail = (reason: string, offset = at): never => {
    throw new Stop({ offset, reason });
  };
  const shown = (offset: number): string => (offset >= text.length ? 'the end of the file' : JSON.stringify(text[offset]));
  const space = (): void => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at += 1;
  };
  const string = (): void => {
    const start = at;
    at += 1;
    while (at < text.length && text[at] !== '"') {
      const char = text[at]!;
      if (char === '\\') {
        if (!/^(["\\/bfnrt]|u[0-9a-fA-F]{4})/.test(text.slice(at + 1, at + 6))) fail('an invalid escape in a string', at);
        at += text[at + 1] === 'u' ? 6 : 2;
      } else if (char < ' ') fail(char === '\n' ? 'a line break inside a string (write \\n)' : 'a control character inside a string', at);
      else at += 1;
    }
    if (at >= text.length) fail('a string that never ends (a missing closing ")', start);
    at += 1;
  };
  const list = (close: '}' | ']', item: () => void): void => {
    at += 1;
    space();
    if (text[at] === close) {
      at += 1;
      return;
    }
    for (;;) {
      item();
      space();
      if (text[at] === close) {
        at += 1;
        return;
      }
      if (text[at] !== ',') fail(`expected "," or "${close}", found ${shown(at)}`);
      const comma = at;
      at += 1;
      space();
      if (text[at] === close) fail(`a trailing comma before "${close}" (JSON allows none)`, comma);
    }
  };
  const value = (): void => {
    space();
    const char = text[at];
    if (char === '{') {
      list('}', () => {
        space();
        if (text[at] !== '"') fail(`expected a key in double quotes, found ${shown(at)}`);
        string();
        space();
        if (text[at] !== ':') fail(`expected ":" after the key, found ${shown(at)}`);
        at += 1;
        value();
      });
    } else if (char === '[') list(']', value);
    else if (char === '"') string();
    else {
      const literal = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(at));
      if (literal === null) fail(`expected a value, found ${shown(at)}${char === "'" ? ' (JSON strings take double quotes)' : ''}`);
      else at += literal[0].length;
    }
  };
  try {
    value();
    space();
    if (at < text.length) fail(`unexpected ${shown(at)} after the end of the config`);
    return undefined;
  } catch (error) {
    if (error instanceof Stop) return error.mistake;
    throw error;
  }
}

/** `line L, column C` of the character at `offset` (both from 1). */
function where(content: string, offset: number): string {
  const lines = content.slice(0, offset).split('\n');
  return `line ${lines.length}, column ${lines.at(-1)!.length + 1}`;
}
