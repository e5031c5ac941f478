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
  cacheStatements(sqlite);
  const db = drizzle(sqlite, { schema });
  if (options.migrate ?? true) applyMigrations(db);
  return { db, sqlite, close: () => sqlite.close() };
}

/**
 * drizzle prepares a new better-sqlite3 statement for every query it runs; SQLite's compile step
 * then costs more than the query. The same query shape gives the same SQL text, so statements are
 * kept by text. drizzle switches a statement to raw (array) rows itself right before it wants
 * them, so a statement handed out again starts in the default mode. Bounded: `IN (…)` lists of
 * every length make distinct texts, and mail decides those lengths.
 */
const MAX_CACHED_STATEMENTS = 500;

function cacheStatements(sqlite: Database.Database): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const statements = new Map<string, Database.Statement>();
  sqlite.prepare = ((source: string) => {
    let statement = statements.get(source);
    if (!statement) {
      statement = prepare(source);
      if (statements.size >= MAX_CACHED_STATEMENTS) statements.delete(statements.keys().next().value as string);
      statements.set(source, statement);
    } else if (statement.reader) {
      statement.raw(false);
    }
    return statement;
  }) as typeof sqlite.prepare;
}

export function applyMigrations(db: Db): void {
  migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
}

/** Applied migrations, for `db migrate` to report. */
export function appliedMigrationCount(sqlite: Database.Database): number {
  const row = sqlite.prepare("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number };
  return row.n;
}
