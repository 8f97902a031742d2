/**
 * The PostgreSQL store's schema, versioned in code, in a schema of its own (`mailpoll`), so
 * that it can share a database with an application's tables. Migration N is applied in its
 * own transaction that first takes `pg_advisory_xact_lock` on mailpoll's key, then reads the
 * version again: two hosts starting together on an empty database wait for each other, and
 * the second finds the work done. (`CREATE TABLE IF NOT EXISTS` alone is not safe there: two
 * sessions creating one type race on pg_type's unique index.)
 *
 * Rules for the next migration: append, never edit a shipped one. A database whose version is
 * above what this mailpoll knows is refused, never touched.
 *
 * Differences from the SQLite schema (schema.ts), for the same records:
 * - booleans are `boolean`, `extras` is `jsonb`, timestamps `bigint` milliseconds (the
 *   store's clock, which tests set), refs an identity column (a purged ref never comes back);
 * - raw copies are in the database, whatever their size: `archive` (one row per message:
 *   when, how many bytes) and `archive_chunks` (the bytes, in pieces of at most
 *   ARCHIVE_CHUNK_BYTES, so that neither side ever holds a large message twice);
 * - lease tokens are numbers from a sequence: each takeover gets a larger one (fencing).
 */
import { APPLICATION_ID } from '../schema.js';
import type { Connection, Sql } from './connection.js';

export interface PostgresMigration {
  /** The version this migration leaves behind. */
  version: number;
  description: string;
  sql: string;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    description: 'ledger, archive, runs, leases, baselines',
    sql: `
      CREATE SCHEMA IF NOT EXISTS mailpoll;

      CREATE TABLE mailpoll.schema_migrations (
        version      integer PRIMARY KEY,
        description  text    NOT NULL,
        applied_at   timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE mailpoll.runs (
        id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        started_at  bigint  NOT NULL,
        ended_at    bigint,
        pid         integer NOT NULL,
        host        text    NOT NULL,
        command     text    NOT NULL,
        dry_run     boolean NOT NULL,
        exit_code   integer
      );

      CREATE TABLE mailpoll.run_accounts (
        id           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id       bigint  NOT NULL REFERENCES mailpoll.runs (id) ON DELETE CASCADE,
        account      text    NOT NULL,
        status       text    NOT NULL CHECK (status IN ('ok', 'error', 'busy')),
        fetched      integer NOT NULL,
        processed    integer NOT NULL,
        failed       integer NOT NULL,
        transitions  integer NOT NULL,
        error        text,
        duration_ms  integer NOT NULL
      );
      CREATE INDEX run_accounts_run ON mailpoll.run_accounts (run_id);

      CREATE TABLE mailpoll.messages (
        ref               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        identity          text    NOT NULL,
        account           text    NOT NULL,
        mailbox           text    NOT NULL,
        -- '' when there is none (POP3, Maildir), as in SQLite: the key stays unique.
        uid_validity      text    NOT NULL,
        uid               text    NOT NULL,
        protocol          text    NOT NULL CHECK (protocol IN ('imap', 'pop3', 'maildir')),
        fingerprint       text,
        raw_sha256        text,
        message_id        text,
        sender            text,
        subject           text,
        date              text,
        size              bigint,
        state             text    NOT NULL CHECK (state IN ('received', 'handled', 'done', 'failed', 'quarantined', 'skipped')),
        action            text    CHECK (action IN ('delete', 'keep', 'markSeen', 'move')),
        move_to           text,
        transition        boolean,
        extras            jsonb,
        attempts          integer NOT NULL DEFAULT 0,
        last_error        text,
        last_error_detail text,
        first_seen_at     bigint  NOT NULL,
        updated_at        bigint  NOT NULL,
        handled_at        bigint,
        done_at           bigint,
        expired_at        bigint,
        on_server         boolean NOT NULL DEFAULT true,
        run_id            bigint  REFERENCES mailpoll.runs (id) ON DELETE SET NULL,
        UNIQUE (identity, mailbox, uid_validity, uid)
      );
      CREATE INDEX messages_fingerprint ON mailpoll.messages (identity, fingerprint) WHERE fingerprint IS NOT NULL;
      CREATE INDEX messages_state ON mailpoll.messages (identity, mailbox, state);
      CREATE INDEX messages_updated ON mailpoll.messages (updated_at);
      CREATE INDEX messages_purgeable ON mailpoll.messages (updated_at) WHERE state = 'done' AND NOT on_server;
      CREATE INDEX messages_run ON mailpoll.messages (run_id);
      CREATE INDEX messages_account ON mailpoll.messages (account);

      CREATE TABLE mailpoll.archive (
        ref        bigint  PRIMARY KEY REFERENCES mailpoll.messages (ref) ON DELETE CASCADE,
        stored_at  bigint  NOT NULL,
        bytes      integer NOT NULL
      );
      CREATE INDEX archive_stored ON mailpoll.archive (stored_at);

      CREATE TABLE mailpoll.archive_chunks (
        ref   bigint  NOT NULL REFERENCES mailpoll.archive (ref) ON DELETE CASCADE,
        seq   integer NOT NULL,
        data  bytea   NOT NULL,
        PRIMARY KEY (ref, seq)
      );

      CREATE SEQUENCE mailpoll.lease_tokens;
      CREATE TABLE mailpoll.leases (
        identity     text    PRIMARY KEY,
        pid          integer NOT NULL,
        host         text    NOT NULL,
        token        bigint  NOT NULL,
        acquired_at  bigint  NOT NULL,
        expires_at   bigint  NOT NULL
      );

      -- Mailboxes whose baseline was taken (startFrom, mailpoll baseline).
      CREATE TABLE mailpoll.baselines (
        identity  text   NOT NULL,
        mailbox   text   NOT NULL,
        taken_at  bigint NOT NULL,
        PRIMARY KEY (identity, mailbox)
      );
    `,
  },
];

/** The version this mailpoll writes and understands. */
export const POSTGRES_SCHEMA_VERSION: number = POSTGRES_MIGRATIONS.length;

/** The advisory lock every migration takes: (mailpoll's application id, 1). */
const MIGRATION_LOCK = [APPLICATION_ID, 1] as const;

/** The schema's version: 0 when the database has no mailpoll schema yet. */
export async function readSchemaVersion(sql: Sql): Promise<number> {
  // From pg_class itself, not to_regclass: inside a transaction that began before another
  // process committed the schema, the name lookup's cache may not have seen it yet.
  const exists = await sql.value<boolean>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'mailpoll' AND c.relname = 'schema_migrations')`,
  );
  if (!exists) return 0;
  return (await sql.value<number>('SELECT coalesce(max(version), 0) FROM mailpoll.schema_migrations')) ?? 0;
}

/** The database holds a schema this mailpoll does not know (newer): carries its version. */
export class NewerPostgresSchema extends Error {
  constructor(readonly version: number) {
    super(`store version ${version} is newer than this mailpoll's`);
  }
}

/** A `mailpoll` schema with tables but no version: not ours, never touched. */
export class ForeignPostgresSchema extends Error {
  constructor() {
    super('the database has a schema named mailpoll that mailpoll did not make');
  }
}

/**
 * Bring the schema up to the last of `migrations`, each in its own locked transaction.
 * Returns the versions applied here (none when another process did them first).
 */
export async function migratePostgres(connection: Connection, migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<number[]> {
  const latest = migrations.length;
  const applied: number[] = [];
  for (const migration of migrations) {
    await connection.transaction(async (sql) => {
      await sql.run('SELECT pg_advisory_xact_lock($1, $2)', MIGRATION_LOCK);
      const current = await readSchemaVersion(sql);
      if (current > latest) throw new NewerPostgresSchema(current);
      if (current >= migration.version) return;
      if (current !== migration.version - 1) throw new Error(`store schema: cannot apply migration ${migration.version} to version ${current}`);
      if (current === 0 && (await sql.value<boolean>("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'mailpoll')"))) {
        throw new ForeignPostgresSchema();
      }
      await sql.run(migration.sql);
      await sql.run('INSERT INTO mailpoll.schema_migrations (version, description) VALUES ($1, $2)', [migration.version, migration.description]);
      applied.push(migration.version);
    });
  }
  return applied;
}
