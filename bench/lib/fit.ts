/**
 * Fixed cost and cost per message of one case, from its runs at two or more mailbox sizes:
 * wall = intercept + slope × messages, fitted (least squares) through the medians at each
 * size. With two sizes that is the line through the two medians. The range of the slope
 * comes from the extremes: the steepest and flattest lines through any run at the smallest
 * size and any run at the largest, so a slope whose range is wide did not hold.
 */
export interface SizePoint {
  messages: number;
  median: number;
  min: number;
  max: number;
}

export interface LinearFit {
  /** Seconds per run whatever the mailbox holds (start-up, login, logout). */
  interceptS: number;
  /** Seconds per message. */
  slopeS: number;
  /** The flattest and steepest slopes the runs allow (seconds per message). */
  slopeMinS: number;
  slopeMaxS: number;
  sizes: number[];
}

export function fitLine(points: SizePoint[]): LinearFit | undefined {
  const sorted = [...points].sort((a, b) => a.messages - b.messages);
  const first = sorted[0];
  const last = sorted.at(-1);
  if (!first || !last || last.messages === first.messages) return undefined;
  const n = sorted.length;
  const meanX = sorted.reduce((sum, p) => sum + p.messages, 0) / n;
  const meanY = sorted.reduce((sum, p) => sum + p.median, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of sorted) {
    sxy += (p.messages - meanX) * (p.median - meanY);
    sxx += (p.messages - meanX) ** 2;
  }
  const slopeS = sxy / sxx;
  const span = last.messages - first.messages;
  return {
    interceptS: meanY - slopeS * meanX,
    slopeS,
    slopeMinS: (last.min - first.max) / span,
    slopeMaxS: (last.max - first.min) / span,
    sizes: sorted.map((p) => p.messages),
  };
}
