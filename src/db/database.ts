import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import * as schema from "../../schema/schema.js";

export type Db = BetterSQLite3Database<typeof schema>;

export interface PosternDatabase {
  readonly db: Db;
  readonly sqlite: Database.Database;
  close(): void;
}

const MIGRATIONS_FOLDER = resolve(dirname(fileURLToPath(import.meta.url)), "../../schema/migrations");

export interface OpenOptions {
  readonly path: string;
  readonly synchronous?: "FULL" | "NORMAL";
  readonly busyTimeoutMs?: number;
  /** Apply pending migrations on open (the gateway and CLI do; `db migrate` does it explicitly). */
  readonly migrate?: boolean;
}

/** The one place SQLite is opened: WAL, foreign keys, durable commits, migrations. */
export function openDatabase(options: OpenOptions): PosternDatabase {
  if (options.path !== ":memory:") mkdirSync(dirname(resolve(options.path)), { recursive: true });
  const sqlite = new Database(options.path);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  const db = drizzle(sqlite, { schema });
  if (options.migrate ?? true) applyMigrations(db);
  return { db, sqlite, close: () => sqlite.close() };
}

export function applyMigrations(db: Db): void {
  migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
}

/** Applied migrations, for `db migrate` to report. */
export function appliedMigrationCount(sqlite: Database.Database): number {
  const row = sqlite.prepare("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number };
  return row.n;
}
