/**
 * How a `messages` row reads back as a MessageRecord. Every query that returns records selects
 * `MESSAGE_COLUMNS` from `messages m` in raw mode (arrays, not objects: better-sqlite3 builds
 * arrays several times faster, which matters when a cycle looks up 10,000 uids), so the
 * column order and the mapping live here, side by side.
 */
import { hasExtras, type Action, type ActionExtras, type Protocol } from '../domain.js';
import type { MessageRecord, MessageState, ReceivedMessage } from './types.js';

export const MESSAGE_COLUMNS = `m.ref, m.identity, m.mailbox, m.uid_validity, m.uid, m.protocol, m.fingerprint,
  m.message_id, m.sender, m.subject, m.date, m.size, m.state, m.action, m.move_to, m.transition,
  m.attempts, m.last_error, m.first_seen_at, m.updated_at, m.handled_at, m.done_at, m.on_server,
  (EXISTS (SELECT 1 FROM archive a WHERE a.ref = m.ref) OR EXISTS (SELECT 1 FROM archive_files f WHERE f.ref = m.ref)),
  m.run_id, m.account, m.raw_sha256, m.last_error_detail, m.extras, m.expired_at`;

/** One row of `SELECT ${MESSAGE_COLUMNS}` in raw mode, in that order. */
export type MessageTuple = [
  ref: number,
  identity: string,
  mailbox: string,
  uidValidity: string,
  uid: string,
  protocol: Protocol,
  fingerprint: string | null,
  messageId: string | null,
  sender: string | null,
  subject: string | null,
  date: string | null,
  size: number | null,
  state: MessageState,
  action: Action | null,
  moveTo: string | null,
  transition: 0 | 1 | null,
  attempts: number,
  lastError: string | null,
  firstSeenAt: number,
  updatedAt: number,
  handledAt: number | null,
  doneAt: number | null,
  onServer: 0 | 1,
  hasRaw: 0 | 1,
  runId: number | null,
  account: string,
  rawHash: string | null,
  lastErrorDetail: string | null,
  extras: string | null,
  expiredAt: number | null,
];

/** Positions in MessageTuple used outside the mapping. */
export const UID_COLUMN = 4;
export const FINGERPRINT_COLUMN = 6;

/** '' stands for "no UIDVALIDITY" in the table (see schema.ts). */
export function toUidValidityColumn(uidValidity: string | null): string {
  return uidValidity ?? '';
}

export function toMessageRecord(row: MessageTuple): MessageRecord {
  return {
    ref: row[0],
    identity: row[1],
    account: row[25],
    mailbox: row[2],
    uidValidity: row[3] === '' ? null : row[3],
    uid: row[4],
    protocol: row[5],
    fingerprint: row[6],
    rawHash: row[26],
    messageId: row[7],
    sender: row[8],
    subject: row[9],
    date: row[10],
    size: row[11],
    state: row[12],
    action: row[13],
    moveTo: row[14],
    transition: row[15] === null ? null : row[15] === 1,
    attempts: row[16],
    lastError: row[17],
    lastErrorDetail: row[27],
    firstSeenAt: row[18],
    updatedAt: row[19],
    handledAt: row[20],
    doneAt: row[21],
    onServer: row[22] === 1,
    hasRaw: row[23] === 1,
    runId: row[24],
    extras: readExtras(row[28]),
    expiredAt: row[29],
  };
}

/** The `extras` column: JSON written by `writeExtras`; null (none, or an unreadable value) reads as none. */
function readExtras(column: string | null): ActionExtras | null {
  if (column === null) return null;
  try {
    const value = JSON.parse(column) as Partial<ActionExtras>;
    const list = (items: unknown): string[] => (Array.isArray(items) ? items.filter((item): item is string => typeof item === 'string') : []);
    return { flags: list(value.flags), unflags: list(value.unflags), copyTo: typeof value.copyTo === 'string' ? value.copyTo : undefined };
  } catch {
    return null;
  }
}

/** A Decision's extras as the `extras` column holds them; null when there are none. */
export function writeExtras(extras: ActionExtras | undefined): string | null {
  return hasExtras(extras) ? JSON.stringify({ flags: extras.flags, unflags: extras.unflags, copyTo: extras.copyTo }) : null;
}

/**
 * A message's columns as it is first recorded (`received`, or `skipped` by a baseline), as
 * named statement parameters; a statement uses the ones it names.
 */
export interface FirstSeenParams {
  identity: string;
  account: string;
  mailbox: string;
  uidValidity: string;
  uid: string;
  protocol: string;
  fingerprint: string | null;
  rawHash: string | null;
  messageId: string | null;
  sender: string | null;
  subject: string | null;
  date: string | null;
  size: number | null;
  now: number;
  runId: number;
}

export function firstSeenParams(message: ReceivedMessage, now: number, runId: number): FirstSeenParams {
  const { key, meta } = message;
  return {
    identity: key.identity,
    account: message.account,
    mailbox: key.mailbox,
    uidValidity: toUidValidityColumn(key.uidValidity),
    uid: key.uid,
    protocol: message.protocol,
    fingerprint: message.fingerprint,
    rawHash: message.rawHash,
    messageId: meta.messageId,
    sender: meta.sender,
    subject: meta.subject,
    date: meta.date,
    size: meta.size,
    now,
    runId,
  };
}

/** Rows found by fingerprint (`findRenumbered`), grouped under it in the order read; rows without one left out. */
export function recordsByFingerprint(rows: Iterable<MessageTuple>): Map<string, MessageRecord[]> {
  const found = new Map<string, MessageRecord[]>();
  for (const row of rows) {
    const value = row[FINGERPRINT_COLUMN];
    if (value === null) continue;
    let list = found.get(value);
    if (!list) found.set(value, (list = []));
    list.push(toMessageRecord(row));
  }
  return found;
}
