/**
 * The store's schema, versioned in code. Migration N brings `PRAGMA user_version` to N; each
 * runs in its own `BEGIN IMMEDIATE` transaction, so a crash or a second process starting at
 * the same moment never sees half a schema. A store is only ever migrated forward: one whose
 * version is above `SCHEMA_VERSION` is refused (see `open.ts`), never touched.
 *
 * Rules for the next migration: append, never edit a shipped one; keep it idempotent within
 * its transaction. Migrations run before `PRAGMA foreign_keys` is turned on (open.ts; it cannot
 * change inside a transaction), so a table can be rebuilt without cascading deletes.
 */
import type Database from 'better-sqlite3';
import { readScalar, setPragma } from './pragma.js';

/** `PRAGMA application_id` of a mailpoll store: ASCII "MLPL". Tells our file from any other SQLite file. */
export const APPLICATION_ID = 0x4d4c504c;

export interface Migration {
  /** The `user_version` this migration leaves behind. */
  version: number;
  description: string;
  sql: string;
}

/**
 * Schema notes:
 * - `messages.uid_validity` is '' when there is none (POP3, Maildir): NULLs are all distinct
 *   in a UNIQUE index, '' is not.
 * - `messages.ref` is AUTOINCREMENT so a purged ref is never handed out again (`mailpoll show N`
 *   must not show another message later).
 * - `archive.stored_at` comes before `raw`: reading it never walks the blob's overflow pages.
 * - Booleans are 0/1 integers; timestamps integers, ms since the epoch.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'ledger, archive, runs, leases',
    sql: `
      CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        started_at  INTEGER NOT NULL,
        ended_at    INTEGER,
        pid         INTEGER NOT NULL,
        command     TEXT    NOT NULL,
        dry_run     INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
        exit_code   INTEGER
      );

      CREATE TABLE run_accounts (
        id           INTEGER PRIMARY KEY,
        run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        account      TEXT    NOT NULL,
        status       TEXT    NOT NULL CHECK (status IN ('ok', 'error', 'busy')),
        fetched      INTEGER NOT NULL,
        processed    INTEGER NOT NULL,
        failed       INTEGER NOT NULL,
        transitions  INTEGER NOT NULL,
        error        TEXT,
        duration_ms  INTEGER NOT NULL
      );
      CREATE INDEX run_accounts_run ON run_accounts (run_id);

      CREATE TABLE messages (
        ref            INTEGER PRIMARY KEY AUTOINCREMENT,
        account        TEXT    NOT NULL,
        mailbox        TEXT    NOT NULL,
        uid_validity   TEXT    NOT NULL,
        uid            TEXT    NOT NULL,
        protocol       TEXT    NOT NULL CHECK (protocol IN ('imap', 'pop3', 'maildir')),
        fingerprint    TEXT,
        message_id     TEXT,
        sender         TEXT,
        subject        TEXT,
        date           TEXT,
        size           INTEGER,
        state          TEXT    NOT NULL CHECK (state IN ('received', 'handled', 'done', 'failed', 'quarantined')),
        action         TEXT    CHECK (action IN ('delete', 'keep', 'markSeen', 'move')),
        move_to        TEXT,
        transition     INTEGER CHECK (transition IN (0, 1)),
        attempts       INTEGER NOT NULL DEFAULT 0,
        last_error     TEXT,
        first_seen_at  INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        handled_at     INTEGER,
        done_at        INTEGER,
        on_server      INTEGER NOT NULL DEFAULT 1 CHECK (on_server IN (0, 1)),
        run_id         INTEGER REFERENCES runs (id) ON DELETE SET NULL,
        UNIQUE (account, mailbox, uid_validity, uid)
      );
      CREATE INDEX messages_fingerprint ON messages (account, fingerprint) WHERE fingerprint IS NOT NULL;
      CREATE INDEX messages_state ON messages (account, mailbox, state);
      CREATE INDEX messages_updated ON messages (updated_at);
      CREATE INDEX messages_purgeable ON messages (updated_at) WHERE state = 'done' AND on_server = 0;
      CREATE INDEX messages_run ON messages (run_id);

      CREATE TABLE archive (
        ref        INTEGER PRIMARY KEY REFERENCES messages (ref) ON DELETE CASCADE,
        stored_at  INTEGER NOT NULL,
        raw        BLOB    NOT NULL
      );
      CREATE INDEX archive_stored ON archive (stored_at);

      CREATE TABLE leases (
        account      TEXT    PRIMARY KEY,
        pid          INTEGER NOT NULL,
        host         TEXT    NOT NULL,
        token        TEXT    NOT NULL,
        acquired_at  INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- One row, written by Store.sync(): the small commit that carries the WAL fsync.
      CREATE TABLE sync_mark (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        synced_at  INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'raw copies of 1 MiB and more as files (archive-files.ts)',
    // One row per file `<store>-archive/<ref>.eml`; the path follows from the ref. A ref has
    // its raw copy in `archive` or here, never both.
    sql: `
      CREATE TABLE archive_files (
        ref        INTEGER PRIMARY KEY REFERENCES messages (ref) ON DELETE CASCADE,
        stored_at  INTEGER NOT NULL,
        bytes      INTEGER NOT NULL
      );
      CREATE INDEX archive_files_stored ON archive_files (stored_at);
    `,
  },
  {
    version: 3,
    description: 'ledger and leases keyed by the mailbox identity; the account name a label; raw hashes',
    // Rows and leases were keyed by the account's name, which two configs can share for two
    // unrelated mailboxes. The key column becomes `identity` (src/mailbox/identity.ts:
    // `imap://login@host/FOLDER`, `pop3://...`, `maildir:///abs/path`); renaming it
    // keeps the UNIQUE constraint and the indexes on it, without rebuilding `messages` (a
    // DROP would cascade into the archive). `account` comes back as the label shown.
    // An old row cannot know its server: it gets `legacy:<name>`, and the first run of an
    // account of that name, protocol and folder adopts it (Store.adoptLegacyRows). That
    // guess is the one the old store made on every run, made once more; a name shared by
    // two configs hands the old rows to whichever runs first, as the old store did.
    // `raw_sha256` (hex) proves that a message found under a new key is the one handled.
    sql: `
      ALTER TABLE messages RENAME COLUMN account TO identity;
      ALTER TABLE messages ADD COLUMN account TEXT NOT NULL DEFAULT '';
      ALTER TABLE messages ADD COLUMN raw_sha256 TEXT;
      UPDATE messages SET account = identity, identity = 'legacy:' || identity;
      CREATE INDEX messages_account ON messages (account);
      ALTER TABLE leases RENAME COLUMN account TO identity;
    `,
  },
  {
    version: 4,
    description: "the last error's detail (a handler's stack) beside its one-line text",
    // Kept apart from last_error, which stays one line for history and the report.
    sql: `
      ALTER TABLE messages ADD COLUMN last_error_detail TEXT;
    `,
  },
  {
    version: 5,
    description: "what comes with a Decision's action (flags set or cleared, a copy); when a kept message was deleted by deleteAfter",
    // `extras` is JSON `{"flags":[...],"unflags":[...],"copyTo":"..."}`, NULL when the
    // Decision has none: read by the crash recovery, which applies it without the handler.
    // `expired_at`: deleteAfter removed the kept message from the server at this time.
    sql: `
      ALTER TABLE messages ADD COLUMN extras TEXT;
      ALTER TABLE messages ADD COLUMN expired_at INTEGER;
    `,
  },
  {
    version: 6,
    description: "the `skipped` state (a first run's baseline), and which mailboxes have had their baseline",
    // SQLite cannot change a CHECK constraint in place: `messages` is rebuilt (the twelve steps
    // of SQLite's "Making Other Kinds Of Table Schema Changes"). Migrations run before
    // `foreign_keys` is turned on (open.ts), so dropping the old table cascades nowhere; the
    // archive's REFERENCES name `messages` and find the new one. Refs are kept, and so is the
    // AUTOINCREMENT high-water mark: a purged ref is never handed out again.
    sql: `
      CREATE TABLE messages_new (
        ref               INTEGER PRIMARY KEY AUTOINCREMENT,
        identity          TEXT    NOT NULL,
        mailbox           TEXT    NOT NULL,
        uid_validity      TEXT    NOT NULL,
        uid               TEXT    NOT NULL,
        protocol          TEXT    NOT NULL CHECK (protocol IN ('imap', 'pop3', 'maildir')),
        fingerprint       TEXT,
        message_id        TEXT,
        sender            TEXT,
        subject           TEXT,
        date              TEXT,
        size              INTEGER,
        state             TEXT    NOT NULL CHECK (state IN ('received', 'handled', 'done', 'failed', 'quarantined', 'skipped')),
        action            TEXT    CHECK (action IN ('delete', 'keep', 'markSeen', 'move')),
        move_to           TEXT,
        transition        INTEGER CHECK (transition IN (0, 1)),
        attempts          INTEGER NOT NULL DEFAULT 0,
        last_error        TEXT,
        first_seen_at     INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL,
        handled_at        INTEGER,
        done_at           INTEGER,
        on_server         INTEGER NOT NULL DEFAULT 1 CHECK (on_server IN (0, 1)),
        run_id            INTEGER REFERENCES runs (id) ON DELETE SET NULL,
        account           TEXT    NOT NULL DEFAULT '',
        raw_sha256        TEXT,
        last_error_detail TEXT,
        extras            TEXT,
        expired_at        INTEGER,
        UNIQUE (identity, mailbox, uid_validity, uid)
      );
      INSERT INTO messages_new (ref, identity, mailbox, uid_validity, uid, protocol, fingerprint, message_id, sender,
          subject, date, size, state, action, move_to, transition, attempts, last_error, first_seen_at, updated_at,
          handled_at, done_at, on_server, run_id, account, raw_sha256, last_error_detail, extras, expired_at)
        SELECT ref, identity, mailbox, uid_validity, uid, protocol, fingerprint, message_id, sender,
          subject, date, size, state, action, move_to, transition, attempts, last_error, first_seen_at, updated_at,
          handled_at, done_at, on_server, run_id, account, raw_sha256, last_error_detail, extras, expired_at
        FROM messages;
      DELETE FROM sqlite_sequence WHERE name = 'messages_new';
      INSERT INTO sqlite_sequence (name, seq) SELECT 'messages_new', seq FROM sqlite_sequence WHERE name = 'messages';
      DROP TABLE messages;
      ALTER TABLE messages_new RENAME TO messages;
      CREATE INDEX messages_fingerprint ON messages (identity, fingerprint) WHERE fingerprint IS NOT NULL;
      CREATE INDEX messages_state ON messages (identity, mailbox, state);
      CREATE INDEX messages_updated ON messages (updated_at);
      CREATE INDEX messages_purgeable ON messages (updated_at) WHERE state = 'done' AND on_server = 0;
      CREATE INDEX messages_run ON messages (run_id);
      CREATE INDEX messages_account ON messages (account);

      -- One row per mailbox whose baseline was taken (startFrom, mailpoll baseline): a first
      -- run that found an empty mailbox must not take it again when mail arrives later.
      CREATE TABLE baselines (
        identity  TEXT    NOT NULL,
        mailbox   TEXT    NOT NULL,
        taken_at  INTEGER NOT NULL,
        PRIMARY KEY (identity, mailbox)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 7,
    description: 'workers (every --watch process on the store), the worker of each lease, lease tokens that only grow',
    // A worker is live while expires_at (its last heartbeat plus its lease TTL) is not past.
    // A lease's worker_id is NULL when a one-shot process took it (acquireLease). Tokens come
    // from the one-row counter lease_tokens, as on PostgreSQL from a sequence: every takeover
    // writes a larger one. A lease taken before this migration keeps its (random) token until
    // it is released or taken over: tokens are only ever compared for equality.
    sql: `
      CREATE TABLE workers (
        id            TEXT    PRIMARY KEY,
        host          TEXT    NOT NULL,
        pid           INTEGER NOT NULL,
        started_at    INTEGER NOT NULL,
        heartbeat_at  INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX workers_expires ON workers (expires_at);

      ALTER TABLE leases ADD COLUMN worker_id TEXT;
      CREATE INDEX leases_worker ON leases (worker_id) WHERE worker_id IS NOT NULL;

      CREATE TABLE lease_tokens (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        last  INTEGER NOT NULL
      );
      INSERT INTO lease_tokens (id, last) VALUES (1, 0);
    `,
  },
];

/** The version this mailpoll writes and understands. */
export const SCHEMA_VERSION: number = migrations.length;

/** `PRAGMA user_version`. */
export function readUserVersion(db: Database.Database): number {
  return readScalar(db, 'PRAGMA user_version') as number;
}

/**
 * Bring the store from `user_version` up to `SCHEMA_VERSION`. Re-reads the version inside
 * each transaction: another process may have migrated in the meantime. Returns the versions
 * that were applied (empty when the store was already current).
 * Throws `NewerStoreVersion` when a newer mailpoll got there first.
 */
export function migrateStore(db: Database.Database): number[] {
  const applied: number[] = [];
  for (const migration of migrations) {
    const step = db.transaction(() => {
      const current = readUserVersion(db);
      if (current > SCHEMA_VERSION) throw new NewerStoreVersion(current);
      if (current >= migration.version) return;
      if (current !== migration.version - 1) {
        throw new Error(`store schema: cannot apply migration ${migration.version} to version ${current}`);
      }
      if (migration.version === 1) setPragma(db, `application_id = ${APPLICATION_ID}`);
      db.exec(migration.sql);
      setPragma(db, `user_version = ${migration.version}`);
      applied.push(migration.version);
    });
    step.immediate();
  }
  return applied;
}

/** The store was written by a newer mailpoll; carries its version for the message. */
export class NewerStoreVersion extends Error {
  constructor(readonly version: number) {
    super(`store version ${version} is newer than ${SCHEMA_VERSION}`);
  }
}
