/**
 * What mailpoll and its command launcher (launcher-main.ts) say to each other over the IPC
 * channel (Node's advanced serialization, so Buffers cross as bytes). Every request has an
 * id; its replies carry it, in order: `started`, any `stdout`/`stderr`, then `done`.
 */
import type { ProgramExit, ProgramSpec } from './spawn-program.js';

/** mailpoll -> launcher: run this program. */
export interface RunRequest {
  type: 'run';
  id: number;
  spec: ProgramSpec;
}

/** launcher -> mailpoll. */
export type LauncherReply =
  | { type: 'ready' }
  | { type: 'started'; id: number; pgid: number }
  | { type: 'stdout' | 'stderr'; id: number; chunk: Uint8Array }
  | { type: 'done'; id: number; exit: ProgramExit }
  | { type: 'failed'; id: number; message: string; code: string | undefined };
