/**
 * Saved attachments (`saveAttachments:`): each matching attachment of a parsed message is
 * written to `<dir>/<account>/<ref>/<name>` before the handler runs, and the paths go to the
 * handler (README, "Saved attachments"). One function for both places a message is parsed:
 * the handler worker threads (`script:`) and the main thread (command, webhook, deliver).
 *
 * File names come from the mail and are untrusted: `safeFileName` keeps only a last path
 * component without control characters, leading dots or a reserved Windows device name, at
 * most 200 bytes. Nothing is written outside `<dir>`: every folder below it is created
 * without following symbolic links and checked with realpath, files are opened O_NOFOLLOW.
 */
import { lstat, mkdir, realpath, rename } from 'node:fs/promises';
import path from 'node:path';
import type { SaveAttachmentsConfig } from '../config/types.js';
import type { MailMessage } from './types.js';
import { writeNewFile } from './write-new-file.js';

/** Bytes a saved file name may take (most file systems allow 255; room is left for a suffix). */
export const MAX_NAME_BYTES = 200;

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;

/** The part of a message the saving reads. */
type Attachable = Pick<MailMessage, 'account' | 'uid' | 'ref' | 'attachments'>;

/**
 * Writes the attachments of `message` that `config` matches and returns their absolute
 * paths, in the message's order. Under a dry run nothing is written and the list is empty.
 * A retried message's files replace those of the earlier attempt (same names, same folder).
 */
export async function saveAttachments(message: Attachable, config: SaveAttachmentsConfig, dryRun: boolean): Promise<string[]> {
  if (dryRun) return [];
  try {
    return await writeAttachments(message, config);
  } catch (error) {
    throw new Error(`saving attachments under ${config.dir}: ${(error as Error).message}`, { cause: error });
  }
}

async function writeAttachments(message: Attachable, config: SaveAttachmentsConfig): Promise<string[]> {
  const chosen = message.attachments.filter((attachment) => matches(config, attachment.filename, attachment.contentType) && (config.maxSize === undefined || attachment.content.length <= config.maxSize));
  if (chosen.length === 0) return [];
  const folder = await privateFolder(config.dir, [safeFileName(message.account, 'account'), message.ref === undefined ? safeFileName(`uid-${message.uid}`, 'message') : String(message.ref)]);
  const used = new Set<string>();
  const paths: string[] = [];
  for (const [index, attachment] of chosen.entries()) {
    const name = uniqueName(safeFileName(attachment.filename ?? '', `attachment-${index + 1}`), used);
    const file = path.join(folder, name);
    await writePrivate(file, attachment.content);
    paths.push(file);
  }
  return paths;
}

/** Whether an attachment is wanted: no patterns means all; `type/sub` patterns match the MIME type, others the file name. */
export function matches(config: Pick<SaveAttachmentsConfig, 'match'>, filename: string | undefined, contentType: string): boolean {
  if (config.match.length === 0) return true;
  return config.match.some((pattern) => (pattern.includes('/') ? globMatches(pattern, contentType) : filename !== undefined && globMatches(pattern, filename)));
}

/** `*` any run of characters, `?` one; case-insensitive; nothing else special. */
function globMatches(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 'is').test(value);
}

/**
 * A file name safe to create in a folder of ours: the last path component (`/` or `\`), no
 * control characters, no characters Windows refuses, no leading dots or spaces, no trailing
 * dots or spaces, a reserved device name (`CON.txt`) prefixed with `_`, at most
 * MAX_NAME_BYTES of UTF-8 (cut at a character boundary, the extension kept). `fallback` when
 * nothing is left.
 */
export function safeFileName(name: string, fallback: string): string {
  let safe = name
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    .split(/[/\\]/)
    .at(-1)!
    .replace(/[<>:"|?*]/g, '_')
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  if (safe === '') safe = fallback;
  if (WINDOWS_RESERVED.test(safe.split('.')[0]!)) safe = `_${safe}`;
  return capBytes(safe, MAX_NAME_BYTES);
}

/** `name` cut to `max` UTF-8 bytes at a character boundary, keeping a short extension. */
function capBytes(name: string, max: number): string {
  if (Buffer.byteLength(name) <= max) return name;
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 && Buffer.byteLength(name.slice(dot)) <= 16 ? name.slice(dot) : '';
  let stem = name.slice(0, name.length - extension.length);
  const room = max - Buffer.byteLength(extension);
  // Whole code points only: never half a UTF-8 sequence.
  const points = [...stem];
  while (Buffer.byteLength(points.join('')) > room) points.pop();
  stem = points.join('');
  return stem + extension;
}

/** `name`, or `name-2.ext`, `name-3.ext`... if a name of this message already took it (case-insensitively). */
function uniqueName(name: string, used: Set<string>): string {
  let candidate = name;
  for (let n = 2; used.has(candidate.toLowerCase()); n += 1) {
    const dot = name.lastIndexOf('.');
    const [stem, extension] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    const suffix = `-${n}`;
    candidate = capBytes(stem, MAX_NAME_BYTES - Buffer.byteLength(suffix + extension)) + suffix + extension;
  }
  used.add(candidate.toLowerCase());
  return candidate;
}

/** `root/a/b` created 0700 level by level, refusing a symbolic link at any level; its real path. */
async function privateFolder(root: string, parts: string[]): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const realRoot = await realpath(root);
  let current = realRoot;
  for (const part of parts) {
    current = path.join(current, part);
    await mkdir(current, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    const info = await lstat(current);
    if (!info.isDirectory()) throw new Error(`${current} is not a folder (a symbolic link or a file is in the way); remove it`);
  }
  const real = await realpath(current);
  if (real !== current || !real.startsWith(realRoot + path.sep)) throw new Error(`${current} leads outside ${root}`);
  return real;
}

/** Written beside the target then renamed over it, 0600, never through a symbolic link. */
async function writePrivate(file: string, content: Buffer): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeNewFile(temporary, content, { exclusive: false, sync: false });
  await rename(temporary, file);
}
