import pg from "pg";
import { applyPgMigrations } from "../../src/db/pg-migrations.js";

/**
 * Called by the globalSetup once per run: every test database is copied from this template, so
 * each starts migrated exactly as `postern db migrate` leaves one, without paying for it each time.
 */
export async function migrateTemplate(url: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await applyPgMigrations(pool);
  } finally {
    await pool.end();
  }
}
