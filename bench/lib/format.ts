/** How the report and the targets write seconds, milliseconds, sizes and ratios. */
export const MB = 1024 * 1024;

export function fmtS(seconds: number): string {
  return seconds >= 10 ? seconds.toFixed(1) : seconds.toFixed(2);
}

export function fmtMs(seconds: number): string {
  const ms = seconds * 1000;
  return Math.abs(ms) >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

export function fmtMb(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined ? 'n/a' : `${(bytes / MB).toFixed(0)} MB`;
}

export function fmtRatio(ratio: number): string {
  return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

export function fmtSize(bytes: number): string {
  if (bytes >= MB) return `${(bytes / MB).toFixed(bytes >= 10 * MB ? 0 : 1)} MB`;
  return `${(bytes / 1024).toFixed(0)} KB`;
}

export function fmtCount(count: number): string {
  return count.toLocaleString('en-US');
}

export function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
