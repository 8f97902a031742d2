/**
 * An import failure of a handler module, said so that it can be fixed: the first line of the
 * error, and for a syntax error where it is (`file:line:column`) with the offending line and a
 * caret under the column. One function for every place a module is imported (the main thread,
 * a worker thread whose error is rebuilt from what it sent), so the wording is the same.
 *
 * Where the location comes from:
 * - Node 22+ starts an ESM SyntaxError's stack with `file:///x.mjs:3`, the source line and a
 *   caret line; CommonJS does so on Node 20 too;
 * - Node 20 keeps that header off a caught ESM error's stack: `node --check` on the file (a
 *   child process, on this failure path only) prints it;
 * - esbuild (tsx, for TypeScript) says `Transform failed with 1 error:` and then
 *   `/abs/x.ts:3:12: ERROR: ...` (0-based column).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where a syntax error is: 1-based line and column (undefined when only the line is known). */
export interface SourceLocation {
  file: string;
  line: number;
  column: number | undefined;
}

export interface LoadErrorDescription {
  /** One line: `SyntaxError: Unexpected token ';'`, `Cannot find package 'x' imported from ...`. */
  text: string;
  location: SourceLocation | undefined;
  /** The offending line and a caret under the column (`  3 | return a +;`, `    |           ^`); empty without a location. */
  frame: string[];
}

/** Longest source line shown in a frame: a minified file has lines of megabytes. */
const MAX_FRAME_CHARS = 160;

/** How long `node --check` may take (a large file parses in milliseconds). */
const CHECK_TIMEOUT_MS = 10_000;

/** Describe `error`, thrown while importing the handler module at `file` (absolute). */
export function describeLoadError(error: unknown, file: string): LoadErrorDescription {
  if (!(error instanceof Error)) return { text: String(error), location: undefined, frame: [] };
  const lines = error.message.split('\n').filter((line) => line.trim() !== '');
  const first = lines[0] ?? '';
  if (/^Transform failed with \d+ errors?:$/.test(first) && lines[1] !== undefined) {
    const located = /^(.*?):(\d+):(\d+): (?:ERROR: )?(.*)$/.exec(lines[1]);
    if (located) {
      const location = { file: located[1]!, line: Number(located[2]), column: Number(located[3]) + 1 };
      return withFrame({ text: `SyntaxError: ${located[4]!}`, location, frame: [] });
    }
    return { text: lines[1].startsWith(`${file}:`) ? lines[1].slice(file.length + 1) : lines[1], location: undefined, frame: [] };
  }
  const text = first === '' ? error.name : error.name === 'Error' ? first : `${error.name}: ${first}`;
  if (error.name !== 'SyntaxError') return { text, location: undefined, frame: [] };
  const location = locationInStack(error.stack ?? '', file) ?? locationByCheck(file);
  return withFrame({ text, location, frame: [] });
}

/** The description as one line after `handler`: `/abs/x.mjs:3:12: SyntaxError: ...`, or `/abs/x.mjs: ...`. */
export function formatLoadError(description: LoadErrorDescription, file: string): string {
  return `${description.location === undefined ? file : formatLocation(description.location)}: ${description.text}`;
}

export function formatLocation(location: SourceLocation): string {
  return `${location.file}:${location.line}${location.column === undefined ? '' : `:${location.column}`}`;
}

/** `file:///x.mjs:3` (or `/x.cjs:3`) then the source line then the caret line, as Node prints them. */
function locationInStack(stack: string, file: string): SourceLocation | undefined {
  const match = /^(file:\/\/\S+|\/\S*?):(\d+)\n[^\n]*\n( *)\^/.exec(stack);
  if (!match) return undefined;
  const where = match[1]!.startsWith('file:') ? fileURLToPath(match[1]!) : match[1]!;
  return { file: where === file ? file : where, line: Number(match[2]), column: match[3]!.length + 1 };
}

function locationByCheck(file: string): SourceLocation | undefined {
  const checked = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: CHECK_TIMEOUT_MS });
  return typeof checked.stderr === 'string' ? locationInStack(checked.stderr.replace(/^\s+/, ''), file) : undefined;
}

/** The offending line read from the file itself (escaped when printed, as any output is). */
function withFrame(description: LoadErrorDescription): LoadErrorDescription {
  const { location } = description;
  if (location === undefined) return description;
  let source: string | undefined;
  try {
    source = readFileSync(location.file, 'utf8').split(/\r?\n/)[location.line - 1];
  } catch {
    source = undefined;
  }
  if (source === undefined) return description;
  const number = String(location.line);
  const gutter = ' '.repeat(number.length);
  let shown = source.replace(/\t/g, ' ');
  let column = location.column;
  // A long line is shown around the column, not from its start.
  if (shown.length > MAX_FRAME_CHARS) {
    const start = Math.max(0, (column ?? 1) - 1 - MAX_FRAME_CHARS / 2);
    shown = `${start > 0 ? '…' : ''}${shown.slice(start, start + MAX_FRAME_CHARS)}…`;
    if (column !== undefined) column = column - start + (start > 0 ? 1 : 0);
  }
  const frame = [`  ${number} | ${shown}`];
  if (column !== undefined) frame.push(`  ${gutter} | ${' '.repeat(Math.max(0, column - 1))}^`);
  return { ...description, frame };
}
