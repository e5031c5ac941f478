import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { sql } from "drizzle-orm";
import { open as openFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
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
  it("sets WAL, foreign keys, the configured durability, temporary storage in memory, and applies every migration", async () => {
    expect(await pragma(t.store, "journal_mode")).toEqual({ journal_mode: "wal" });
    expect(await pragma(t.store, "foreign_keys")).toEqual({ foreign_keys: 1 });
    // createTestStore asks for NORMAL. FULL, the default, is kept by the Store syncing the WAL
    // itself off the event loop, so the connection commits with NORMAL too (see "durable commits").
    expect(await pragma(t.store, "synchronous")).toEqual({ synchronous: 1 });
    expect(await pragma(open({ path: t.path, migrations: "require-current" }), "synchronous")).toEqual({ synchronous: 1 });
    // The Store waits for other connections' locks itself, without blocking the event loop.
    expect(await pragma(t.store, "busy_timeout")).toEqual({ timeout: 0 });
    // Statement journals of the group commit's savepoints in memory, not in files under /var/tmp (2 = MEMORY).
    expect(await pragma(t.store, "temp_store")).toEqual({ temp_store: 2 });
    expect(await pragma(open({ path: t.path, migrations: "require-current" }), "temp_store")).toEqual({ temp_store: 2 });

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

describe("openSqliteStore: durable commits (synchronous = FULL)", () => {
  /** Counts fdatasync calls made through any FileHandle, with the file each was made on. */
  async function spyOnDatasync(gate: Promise<void> = Promise.resolve()) {
    const probe = await openFile(t.path, "r");
    const prototype = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    const synced: number[] = [];
    const spy = vi.spyOn(prototype, "datasync").mockImplementation(async function (this: { fd: number }) {
      await gate;
      synced.push(this.fd);
    });
    return { synced, restore: () => spy.mockRestore() };
  }

  it("syncs the WAL before a transaction of the default (FULL) store settles; a NORMAL store does not", async () => {
    const full = open({ path: t.path, migrations: "require-current" });
    const spy = await spyOnDatasync();
    try {
      await full.transaction(async (tx) => {
        tx.db.run(sql`CREATE TABLE durable (value INTEGER)`);
      });
      expect(spy.synced.length).toBeGreaterThanOrEqual(1);
      const before = spy.synced.length;
      await t.store.transaction(async (tx) => {
        tx.db.run(sql`INSERT INTO durable VALUES (1)`);
      });
      expect(spy.synced.length).toBe(before);
    } finally {
      spy.restore();
    }
  });

  it("one sync covers every batch committed before it started: a burst costs a few syncs, not one per transaction", async () => {
    const full = open({ path: t.path, migrations: "require-current" });
    await full.transaction(async (tx) => {
      tx.db.run(sql`CREATE TABLE burst (value INTEGER)`);
    });
    let openGate!: () => void;
    // The disk is slow: no sync finishes until every transaction has been submitted.
    const spy = await spyOnDatasync(new Promise<void>((resolve) => (openGate = resolve)));
    try {
      // Each transaction is submitted in a turn of its own, so each is a batch of its own.
      const done: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) {
        done.push(
          full.transaction(async (tx) => {
            tx.db.run(sql`INSERT INTO burst VALUES (${i})`);
          }),
        );
        await new Promise((resolve) => setImmediate(resolve));
      }
      let settled = 0;
      for (const promise of done) void promise.then(() => settled++);
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Committed, visible to others, and still not confirmed to anyone: it is not on disk yet.
      expect(settled).toBe(0);
      expect(raw(t.path).prepare("SELECT count(*) AS n FROM burst").get()).toEqual({ n: 20 });
      openGate();
      await Promise.all(done);
      // The sync under way when the first batch committed, and one more for everything after it.
      expect(spy.synced.length).toBeGreaterThanOrEqual(1);
      expect(spy.synced.length).toBeLessThanOrEqual(2);
      const rows = await full.read(async (tx) => tx.db.all<{ n: number }>(sql`SELECT count(*) AS n FROM burst`));
      expect(rows[0]?.n).toBe(20);
    } finally {
      spy.restore();
    }
  });
});

describe("openSqliteStore: checkpoints away from the event loop", () => {
  it("copies the WAL into the database file from its own thread, long before the connection's own (fallback) checkpoint would", async () => {
    const store = open({ path: t.path, migrations: "require-current" });
    const pages = (await pragma(store, "wal_autocheckpoint")) as { wal_autocheckpoint: number };
    expect(pages.wal_autocheckpoint).toBeGreaterThan(1000);
    await store.transaction(async (tx) => {
      tx.db.run(sql`CREATE TABLE filler (data BLOB)`);
    });
    const { statSync } = await import("node:fs");
    const before = statSync(t.path).size;
    // About 8 MB through the WAL: past the thread's threshold (4 MB), short of the fallback's 16 MB.
    const chunk = Buffer.alloc(8 * 1024, 7);
    for (let i = 0; i < 1000; i++) {
      await store.transaction(async (tx) => {
        tx.db.run(sql`INSERT INTO filler VALUES (${chunk})`);
      });
    }
    const deadline = Date.now() + 10_000;
    while (statSync(t.path).size < before + 4 * 1024 * 1024 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(statSync(t.path).size).toBeGreaterThanOrEqual(before + 4 * 1024 * 1024);
    const rows = await store.read(async (tx) => tx.db.all<{ n: number }>(sql`SELECT count(*) AS n FROM filler`));
    expect(rows[0]?.n).toBe(1000);
  });
});
