import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type pg from "pg";
import { Refusal } from "../errors/refusal.js";
import { schemaFolder } from "./migrations.js";

/** schema/migrations-pg in the checkout, from src/db or dist/src/db. */
export const PG_MIGRATIONS_FOLDER = schemaFolder("migrations-pg");

/**
 * Any fixed number: every Postern node asks for the same advisory lock, so nodes starting
 * together apply each migration once while the others wait for them.
 */
const MIGRATION_LOCK = 7_365_420_911;

export interface PgMigrationStatus {
  readonly applied: number;
  readonly total: number;
  readonly pending: number;
}

/** What drizzle has recorded in drizzle.__drizzle_migrations against the journal, as drizzle decides. */
export async function pgMigrationStatus(client: pg.ClientBase, folder = PG_MIGRATIONS_FOLDER): Promise<PgMigrationStatus> {
  const migrations = readMigrationFiles({ migrationsFolder: folder });
  const table = await client.query<{ exists: boolean }>("SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists");
  let last: number | undefined;
  if (table.rows[0]?.exists) {
    const newest = await client.query<{ created_at: string }>("SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1");
    last = newest.rows[0] ? Number(newest.rows[0].created_at) : undefined;
  }
  const pending = migrations.filter((m) => last === undefined || m.folderMillis > last).length;
  return { applied: migrations.length - pending, total: migrations.length, pending };
}

/** Applies pending migrations while holding the advisory lock; answers how many ran. */
export async function applyPgMigrations(pool: pg.Pool, folder = PG_MIGRATIONS_FOLDER): Promise<{ ran: number; total: number }> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    try {
      const before = await pgMigrationStatus(client, folder);
      if (before.pending > 0) await migrate(drizzle(client), { migrationsFolder: folder });
      return { ran: before.pending, total: before.total };
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

/** Refuses, with the sentence the CLI prints, a database with migrations pending. */
export async function assertPgMigrated(pool: pg.Pool, shownAs: string): Promise<void> {
  const client = await pool.connect();
  try {
    const { applied, total, pending } = await pgMigrationStatus(client);
    if (pending === 0) return;
    throw new Refusal(
      "database_out_of_date",
      `The database at ${shownAs} is not up to date (${applied} of ${total} migrations applied): run "postern db migrate" or start "postern serve", which migrates it.`,
    );
  } finally {
    client.release();
  }
}
