import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type Database from "better-sqlite3";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { Refusal } from "../errors/refusal.js";

/**
 * Applies the drizzle-kit migrations in schema/migrations, safely when several processes open the
 * same database at once.
 *
 * Why not drizzle's own `migrate()`: its SQLite migrator reads the newest row of
 * `__drizzle_migrations` outside any transaction, and only then opens a deferred `BEGIN`. Two
 * processes starting together (the gateway and a CLI command, or two CLI commands) can both read
 * "nothing applied", both decide to run migration 0000, and the second then fails on
 * `CREATE TABLE users` (table already exists), or on SQLITE_BUSY when its deferred transaction
 * tries to upgrade to a writer. Here the decision is made while holding SQLite's write lock, so
 * it cannot be stale.
 *
 * The bookkeeping is drizzle's, byte for byte: the same table, the same columns, a row per
 * migration with hash = sha256 of the file's SQL and created_at = the journal entry's `when`, and
 * the same rule for what is applied (every migration whose `when` is at most the newest row's
 * created_at). A database migrated by drizzle's `migrate()` is up to date here, and the reverse.
 */

/**
 * A folder of schema/ in the checkout, found from this file so it holds whatever the working
 * directory: the nearest schema/NAME with a drizzle journal above src/db, or above dist/src/db
 * (the build compiles the schema's TypeScript but leaves the SQL where drizzle-kit writes it).
 */
export function schemaFolder(name: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = resolve(here, "../.."); ; dir = dirname(dir)) {
    const folder = join(dir, "schema", name);
    if (existsSync(join(folder, "meta", "_journal.json"))) return folder;
    if (dirname(dir) === dir) return resolve(here, "../../schema", name);
  }
}

/** schema/migrations in the checkout. */
export const MIGRATIONS_FOLDER = schemaFolder("migrations");

/** drizzle's default table name; drizzle's `migrate()` uses it when no `migrationsTable` is given. */
const MIGRATIONS_TABLE = "__drizzle_migrations";

/**
 * Exactly drizzle's CREATE statement (sqlite-core dialect), so the table is identical whichever
 * code made it. `SERIAL` is not `INTEGER`, so `id` is not a rowid alias and stays NULL: drizzle's
 * rows look like that too, and nothing reads `id`.
 */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "${MIGRATIONS_TABLE}" (
  id SERIAL PRIMARY KEY,
  hash text NOT NULL,
  created_at numeric
)`;

export interface MigrationStatus {
  readonly applied: number;
  readonly total: number;
  readonly pending: number;
}

export interface MigrationResult {
  readonly applied: number;
  readonly total: number;
  /** Migrations this call ran; 0 when the database was already up to date (or another process got there first). */
  readonly ran: number;
}

interface Migration {
  /** The file name, `NNNN_name.sql`, for error messages. */
  readonly file: string;
  readonly statements: readonly string[];
  /** The journal entry's `when`: what drizzle stores as created_at and compares against. */
  readonly folderMillis: number;
  readonly hash: string;
}

/**
 * The folder's migrations in journal order. Statements, hash and `when` come from drizzle's own
 * `readMigrationFiles`, so they are what drizzle's `migrate()` would record; the journal is read
 * again only for the file names, which drizzle does not return.
 */
function loadMigrations(folder: string): Migration[] {
  const files = readMigrationFiles({ migrationsFolder: folder });
  const journal = JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string; when: number }[];
  };
  if (journal.entries.length !== files.length) {
    throw new Error(`The migration journal in ${folder} changed while it was being read; try again.`);
  }
  return files.map((m, i) => ({
    file: `${journal.entries[i]!.tag}.sql`,
    statements: m.sql,
    folderMillis: m.folderMillis,
    hash: m.hash,
  }));
}

function migrationsTableExists(sqlite: Database.Database): boolean {
  return (
    sqlite.prepare("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?").get(MIGRATIONS_TABLE) !==
    undefined
  );
}

/** created_at of the newest applied migration, or undefined when none is recorded (drizzle's query). */
function lastAppliedMillis(sqlite: Database.Database): number | undefined {
  const row = sqlite
    .prepare(`SELECT created_at FROM "${MIGRATIONS_TABLE}" ORDER BY created_at DESC LIMIT 1`)
    .get() as { created_at: number | bigint | string | null } | undefined;
  return row === undefined ? undefined : Number(row.created_at);
}

/** drizzle's rule: a migration is pending when nothing is recorded or its `when` is newer than the newest row. */
function isPending(migration: Migration, last: number | undefined): boolean {
  return last === undefined || last < migration.folderMillis;
}

/** How far the database is migrated. Read-only: it neither creates the migrations table nor takes the write lock. */
export function migrationStatus(sqlite: Database.Database, folder: string = MIGRATIONS_FOLDER): MigrationStatus {
  const migrations = loadMigrations(folder);
  const last = migrationsTableExists(sqlite) ? lastAppliedMillis(sqlite) : undefined;
  const pending = migrations.filter((m) => isPending(m, last)).length;
  return { applied: migrations.length - pending, total: migrations.length, pending };
}

/**
 * Applies the pending migrations in one transaction and records each as drizzle does.
 *
 * `BEGIN IMMEDIATE` takes SQLite's write lock before anything is read, so a second process (or
 * connection) calling this at the same moment waits at that BEGIN, up to the connection's
 * busy_timeout, and then sees the first one's rows and runs nothing. (In WAL mode a deferred
 * transaction that has already read cannot wait for the lock: its upgrade fails at once with
 * SQLITE_BUSY, which is the other half of drizzle's race.) On any error the whole run is rolled
 * back, leaving the database as it was, and the error names the migration file that failed.
 */
export function applyMigrations(sqlite: Database.Database, folder: string = MIGRATIONS_FOLDER): MigrationResult {
  const migrations = loadMigrations(folder);
  if (sqlite.inTransaction) {
    // BEGIN IMMEDIATE would fail, and committing here would commit the caller's work too.
    throw new Error("Migrations cannot be applied inside an open transaction.");
  }
  sqlite.exec("BEGIN IMMEDIATE");
  try {
    sqlite.exec(CREATE_MIGRATIONS_TABLE);
    const last = lastAppliedMillis(sqlite);
    const pending = migrations.filter((m) => isPending(m, last));
    const record = sqlite.prepare(`INSERT INTO "${MIGRATIONS_TABLE}" ("hash", "created_at") VALUES (?, ?)`);
    for (const migration of pending) {
      migration.statements.forEach((statement, i) => {
        try {
          // exec, not prepare: a chunk may hold several statements (journals without breakpoints) or only a comment.
          sqlite.exec(statement);
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          throw new Error(
            `Migration ${migration.file} failed at statement ${i + 1} of ${migration.statements.length}: ${reason}`,
            { cause: error },
          );
        }
      });
      record.run(migration.hash, migration.folderMillis);
    }
    sqlite.exec("COMMIT");
    return { applied: migrations.length, total: migrations.length, ran: pending.length };
  } catch (error) {
    // Some errors (SQLITE_FULL, SQLITE_IOERR…) make SQLite roll back by itself; ROLLBACK would then fail and hide the cause.
    if (sqlite.inTransaction) sqlite.exec("ROLLBACK");
    throw error;
  }
}

/**
 * Refuses, with the sentence the CLI prints, a database at `path` with migrations pending:
 * migrating it from an admin command could change the schema under a running gateway.
 */
export function assertMigrated(sqlite: Database.Database, path: string, folder: string = MIGRATIONS_FOLDER): void {
  const { applied, total, pending } = migrationStatus(sqlite, folder);
  if (pending > 0) {
    throw new Refusal(
      "database_out_of_date",
      `The database at ${path} is not up to date (${applied} of ${total} migrations applied): run "postern db migrate" or start "postern serve", which migrates it.`,
    );
  }
}
