/**
 * Raw copies in the database: `archive` (one row per message) and `archive_chunks` (its bytes
 * in pieces of at most ARCHIVE_CHUNK_BYTES). A piece is a view into the caller's Buffer
 * (`subarray`, no copy) passed to the driver as a binary parameter; the driver copies each
 * statement's parameters into its message to the server, so a statement carries at most
 * about ARCHIVE_CHUNK_BYTES: a 60 MB message is never held twice in memory. Reading back
 * decodes each piece as it arrives into one Buffer of the recorded size.
 */
import { StoreError } from '../../errors.js';
import type { CustomTypesConfig } from 'pg';
import type { Sql } from './connection.js';

/** Largest piece of a raw copy in one row, and about the most one INSERT carries. */
export const ARCHIVE_CHUNK_BYTES = 1024 * 1024;

/** Rows in one INSERT of pieces at the most (4 parameters each; PostgreSQL allows 65,535). */
const PIECES_PER_STATEMENT = 500;

const INT4_OID = 23;

export interface RawCopy {
  ref: number;
  raw: Buffer;
}

/** Store these raw copies (replacing any earlier one of the same ref), inside the caller's transaction. */
export async function writeRawCopies(sql: Sql, copies: readonly RawCopy[], now: number): Promise<void> {
  if (copies.length === 0) return;
  const refs = copies.map((copy) => copy.ref);
  await sql.run('DELETE FROM mailpoll.archive WHERE ref = ANY($1::bigint[])', [refs]);
  await sql.run(
    'INSERT INTO mailpoll.archive (ref, stored_at, bytes) SELECT r, $2, b FROM unnest($1::bigint[], $3::int[]) AS t(r, b)',
    [refs, now, copies.map((copy) => copy.raw.length)],
  );
  let values: unknown[] = [];
  let rows: string[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (rows.length === 0) return;
    await sql.run(`INSERT INTO mailpoll.archive_chunks (ref, seq, data) VALUES ${rows.join(', ')}`, values);
    values = [];
    rows = [];
    bytes = 0;
  };
  for (const { ref, raw } of copies) {
    // An empty message still has its one (empty) piece: the join in readRawCopy finds it.
    for (let seq = 0, offset = 0; seq === 0 || offset < raw.length; seq += 1, offset += ARCHIVE_CHUNK_BYTES) {
      const piece = raw.subarray(offset, offset + ARCHIVE_CHUNK_BYTES);
      if (rows.length >= PIECES_PER_STATEMENT || (rows.length > 0 && bytes + piece.length > ARCHIVE_CHUNK_BYTES)) await flush();
      const base = values.length;
      rows.push(`($${base + 1}::bigint, $${base + 2}::int, $${base + 3}::bytea)`);
      values.push(ref, seq, piece);
      bytes += piece.length;
    }
  }
  await flush();
}

/**
 * The raw copy of `ref`, or undefined when there is none. One statement (one snapshot): the
 * recorded size first, then each piece written into place as the driver reads it. Pieces
 * come as hex text (the driver decodes every result column as text), decoded straight into
 * the one Buffer: no copy of the whole message besides it.
 */
export async function readRawCopy(sql: Sql, ref: number, describe: string): Promise<Buffer | undefined> {
  let target: Buffer | undefined;
  let offset = 0;
  const parseBytes = (value: string): null => {
    target ??= Buffer.allocUnsafe(Number(value));
    return null;
  };
  const parsePiece = (hex: string): null => {
    const length = (hex.length - 2) / 2;
    if (target === undefined || !hex.startsWith('\\x') || offset + length > target.length) {
      throw new StoreError(`store ${describe}: the raw copy of ref ${ref} does not match its recorded size`);
    }
    offset += target.write(hex.slice(2), offset, length, 'hex');
    return null;
  };
  const result = await sql.raw({
    text: `SELECT a.bytes, c.data FROM mailpoll.archive a JOIN mailpoll.archive_chunks c ON c.ref = a.ref
           WHERE a.ref = $1 ORDER BY c.seq`,
    values: [ref],
    rowMode: 'array',
    types: { getTypeParser: ((oid: number) => (oid === INT4_OID ? parseBytes : parsePiece)) as CustomTypesConfig['getTypeParser'] },
  });
  if (result.rowCount === 0 || target === undefined) return undefined;
  if (offset !== target.length) throw new StoreError(`store ${describe}: the raw copy of ref ${ref} is incomplete (${offset} of ${target.length} bytes)`);
  return target;
}
