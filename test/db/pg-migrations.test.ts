// PostgreSQL migrations (src/db/pg-migrations.ts) on databases created EMPTY (from template0), not
// from the run's migrated template: status, two nodes migrating at the same moment, and the
// refusal every command but `serve` and `db migrate` gives a database that is not up to date.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { openStore } from "../../src/db/database.js";
import { applyPgMigrations, PG_MIGRATIONS_FOLDER, pgMigrationStatus } from "../../src/db/pg-migrations.js";
import { Refusal } from "../../src/errors/refusal.js";
import { createPostgresDatabase, ENGINE, type PostgresTestDatabase } from "../helpers/postgres.js";

const JOURNAL = JSON.parse(readFileSync(join(PG_MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8")) as { entries: unknown[] };
const TOTAL = JOURNAL.entries.length;
/** Trust authentication ignores it; it is here to be masked. */
const PASSWORD = "s3cret";

const databases: PostgresTestDatabase[] = [];
const pools: pg.Pool[] = [];

async function emptyDatabase(): Promise<PostgresTestDatabase> {
  if (ENGINE !== "postgres") throw new Error("test/db/pg-*.test.ts runs in the postgres project only");
  const db = await createPostgresDatabase({ empty: true });
  databases.push(db);
  return db;
}

function poolOf(url: string, max = 2): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on("error", () => undefined);
  pools.push(pool);
  return pool;
}

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

async function status(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await pgMigrationStatus(client);
  } finally {
    await client.end();
  }
}

const userTables = (url: string) =>
  query<{ name: string }>(url, "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1").then(
    (rows) => rows.map((row) => row.name),
  );

interface LockTiming {
  requested?: number;
  granted?: number;
}

/**
 * The pool with its clients' `pg_advisory_lock` call held back until `parties` pools have reached
 * it, so the nodes ask for the migration lock at the same moment rather than one after the other.
 */
function meetingAtTheLock(pool: pg.Pool, gate: { arrive(): Promise<void> }, timing: LockTiming): pg.Pool {
  const wrapClient = (client: pg.PoolClient): pg.PoolClient =>
    new Proxy(client, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as unknown;
        if (property !== "query" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          const text = typeof args[0] === "string" ? args[0] : "";
          if (!text.includes("pg_advisory_lock(")) return (value as (...a: unknown[]) => unknown).apply(target, args);
          await gate.arrive();
          timing.requested = performance.now();
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          timing.granted = performance.now();
          return result;
        };
      },
    });
  return new Proxy(pool, {
    get(target, property) {
      if (property === "connect") return async () => wrapClient(await target.connect());
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function gate(parties: number): { arrive(): Promise<void> } {
  let arrived = 0;
  let release!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  return {
    arrive() {
      if (++arrived >= parties) release();
      return opened;
    },
  };
}

/** The database's URL with a password in it. */
function withPassword(url: string): string {
  const u = new URL(url);
  u.password = PASSWORD;
  return u.toString();
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end().catch(() => undefined)));
  await Promise.all(databases.splice(0).map((db) => db.drop()));
});

describe("PostgreSQL migrations on an empty database", () => {
  it("has migrations to apply at all (the journal is read)", () => {
    expect(TOTAL).toBeGreaterThanOrEqual(2);
  });

  it("reports every migration pending", async () => {
    const db = await emptyDatabase();
    expect(await status(db.url)).toEqual({ applied: 0, total: TOTAL, pending: TOTAL });
  });

  it("two nodes migrating at the same moment both succeed, and each migration is recorded once", async () => {
    const db = await emptyDatabase();
    const meet = gate(2);
    const timings: [LockTiming, LockTiming] = [{}, {}];
    const [one, two] = [meetingAtTheLock(poolOf(db.url), meet, timings[0]), meetingAtTheLock(poolOf(db.url), meet, timings[1])];
    const results = await Promise.all([applyPgMigrations(one), applyPgMigrations(two)]);

    // Both asked for the lock before either had it: they really met there.
    expect(Math.max(timings[0].requested!, timings[1].requested!)).toBeLessThan(Math.min(timings[0].granted!, timings[1].granted!));

    // The advisory lock: one node ran them all, the other waited and found nothing left to do.
    expect(results.map((r) => r.total)).toEqual([TOTAL, TOTAL]);
    expect(results.map((r) => r.ran).sort((a, b) => a - b)).toEqual([0, TOTAL]);
    const [recorded] = await query<{ count: string }>(db.url, "SELECT count(*) AS count FROM drizzle.__drizzle_migrations");
    expect(Number(recorded!.count)).toBe(TOTAL);
    expect(await status(db.url)).toEqual({ applied: TOTAL, total: TOTAL, pending: 0 });

    // A third run has nothing to do.
    expect(await applyPgMigrations(poolOf(db.url, 1))).toEqual({ ran: 0, total: TOTAL });
    const [again] = await query<{ count: string }>(db.url, "SELECT count(*) AS count FROM drizzle.__drizzle_migrations");
    expect(Number(again!.count)).toBe(TOTAL);
  });

  it("creates the triggers that keep a sent post immutable, and those that count the posts sent", async () => {
    const db = await emptyDatabase();
    await applyPgMigrations(poolOf(db.url, 1));
    const triggers = await query<{ tgname: string; relname: string }>(
      db.url,
      "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal ORDER BY t.tgname",
    );
    expect(triggers).toEqual([
      { tgname: "conversation_counts_post_inserted", relname: "posts" },
      { tgname: "conversation_counts_post_sent", relname: "posts" },
      { tgname: "posts_sent_are_immutable", relname: "posts" },
      { tgname: "posts_sent_cannot_be_deleted", relname: "posts" },
    ]);
  });

  it("openStore(require-current) refuses an empty database as out of date, naming the URL without its password, and changes nothing", async () => {
    const db = await emptyDatabase();
    const url = withPassword(db.url);
    expect(url).toContain(`:${PASSWORD}@`);
    const database = buildConfig({ database: { engine: "postgres", url, pool_size: 2 } }, "test").database;

    let refusal: unknown;
    try {
      const store = await openStore(database, "require-current");
      await store.close();
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(Refusal);
    const { reason, sentence } = refusal as Refusal;
    expect(reason).toBe("database_out_of_date");
    expect(sentence).not.toContain(PASSWORD);
    const masked = new URL(db.url);
    masked.password = "****";
    expect(sentence).toContain(`The database at ${masked.toString()} is not up to date (0 of ${TOTAL} migrations applied)`);
    expect(sentence).toContain("postern db migrate");
    // Refused, not migrated behind a running gateway's back.
    expect(await userTables(db.url)).toEqual([]);
  });

  it("openStore(migrate) migrates an empty database, after which require-current opens it", async () => {
    const db = await emptyDatabase();
    const database = buildConfig({ database: { engine: "postgres", url: withPassword(db.url), pool_size: 2 } }, "test").database;
    const first = await openStore(database, "migrate");
    await first.close();
    expect(await status(db.url)).toEqual({ applied: TOTAL, total: TOTAL, pending: 0 });
    const second = await openStore(database, "require-current");
    await second.close();
  });
});
