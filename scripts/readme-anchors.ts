/**
 * The anchors GitHub gives a Markdown file's headings (`## First run: a baseline` ->
 * `#first-run-a-baseline`), for linking to README sections and checking that links resolve.
 */

/** GitHub's slug of a heading's text: lower case, punctuation dropped, spaces to `-`. */
export function slugHeading(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every heading's anchor, outside fenced code blocks; a repeated heading gets `-1`, `-2`... */
export function listAnchors(markdown: string): Map<string, string> {
  const anchors = new Map<string, string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const text = heading[1] ?? '';
    const slug = slugHeading(text);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.set(count === 0 ? slug : `${slug}-${count}`, text);
  }
  return anchors;
}
