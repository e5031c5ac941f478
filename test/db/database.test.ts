import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { sql } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { migrateDatabase, openSqliteStore } from "../../src/db/database.js";
import { MIGRATIONS_FOLDER, applyMigrations, migrationStatus } from "../../src/db/migrations.js";
import type { Store } from "../../src/db/store.js";
import { Refusal } from "../../src/errors/refusal.js";
import { createTestStore, type TestStore } from "../helpers/database.js";

const JOURNAL = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8")) as { entries: unknown[] };
const TOTAL = JOURNAL.entries.length;

let t: TestStore;
const stores: Store[] = [];
const raws: Database.Database[] = [];

function raw(path: string): Database.Database {
  const sqlite = new Database(path);
  raws.push(sqlite);
  return sqlite;
}

/** Opens a store that the test's cleanup closes. */
function open(options: Parameters<typeof openSqliteStore>[0]): Store {
  const store = openSqliteStore(options);
  stores.push(store);
  return store;
}

/** The Refusal `work` throws, or a failure when it throws none. */
function refusalOf(work: () => unknown): Refusal {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(Refusal);
    return error as Refusal;
  }
  throw new Error("expected a refusal");
}

/** A database as the previous release left it: every migration but the newest. */
function previousReleaseDatabase(path: string): void {
  const folder = join(t.dir, "previous-migrations");
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  writeFileSync(join(folder, "meta", "_journal.json"), JSON.stringify({ ...JOURNAL, entries: JOURNAL.entries.slice(0, -1) }));
  const sqlite = raw(path);
  sqlite.pragma("journal_mode = WAL");
  expect(applyMigrations(sqlite, folder).ran).toBe(TOTAL - 1);
  sqlite.close();
}

/** What SQLite said: drizzle wraps a failed query's error in one of its own, the driver's as the cause. */
async function sqliteError(work: Promise<unknown>): Promise<string> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e as { message: string; cause?: { message: string } },
  );
  if (!error) throw new Error("expected the query to fail");
  return error.cause?.message ?? error.message;
}

const pragma = (store: Store, name: string) => store.read(async (tx) => tx.db.get<Record<string, unknown>>(sql.raw(`PRAGMA ${name}`)));

beforeEach(async () => {
  t = await createTestStore();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const sqlite of raws.splice(0)) if (sqlite.open) sqlite.close();
  await t.dispose();
});

describe("openStore", () => {
  it("sets WAL, foreign keys, the configured durability, and applies every migration", async () => {
    expect(await pragma(t.store, "journal_mode")).toEqual({ journal_mode: "wal" });
    expect(await pragma(t.store, "foreign_keys")).toEqual({ foreign_keys: 1 });
    // createTestStore asks for NORMAL; FULL (2) is the default.
    expect(await pragma(t.store, "synchronous")).toEqual({ synchronous: 1 });
    expect(await pragma(open({ path: t.path, migrations: "require-current" }), "synchronous")).toEqual({ synchronous: 2 });
    // The Store waits for other connections' locks itself, without blocking the event loop.
    expect(await pragma(t.store, "busy_timeout")).toEqual({ timeout: 0 });

    const names = await t.store.read(async (tx) =>
      tx.db.all<{ name: string }>(sql`SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') ORDER BY name`),
    );
    expect(names.map((row) => row.name)).toEqual(
      expect.arrayContaining(["users", "posts", "deliveries", "inbound_messages", "posts_sent_are_immutable", "posts_sent_cannot_be_deleted"]),
    );
    expect(migrationStatus(raw(t.path))).toEqual({ applied: TOTAL, total: TOTAL, pending: 0 });
  });

  it("refuses a missing database with require-current, creating neither the file nor its folder", () => {
    const path = join(t.dir, "nested", "missing.db");
    const refusal = refusalOf(() => openSqliteStore({ path, migrations: "require-current" }));
    expect(refusal.reason).toBe("not_found");
    expect(refusal.sentence).toBe(`There is no database at ${path}: run "postern db migrate" or start "postern serve", which creates it.`);
    expect(existsSync(join(t.dir, "nested"))).toBe(false);
  });

  it("refuses a database with a pending migration with require-current, and changes nothing", () => {
    const forgotten = raw(t.path);
    forgotten.prepare("DELETE FROM __drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM __drizzle_migrations)").run();
    const refusal = refusalOf(() => openSqliteStore({ path: t.path, migrations: "require-current" }));
    expect(refusal.reason).toBe("database_out_of_date");
    expect(refusal.sentence).toBe(
      `The database at ${t.path} is not up to date (${TOTAL - 1} of ${TOTAL} migrations applied): run "postern db migrate" or start "postern serve", which migrates it.`,
    );
    expect(migrationStatus(forgotten)).toEqual({ applied: TOTAL - 1, total: TOTAL, pending: 1 });
  });

  it("brings an older database up to date with migrate, as serve does", async () => {
    const path = join(t.dir, "older.db");
    previousReleaseDatabase(path);
    expect(refusalOf(() => openSqliteStore({ path, migrations: "require-current" })).reason).toBe("database_out_of_date");
    const store = open({ path, migrations: "migrate" });
    expect(await store.read(async (tx) => tx.db.all(sql`SELECT id FROM users`))).toEqual([]);
    expect(migrationStatus(raw(path))).toEqual({ applied: TOTAL, total: TOTAL, pending: 0 });
    open({ path, migrations: "require-current" });
  });

  it("enforces foreign keys, and refuses to change or delete a sent post, in the database itself", async () => {
    await t.store.transaction(async (tx) => {
      tx.db.run(sql`INSERT INTO users (email, created_at) VALUES ('a@x.test', 0)`);
      tx.db.run(sql`INSERT INTO conversations (subject, kind, state, created_by_id, created_at, updated_at) VALUES ('s', 'direct', 'open', 1, 0, 0)`);
      tx.db.run(
        sql`INSERT INTO posts (conversation_id, author_id, state, body, raw_body, message_id, created_at) VALUES (1, 1, 'sent', 'b', 'b', '<m@x>', 0)`,
      );
    });
    const insertForUnknownAuthor = sql`INSERT INTO posts (conversation_id, author_id, state, body, raw_body, message_id, created_at)
      VALUES (1, 999, 'sent', 'b', 'b', '<n@x>', 0)`;
    expect(await sqliteError(t.store.transaction(async (tx) => tx.db.run(insertForUnknownAuthor)))).toMatch(/FOREIGN KEY constraint failed/);
    expect(await sqliteError(t.store.transaction(async (tx) => tx.db.run(sql`UPDATE posts SET body = 'changed' WHERE id = 1`)))).toMatch(
      /a sent post cannot be modified/,
    );
    expect(await sqliteError(t.store.transaction(async (tx) => tx.db.run(sql`DELETE FROM posts WHERE id = 1`)))).toMatch(/a sent post cannot be deleted/);
    expect(await t.store.read(async (tx) => tx.db.all(sql`SELECT id, body FROM posts`))).toEqual([{ id: 1, body: "b" }]);
  });
});

describe("migrateDatabase (postern db migrate)", () => {
  it("creates a database with every migration, and a second run applies none", () => {
    const path = join(t.dir, "sub", "fresh.db");
    expect(migrateDatabase({ path })).toEqual({ ran: TOTAL, total: TOTAL });
    expect(existsSync(path)).toBe(true);
    expect(migrateDatabase({ path })).toEqual({ ran: 0, total: TOTAL });
    const check = raw(path);
    expect(check.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(migrationStatus(check)).toEqual({ applied: TOTAL, total: TOTAL, pending: 0 });
  });

  it("applies only what an older database lacks, while a Store has it open", async () => {
    const path = join(t.dir, "older.db");
    previousReleaseDatabase(path);
    expect(migrateDatabase({ path })).toEqual({ ran: 1, total: TOTAL });
    // The gateway's connection, open meanwhile, goes on working.
    expect(await t.store.read(async (tx) => tx.db.all(sql`SELECT id FROM users`))).toEqual([]);
    expect(migrateDatabase({ path: t.path })).toEqual({ ran: 0, total: TOTAL });
    open({ path, migrations: "require-current" });
  });
});
