/**
 * The columns every PostgreSQL query that returns MessageRecords selects from `messages m`,
 * in the order of the SQLite side's MessageTuple, so that one mapping (`toMessageRecord` in
 * message-row.ts) reads both: booleans come back as 0/1, `extras` as its JSON text.
 */
export const PG_MESSAGE_COLUMNS = `m.ref, m.identity, m.mailbox, m.uid_validity, m.uid, m.protocol, m.fingerprint,
  m.message_id, m.sender, m.subject, m.date, m.size, m.state, m.action, m.move_to, m.transition::int,
  m.attempts, m.last_error, m.first_seen_at, m.updated_at, m.handled_at, m.done_at, m.on_server::int,
  EXISTS (SELECT 1 FROM mailpoll.archive a WHERE a.ref = m.ref)::int,
  m.run_id, m.account, m.raw_sha256, m.last_error_detail, m.extras::text, m.expired_at`;

/**
 * Text as PostgreSQL can store it: a NUL character (which a hostile header can carry, and
 * SQLite keeps) is refused by PostgreSQL in `text`, so it becomes U+FFFD.
 */
export function storableText<T extends string | null | undefined>(value: T): T {
  return (typeof value === 'string' && value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value) as T;
}
