/**
 * Folder names as users and handlers write them (`Archive/2024`, `/`-separated), checked
 * before any server sees them. A name that can never work (a wildcard, a `..` segment, a
 * control character) is refused at `validate` time (moveTo, quarantineFolder) and as an
 * invalid handler result, instead of being sent to the server run after run.
 */

// C0 controls, DEL and C1 controls: never part of a folder name a server would keep as written.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Why `name` cannot be a folder, as the end of "expected a folder name without ...", or
 * undefined when it may be one. IMAP LIST patterns have no escape for `*` and `%`, so a
 * folder with those in its name cannot even be looked up reliably.
 */
export function folderNameProblem(name: string): string | undefined {
  if (name.includes('*') || name.includes('%')) return 'the IMAP wildcards * and %';
  if (CONTROL.test(name)) return 'control characters';
  if (name.split('/').some((segment) => segment === '.' || segment === '..')) return '"." or ".." segments';
  return undefined;
}

/** The `/`-separated segments of a name: empty ones dropped, INBOX upper-cased (it is case-insensitive). */
export function folderSegments(name: string): string[] {
  const segments = name.split('/').filter((segment) => segment !== '');
  if (segments[0] !== undefined && segments[0].toUpperCase() === 'INBOX') segments[0] = 'INBOX';
  return segments;
}

/**
 * Whether two names given the way users write them (`/`-separated) name the same folder:
 * INBOX case-insensitively, the rest exactly, empty segments ignored (as the adapters do).
 */
export function sameFolder(a: string, b: string): boolean {
  return folderSegments(a).join('/') === folderSegments(b).join('/');
}
