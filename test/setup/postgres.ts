/**
 * globalSetup of the `postgres` vitest project: one throwaway PostgreSQL cluster for the whole run
 * (scripts/postgres-cluster.mjs), and in it the template database `postern_template` that every
 * test database is copied from (test/helpers/postgres.ts, createPostgresDatabase).
 *
 * Tests read the cluster's URL with inject("postgresUrl"); it is "" where PostgreSQL is not
 * available (then a line says why, and the suite is skipped). In CI it must be available: there a
 * failure to start it fails the run instead of passing without PostgreSQL.
 *
 * Schema: if test/setup/migrate-template.ts exists and exports migrateTemplate(url), it is called
 * with the template database's URL once per run, so each test database starts migrated for the
 * price of a file copy rather than a migration run.
 *
 * POSTERN_DEBUG_POSTGRES=1 prints the cluster's start and stop steps with their timings.
 */
import { existsSync } from "node:fs";
import { startCluster, stopOnExit, type Cluster } from "../../scripts/postgres-cluster.mjs";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** postgres://postern@127.0.0.1:PORT/postgres, or "" where PostgreSQL is not available. */
    postgresUrl: string;
  }
}

/** The database every test database is created from (CREATE DATABASE … TEMPLATE). */
export const TEMPLATE_DATABASE = "postern_template";



const MIGRATE_TEMPLATE = fileURLToPath(new URL("./migrate-template.ts", import.meta.url));

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const started = Date.now();
  let cluster: Cluster;
  try {
    cluster = await startCluster({ log: process.env.POSTERN_DEBUG_POSTGRES ? (line) => console.error(line) : undefined });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (error instanceof Error && error.name === "PostgresUnavailableError" && !process.env.CI) {
      console.warn(`PostgreSQL suite skipped: ${reason}`);
      project.provide("postgresUrl", "");
      return undefined;
    }
    throw new Error(`could not start the PostgreSQL test cluster: ${reason}`, { cause: error });
  }
  // A run ended by Ctrl-C or a crash does not reach the teardown: stop the server on exit too.
  const unhook = stopOnExit(cluster);
  try {
    await createTemplate(cluster.url);
  } catch (error) {
    unhook();
    await cluster.stop();
    throw error;
  }
  console.log(`PostgreSQL test cluster ready in ${Date.now() - started} ms (${cluster.url})`);
  project.provide("postgresUrl", cluster.url);

  return async () => {
    const stopping = Date.now();
    unhook();
    await cluster.stop();
    if (process.env.POSTERN_DEBUG_POSTGRES) console.error(`PostgreSQL test cluster stopped in ${Date.now() - stopping} ms`);
  };
}

async function createTemplate(url: string): Promise<void> {
  await sql(url, `CREATE DATABASE ${TEMPLATE_DATABASE}`);
  const templateUrl = databaseUrl(url, TEMPLATE_DATABASE);
  if (existsSync(MIGRATE_TEMPLATE)) {
    const hook = (await import(pathToFileURL(MIGRATE_TEMPLATE).href)) as { migrateTemplate?: (url: string) => Promise<void> | void };
    if (typeof hook.migrateTemplate === "function") await hook.migrateTemplate(templateUrl);
  }
  // CREATE DATABASE … TEMPLATE fails while anyone is connected to the template: end whatever the
  // migration left open, then refuse further connections so no test can hold it by mistake.
  await sql(
    url,
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${TEMPLATE_DATABASE}' AND pid <> pg_backend_pid()`,
    `ALTER DATABASE ${TEMPLATE_DATABASE} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`,
  );
}

/** The same server, another database. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs statements one by one on a connection of its own (CREATE/DROP DATABASE cannot share a transaction). */
export async function sql(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}
