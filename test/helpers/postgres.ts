/**
 * PostgreSQL for tests of the `postgres` vitest project. The project's globalSetup
 * (test/setup/postgres.ts) starts one throwaway cluster per run and a migrated template database;
 * each test (or file) takes a database of its own, copied from that template.
 *
 *   const db = await createPostgresDatabase();   // postgres://postern@127.0.0.1:PORT/postern_t_…
 *   …
 *   await db.drop();
 */
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { databaseUrl, sql, TEMPLATE_DATABASE } from "../setup/postgres.js";

/** The storage engine this run's tests use: the `postgres` project sets POSTERN_TEST_ENGINE=postgres. */
export const ENGINE: "sqlite" | "postgres" = process.env.POSTERN_TEST_ENGINE === "postgres" ? "postgres" : "sqlite";

/** The test cluster's URL (its `postgres` database), or "" where PostgreSQL is not available. */
export function postgresUrl(): string {
  // Outside the postgres project nothing is provided: inject() answers undefined.
  return inject("postgresUrl") ?? "";
}

export interface PostgresTestDatabase {
  /** Connection URL of this database. */
  readonly url: string;
  readonly name: string;
  /** Drops the database, ending any connection still open to it; a second call does nothing. */
  drop(): Promise<void>;
}

/**
 * A fresh database with a unique name, copied from the migrated template; with `empty: true`, from
 * PostgreSQL's own empty template0 instead (for tests of the migrations themselves).
 */
export async function createPostgresDatabase({ empty = false }: { empty?: boolean } = {}): Promise<PostgresTestDatabase> {
  const admin = postgresUrl();
  if (!admin) {
    throw new Error(
      "PostgreSQL is not available to this test (inject('postgresUrl') is empty): run it in the postgres project (vitest --project postgres)",
    );
  }
  // Lowercase hex: a valid unquoted identifier, unique across the workers of a run.
  const name = `postern_t_${randomBytes(6).toString("hex")}`;
  await sql(admin, `CREATE DATABASE ${name} TEMPLATE ${empty ? "template0" : TEMPLATE_DATABASE}`);
  let dropped: Promise<void> | undefined;
  return {
    url: databaseUrl(admin, name),
    name,
    drop() {
      // WITH (FORCE): a pool a failing test left open must not keep the database alive.
      dropped ??= sql(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      return dropped;
    },
  };
}
