/**
 * What a handler failure keeps beyond its one-line reason: the stack of what the handler
 * threw, so that `-v` and `mailpoll show REF` say where in the handler it happened. Frames
 * inside mailpoll and Node are dropped (they are the same for every handler); a failure
 * whose stack has nothing else (a command's exit status, a webhook's answer, a timeout) has
 * no detail.
 */
import { fileURLToPath } from 'node:url';
import { MailpollError } from '../errors.js';

/** mailpoll's own code: `src/` under tsx, `dist/` built (the bundle's chunks in `dist/bin/`). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OWN_FOLDERS = [`${PACKAGE_ROOT}src/`, `${PACKAGE_ROOT}dist/`];

const FRAME = /^\s+at /;

/**
 * The stack of the value the handler threw (`cause` of a HandlerError) without mailpoll's and
 * Node's frames; undefined when no frame of the handler's own is left. A value that is not an
 * Error has no stack. Anything thrown by mailpoll itself (a bug) keeps its whole stack.
 */
export function describeFailureDetail(error: unknown): string | undefined {
  if (!(error instanceof MailpollError)) return error instanceof Error ? error.stack : undefined;
  const thrown = error.cause;
  if (!(thrown instanceof Error) || thrown instanceof MailpollError || thrown.stack === undefined) return undefined;
  const lines = thrown.stack.split('\n');
  const kept = lines.filter((line) => !FRAME.test(line) || !isOwnFrame(line));
  return kept.some((line) => FRAME.test(line)) ? kept.join('\n') : undefined;
}

/**
 * `file:line:column` of the first frame of the handler's own in `detail` (a stack), without
 * the `file://` of an ES module: where to look first.
 */
export function firstHandlerFrame(detail: string | undefined): string | undefined {
  for (const line of detail?.split('\n') ?? []) {
    if (!FRAME.test(line)) continue;
    const match = /\(?((?:file:\/\/)?\/[^()\s]+:\d+:\d+)\)?\s*$/.exec(line);
    if (match) return match[1]!.startsWith('file://') ? fileURLToPathKeepingPosition(match[1]!) : match[1];
  }
  return undefined;
}

function fileURLToPathKeepingPosition(location: string): string {
  const position = /:\d+:\d+$/.exec(location)![0];
  return `${fileURLToPath(location.slice(0, -position.length))}${position}`;
}

function isOwnFrame(line: string): boolean {
  return /\(node:|at node:|\(<anonymous>\)/.test(line) || OWN_FOLDERS.some((folder) => line.includes(folder));
}
