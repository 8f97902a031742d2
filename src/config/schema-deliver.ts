/**
 * The account keys of built-in delivery (`deliver`, `deliverTo`, `requireTls`) and of saved
 * attachments (`saveAttachments`): their docs, zod fields, cross-field checks and resolution.
 * `schema.ts` spreads the docs and fields into the account's; kept apart so that neither
 * file grows past what one reader holds.
 */
import * as z from 'zod';
import type { Protocol } from '../domain.js';
import type { DeliverTarget, SaveAttachmentsConfig } from './types.js';

const ALL: readonly Protocol[] = ['imap', 'pop3', 'maildir'];

export const DELIVER_KEY_DOCS = {
  deliver: {
    description:
      'Built-in delivery instead of a handler (README, "Built-in delivery"): `maildir:/path/Maildir`, `mbox:/path/file` (paths relative to the config file, `~/` allowed), `smtp://host:port`, `smtps://host:port` or `lmtp://host:port`. The message goes unchanged; then the account\'s `after` applies. An account names one handler kind: `script`, `command`, `webhook` or `deliver`.',
    protocols: ALL,
  },
  deliverTo: {
    description: 'The envelope recipient(s) of `deliver: smtp://`/`lmtp://`: an address or a list. Required for maildir accounts, which have no `user`.',
    default: 'the account\'s `user`',
    protocols: ALL,
  },
  requireTls: {
    description: 'With `deliver: smtp://` or `lmtp://`: refuse to send unless the server offers STARTTLS (it is used whenever offered). `smtps://` is TLS from the first byte.',
    default: 'false',
    protocols: ALL,
  },
  saveAttachments: {
    description:
      '`{dir, match, maxSize}`: write each matching attachment to `<dir>/<account>/<ref>/<name>` before the handler runs; the handler gets the paths (README, "Saved attachments"). `match`: file-name globs (`*.pdf`) and MIME types (`image/*`), default all; `maxSize`: larger ones are left out.',
    protocols: ALL,
  },
} as const;

/** The keys of `saveAttachments`. */
export const SAVE_ATTACHMENTS_KEY_DOCS = {
  dir: { description: 'The folder the files go under (relative to the config file, `~/` allowed); created 0700. Required.' },
  match: { description: 'File-name globs (`*.pdf`, `invoice-?.xml`, case-insensitive) and MIME types (`image/*`, `application/pdf`); an attachment matching any is saved.', default: 'every attachment' },
  maxSize: { description: 'Attachments larger than this are not saved: bytes or `500KB`, `25MB`.', default: 'no limit' },
} as const;

// No `user:password@`: delivery does not log in, and a password in the URL would be shown in messages.
const DELIVER_URL = /^(maildir|mbox):.+|^(smtp|smtps|lmtp):\/\/[^/@]+\/?$/i;

const text = () => z.string().min(1, { error: 'expected a non-empty string' });

/**
 * The zod fields, spread into the account's. `size` and `flag` are schema.ts's own value
 * schemas, passed in so that their messages and JSON Schema stay the same everywhere.
 */
export function deliverFields<S extends z.ZodType, F extends z.ZodType>(size: () => S, flag: () => F) {
  return {
    deliver: text()
      .refine((value) => DELIVER_URL.test(value) && deliverPort(value) !== null, {
        error: 'expected maildir:/path, mbox:/path, smtp://host:port, smtps://host:port or lmtp://host:port',
      })
      .optional()
      .describe(DELIVER_KEY_DOCS.deliver.description),
    deliverTo: z.union([text(), z.array(text()).min(1, 'expected at least one address')]).optional().describe(DELIVER_KEY_DOCS.deliverTo.description),
    requireTls: flag().optional().describe(DELIVER_KEY_DOCS.requireTls.description),
    saveAttachments: z
      .strictObject({
        dir: text().describe(SAVE_ATTACHMENTS_KEY_DOCS.dir.description),
        match: z.array(text()).min(1, 'expected at least one pattern').optional().describe(SAVE_ATTACHMENTS_KEY_DOCS.match.description),
        maxSize: size().optional().describe(SAVE_ATTACHMENTS_KEY_DOCS.maxSize.description),
      })
      .optional()
      .describe(DELIVER_KEY_DOCS.saveAttachments.description),
  };
}

/** The port of a network `deliver` URL (default 25, 465 for smtps, 24 for lmtp); undefined for files; null when unusable. */
function deliverPort(value: string): number | undefined | null {
  if (/^(maildir|mbox):/i.test(value)) return undefined;
  try {
    const url = new URL(value);
    if (url.hostname === '') return null;
    const fallback = { 'smtp:': 25, 'smtps:': 465, 'lmtp:': 24 }[url.protocol.toLowerCase()] ?? 25;
    return url.port === '' ? fallback : Number(url.port);
  } catch {
    return null;
  }
}

/** The keys above as a merged account holds them. */
interface DeliverInput {
  deliver?: string | undefined;
  deliverTo?: string | string[] | undefined;
  requireTls?: boolean | undefined;
  saveAttachments?: { dir: string; match?: string[] | undefined; maxSize?: number | undefined } | undefined;
  user?: string | undefined;
  protocol?: Protocol | undefined;
}

/** Problem lines: a recipient is needed for network delivery; the delivery keys need `deliver`. */
export function checkDeliver(merged: DeliverInput, at: (key: string) => string): string[] {
  const problems: string[] = [];
  const network = merged.deliver !== undefined && !/^(maildir|mbox):/i.test(merged.deliver);
  if (network && merged.deliverTo === undefined && merged.user === undefined) {
    problems.push(`${at('deliverTo')}: is required with deliver: ${merged.deliver} (this account has no user to deliver to)`);
  }
  for (const key of ['deliverTo', 'requireTls'] as const) {
    if (merged[key] !== undefined && !network) problems.push(`${at(key)}: applies only to deliver: smtp://, smtps:// or lmtp://; remove ${key}`);
  }
  return problems;
}

/** The resolved keys, for `buildAccount`. */
export function resolveDeliver(
  merged: DeliverInput,
  resolvePath: (value: string) => string,
): { deliver: DeliverTarget | undefined; saveAttachments: SaveAttachmentsConfig | undefined } {
  const saved = merged.saveAttachments;
  return {
    deliver: merged.deliver === undefined ? undefined : deliverTarget(merged, resolvePath),
    saveAttachments: saved === undefined ? undefined : { dir: resolvePath(saved.dir), match: saved.match ?? [], maxSize: saved.maxSize },
  };
}

function deliverTarget(merged: DeliverInput, resolvePath: (value: string) => string): DeliverTarget {
  const value = merged.deliver!;
  const file = /^(maildir|mbox):(.+)$/i.exec(value);
  if (file) return { kind: file[1]!.toLowerCase() as 'maildir' | 'mbox', path: resolvePath(file[2]!), display: value };
  const url = new URL(value);
  const scheme = url.protocol.slice(0, -1).toLowerCase() as 'smtp' | 'smtps' | 'lmtp';
  const to = merged.deliverTo ?? merged.user!;
  return {
    kind: scheme === 'lmtp' ? 'lmtp' : 'smtp',
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: deliverPort(value)!,
    secure: scheme === 'smtps',
    requireTls: merged.requireTls ?? false,
    to: typeof to === 'string' ? [to] : to,
    display: `${scheme}://${url.host}`,
  };
}
