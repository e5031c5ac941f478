import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import * as schema from "../../schema/schema.js";
import { Refusal } from "../errors/refusal.js";
import { applyMigrations, assertMigrated } from "./migrations.js";
import { SqliteStore, WalSync, WriteLock, type CommitSync } from "./sqlite-store.js";
import { checkpointerFor, FALLBACK_AUTOCHECKPOINT_PAGES } from "./wal-checkpointer.js";
import type { Store } from "./store.js";
import { maskedUrl, type Config } from "../config/config.js";
import { PgStore } from "./pg-store.js";
import { applyPgMigrations, assertPgMigrated } from "./pg-migrations.js";
import pg from "pg";

export interface OpenOptions {
  readonly path: string;
  readonly synchronous?: "FULL" | "NORMAL";
  readonly busyTimeoutMs?: number;
  /**
   * `migrate`: apply pending migrations under the write lock (`db migrate`, `serve`).
   * `require-current`: refuse a database that is missing or not up to date (every other command),
   * rather than changing its schema behind a running gateway's back.
   */
  readonly migrations: "migrate" | "require-current";
}

/**
 * The database the configuration names, migrated (`serve`, `db migrate`) or checked to be up to
 * date (every other command).
 */
export async function openStore(database: Config["database"], migrations: OpenOptions["migrations"]): Promise<Store> {
  if (database.engine === "sqlite") {
    return openSqliteStore({ path: database.path, synchronous: database.synchronous, busyTimeoutMs: database.busy_timeout, migrations });
  }
  const url = database.url;
  if (!url) throw new Refusal("invalid_input", 'engine "postgres" needs [database] url or POSTERN_DATABASE_URL.');
  const pool = new pg.Pool({ connectionString: url, max: database.pool_size });
  // A connection dropped while idle (the server restarted) must not end the process.
  pool.on("error", () => undefined);
  try {
    if (migrations === "migrate") await applyPgMigrations(pool);
    else await assertPgMigrated(pool, maskedUrl(url));
  } catch (error) {
    await pool.end();
    throw unreachable(error, url);
  }
  return new PgStore(pool);
}

/** pg's errors for a server that is not there or will not let us in (SQLSTATE classes 08, 28, 3D, 57P03). */
const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET"]);
const CONNECTION_STATES = /^(08|28|3D)|^57P03$/;

/**
 * A database that cannot be reached, or that refuses us, named by its URL (password masked) in a
 * sentence a person can act on, instead of pg's bare "connect ECONNREFUSED 127.0.0.1:5432". Any
 * other error passes unchanged.
 */
function unreachable(error: unknown, url: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !(CONNECTION_ERRORS.has(code) || CONNECTION_STATES.test(code))) return error;
  const reason = (error as Error).message.split("\n")[0];
  return new Refusal("temporary_failure", `Cannot use the PostgreSQL database ${maskedUrl(url)}: ${reason}.`);
}

/** `postern db migrate`, on either engine: applies pending migrations under a lock. */
export async function migrate(database: Config["database"]): Promise<{ ran: number; total: number; where: string }> {
  if (database.engine === "sqlite") return { ...migrateDatabase({ path: database.path, busyTimeoutMs: database.busy_timeout }), where: database.path };
  if (!database.url) throw new Refusal("invalid_input", 'engine "postgres" needs [database] url or POSTERN_DATABASE_URL.');
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  try {
    return { ...(await applyPgMigrations(pool)), where: maskedUrl(database.url) };
  } catch (error) {
    throw unreachable(error, database.url);
  } finally {
    await pool.end();
  }
}

/** The one place SQLite is opened: WAL, foreign keys, durable commits, migrations. */
export function openSqliteStore(options: OpenOptions): Store {
  const path = options.path;
  if (path !== ":memory:") {
    if (options.migrations === "require-current" && !existsSync(resolve(path))) {
      throw new Refusal(
        "not_found",
        `There is no database at ${path}: run "postern db migrate" or start "postern serve", which creates it.`,
      );
    }
    mkdirSync(dirname(resolve(path)), { recursive: true });
  }
  const sqlite = new Database(path);
  let commitSync: CommitSync | undefined;
  let checkpointer: ReturnType<typeof checkpointerFor> | undefined;
  try {
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
    sqlite.pragma("foreign_keys = ON");
    // The group commit runs each message's transaction as a savepoint, and SQLite keeps a copy of
    // every page a savepoint changes in a statement journal: by default a temporary file under
    // /var/tmp, written page by page (about 20 writes per inbound message, each a system call).
    // In memory it holds the same pages for the length of one batch.
    sqlite.pragma("temp_store = MEMORY");
    // The Store waits for other connections' locks itself, without blocking the event loop; the
    // migration below is the one synchronous wait, before anything else runs.
    sqlite.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    if (options.migrations === "migrate") applyMigrations(sqlite);
    else assertMigrated(sqlite, path);
    sqlite.pragma("busy_timeout = 0");
    // FULL would fsync inside every COMMIT, blocking the event loop (and every SMTP session) for
    // the length of a disk flush: the Store syncs the WAL from the thread pool instead (WalSync).
    if ((options.synchronous ?? "FULL") === "FULL" && path !== ":memory:") {
      sqlite.pragma("synchronous = NORMAL");
      commitSync = new WalSync(`${resolve(path)}-wal`);
    }
    // SQLite's automatic checkpoint would copy the WAL back inside a COMMIT, on the event loop.
    if (path !== ":memory:") {
      checkpointer = checkpointerFor(path);
      sqlite.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    }
  } catch (error) {
    sqlite.close();
    void checkpointer?.close();
    throw error;
  }
  return new SqliteStore(sqlite, drizzle(sqlite, { schema }), schema, {
    busyTimeoutMs: options.busyTimeoutMs ?? 5000,
    writeLock: writeLockFor(path),
    ...(commitSync ? { commitSync } : {}),
    ...(checkpointer ? { checkpointer } : {}),
  });
}

const writeLocks = new Map<string, WriteLock>();

function writeLockFor(path: string): WriteLock {
  // Each ":memory:" connection is its own database, so it shares a lock with nobody.
  if (path === ":memory:") return new WriteLock();
  const key = resolve(path);
  let lock = writeLocks.get(key);
  if (!lock) {
    lock = new WriteLock();
    writeLocks.set(key, lock);
  }
  return lock;
}

/** The memory behind this process's write lock for a SQLite file, for a thread that opens the same file. */
export function sharedWriteLock(database: Config["database"]): SharedArrayBuffer | undefined {
  return database.engine === "sqlite" && database.path !== ":memory:" ? writeLockFor(database.path).buffer : undefined;
}

/** In a thread: take turns for the file's write lock with the thread that passed `buffer` (sharedWriteLock). */
export function adoptWriteLock(database: Config["database"], buffer: SharedArrayBuffer): void {
  if (database.engine !== "sqlite" || database.path === ":memory:") return;
  writeLocks.set(resolve(database.path), new WriteLock(buffer));
}

/** `postern db migrate`: applies pending migrations under the write lock and closes the database. */
export function migrateDatabase(options: Pick<OpenOptions, "path" | "busyTimeoutMs">): { ran: number; total: number } {
  mkdirSync(dirname(resolve(options.path)), { recursive: true });
  const sqlite = new Database(options.path);
  try {
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    const { ran, total } = applyMigrations(sqlite);
    return { ran, total };
  } finally {
    sqlite.close();
  }
}
