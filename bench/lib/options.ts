/** Reading the benches' command-line values (shared by bench/run.ts and bench/accounts.ts). */
import path from 'node:path';

/** `20KB`, `1MB`, `512kb` or a number of bytes. */
export function parseSize(text: string, name = 'message-size'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$/i.exec(text);
  if (!match) throw new Error(`--${name}: expected 20KB, 1MB or a number of bytes, got ${text}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

/** A comma-separated list of known values (`all` for every one when allowed); `fallback` when unset. */
export function parseList<T extends string>(name: string, text: string | undefined, known: readonly T[], fallback: readonly T[], all = false): T[] {
  if (text === undefined) return [...fallback];
  if (all && text.trim() === 'all') return [...known];
  const items = [...new Set(text.split(',').map((item) => item.trim()).filter(Boolean))];
  for (const item of items) {
    if (!(known as readonly string[]).includes(item)) throw new Error(`--${name}: unknown value ${item} (known: ${known.join(', ')}${all ? ', all' : ''})`);
  }
  if (items.length === 0) throw new Error(`--${name}: expected at least one of ${known.join(', ')}`);
  return items as T[];
}

/** Comma-separated integers >= 1, sorted, without repeats. */
export function parseCounts(name: string, text: string | undefined, fallback: number[]): number[] {
  if (text === undefined) return fallback;
  const counts = [...new Set(text.split(',').map((item) => Number(item.trim())))].sort((a, b) => a - b);
  if (counts.length === 0 || counts.some((count) => !Number.isInteger(count) || count < 1)) {
    throw new Error(`--${name}: expected message counts >= 1, comma-separated (e.g. 500,2000), got ${text}`);
  }
  return counts;
}

/** An integer >= `min`; `fallback` when unset. */
export function positive(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name}: expected an integer >= ${min}, got ${text}`);
  return value;
}

/** Progress lines go to stderr (stdout stays for --help). */
export const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** The options every bench script takes (parseArgs spec), besides its own. */
export const COMMON_OPTIONS = {
  settle: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  build: { type: 'boolean' },
  'report-only': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Where the Markdown goes (`--out`, else bench/NAME) and its raw figures (the same name with .json). */
export function outputPaths(out: string | undefined, fallback: string): { out: string; raw: string } {
  const file = path.resolve(out ?? fallback);
  return { out: file, raw: `${file.replace(/\.md$/i, '')}.json` };
}
