/** Did-you-mean hints: the known name closest to a mistyped one. */

/** Edit distance (Levenshtein, with a swap of two neighbours counting as one edit), for did-you-mean hints. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, index) => index)];
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      row[j] = distance;
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** The candidate closest to `word` (ignoring case, `_` and `-`), when it is close enough. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const normal = (value: string) => value.toLowerCase().replace(/[-_\s]/g, '');
  const target = normal(word);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(target, normal(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(target.length / 3)));
  return bestDistance <= limit ? best : undefined;
}
