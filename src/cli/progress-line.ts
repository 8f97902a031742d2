/**
 * The live progress line of a run on a terminal: on stderr, one line for the account being
 * polled (`support 420/10000 messages, 35/s, ETA 4m 34s`), redrawn in place, cleared when the
 * account is over. Only for work that takes a while: it appears once an account has been at its
 * messages for `PROGRESS_DELAY_MS`, so a run of a few messages draws nothing. Never where
 * stderr is not a terminal (a log, a pipe, cron), nor with --json or -q (`wantsProgress`).
 *
 * Every other line the CLI writes passes through `around`: the live line is wiped first and
 * drawn again after, so report lines and handler logs never land on it.
 */
import type { CycleProgress } from '../poll/progress.js';
import { escapeControls } from '../report/sanitize.js';

export const PROGRESS_DELAY_MS = 2_000;
const REDRAW_MS = 250;
const CLEAR = '\r\x1b[2K';

export interface ProgressLine extends CycleProgress {
  /** Runs `write` with the live line out of its way. */
  around(write: () => void): void;
  /** Wipes the line and stops its timer (the run is over, or stopped). */
  close(): void;
}

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): boolean;
}

/** A run draws progress on a terminal's stderr, and neither for machines (--json) nor with -q. */
export function wantsProgress(options: { json?: boolean | undefined; quiet?: boolean | undefined }, stderr: ProgressStream): boolean {
  return stderr.isTTY === true && options.json !== true && options.quiet !== true;
}

interface Work {
  account: string;
  total: number;
  done: number;
  startedAt: number;
}

export function createProgressLine(stream: ProgressStream, now: () => number = Date.now): ProgressLine {
  let work: Work | undefined;
  let shown = false;
  let drawn = '';
  let timer: NodeJS.Timeout | undefined;

  const wipe = (): void => {
    if (shown) stream.write(CLEAR);
    shown = false;
  };
  const draw = (): void => {
    if (!work || now() - work.startedAt < PROGRESS_DELAY_MS) return;
    // One column short of the width: a line that wraps cannot be wiped with one \r.
    const width = Math.max((stream.columns || 80) - 1, 10);
    const text = describeProgress(work, now()).slice(0, width);
    if (shown && text === drawn) return;
    stream.write(`${CLEAR}${text}`);
    drawn = text;
    shown = true;
  };
  const stop = (): void => {
    if (timer) clearInterval(timer);
    timer = undefined;
    wipe();
    work = undefined;
  };

  return {
    start(account, total) {
      stop();
      if (total <= 0) return;
      work = { account, total, done: 0, startedAt: now() };
      timer = setInterval(draw, REDRAW_MS);
      timer.unref();
    },
    handled(account) {
      if (work?.account === account) work.done += 1;
    },
    end(account) {
      if (work?.account === account) stop();
    },
    around(write) {
      const redraw = shown;
      wipe();
      write();
      if (redraw) draw();
    },
    close: stop,
  };
}

/** `support 420/10000 messages, 35/s, ETA 4m 34s`; the rate and ETA once a message is done. */
export function describeProgress(work: Work, at: number): string {
  const name = escapeControls(work.account);
  const count = `${name} ${work.done}/${work.total} messages`;
  const seconds = (at - work.startedAt) / 1000;
  if (work.done === 0 || seconds <= 0) return count;
  const rate = work.done / seconds;
  const left = Math.max(work.total - work.done, 0) / rate;
  return `${count}, ${formatRate(rate)}/s, ETA ${formatEta(left)}`;
}

function formatRate(rate: number): string {
  return rate >= 10 ? String(Math.round(rate)) : rate.toFixed(1);
}

function formatEta(seconds: number): string {
  const whole = Math.ceil(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${rest}s`;
  return `${rest}s`;
}
