import Database from "better-sqlite3";
import { asc, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { integer, sqliteTable } from "drizzle-orm/sqlite-core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as schema from "../../schema/schema.js";
import { openSqliteStore } from "../../src/db/database.js";
import { SqliteStore, WriteLock, type CommitSync } from "../../src/db/sqlite-store.js";
import type { Db, Store, Tx } from "../../src/db/store.js";
import { createTestStore, type TestStore } from "../helpers/database.js";

/** A table of its own, so these tests say nothing about Postern's schema. */
const items = sqliteTable("items", { value: integer("value").notNull().unique() });
const insertItem = (db: Db) => db.insert(items).values({ value: sql.placeholder("value") });
const allItems = (db: Db) => db.select({ value: items.value }).from(items).orderBy(asc(items.value));
const deleteItems = (db: Db) => db.delete(items);

const insert = (tx: Tx, value: number) => tx.run(insertItem, { value });
const values = async (tx: Tx) => (await tx.all(allItems)).map((row) => row.value);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(1);
  }
}

let t: TestStore;
/** Raw connections and extra stores a test opened; closed after it, whatever happened. */
const raws: Database.Database[] = [];
const stores: Store[] = [];

/** A plain better-sqlite3 connection to the test file, as another process would have. */
function raw(options: Database.Options = {}): Database.Database {
  const sqlite = new Database(t.path, { timeout: 0, ...options });
  raws.push(sqlite);
  return sqlite;
}

/** What other connections see: only what has been committed. */
function committed(): number[] {
  const reader = raw({ readonly: true });
  try {
    return (reader.prepare("SELECT value FROM items ORDER BY value").all() as { value: number }[]).map((row) => row.value);
  } finally {
    reader.close();
  }
}

/** A SqliteStore built by hand, for options openStore does not take. */
function storeWith(options: { busyTimeoutMs: number; maxBatch: number; commitSync?: CommitSync }): SqliteStore {
  const sqlite = raw();
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  const store = new SqliteStore(sqlite, drizzle(sqlite, { schema }), schema, { ...options, writeLock: new WriteLock() });
  stores.push(store);
  return store;
}

beforeEach(async () => {
  t = await createTestStore();
  await t.store.transaction(async (tx) => {
    tx.db.run(sql`CREATE TABLE items (value INTEGER NOT NULL UNIQUE)`);
  });
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const sqlite of raws.splice(0)) {
    if (!sqlite.open) continue;
    if (sqlite.inTransaction) sqlite.exec("ROLLBACK");
    sqlite.close();
  }
  await t.dispose();
});

describe("SqliteStore: group commit with a savepoint per transaction", () => {
  it("runs transactions submitted together in one transaction and settles each after the shared commit", async () => {
    const seenWhenSettled: number[][] = [];
    const track = <T>(promise: Promise<T>) =>
      promise.then((value) => {
        seenWhenSettled.push(committed());
        return value;
      });
    const results = await Promise.all([
      track(t.store.transaction(async (tx) => (await insert(tx, 1), committed()))),
      // The first job's row is visible here: the same transaction, not yet committed.
      track(t.store.transaction(async (tx) => (await insert(tx, 2), await values(tx)))),
      track(
        t.store.transaction(async (tx) => {
          await sleep(5);
          await insert(tx, 3);
          // Two jobs have finished, yet nothing is committed: they wait for the one COMMIT.
          return committed();
        }),
      ),
    ]);
    expect(results).toEqual([[], [1, 2], []]);
    // Every promise settles only once everything is durable, the rows of later jobs too.
    expect(seenWhenSettled).toEqual([
      [1, 2, 3],
      [1, 2, 3],
      [1, 2, 3],
    ]);
  });

  it("rolls back only the transaction that throws; the others commit", async () => {
    const settled = await Promise.allSettled([
      t.store.transaction(async (tx) => await insert(tx, 1)),
      t.store.transaction(async (tx) => {
        await insert(tx, 3);
        await nextTurn();
        await insert(tx, 1); // UNIQUE violation: this job's row 3 must go too
      }),
      t.store.transaction(async (tx) => {
        await insert(tx, 4);
        throw new Error("refused");
      }),
      t.store.transaction(async (tx) => await insert(tx, 2)),
    ]);
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
    expect(settled[0]).toEqual({ status: "fulfilled", value: 1 });
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ code: "SQLITE_CONSTRAINT_UNIQUE" });
    expect((settled[2] as PromiseRejectedResult).reason).toEqual(new Error("refused"));
    expect(committed()).toEqual([1, 2]);
  });

  it("a statement that ends the whole transaction (as SQLITE_FULL may) fails every job of the batch with its error, none half-committed", async () => {
    // RAISE(ROLLBACK) ends the transaction from inside a statement, as a full disk can.
    await t.store.transaction(async (tx) => {
      tx.db.run(sql`CREATE TRIGGER ends_everything BEFORE INSERT ON items WHEN NEW.value = 13 BEGIN SELECT RAISE(ROLLBACK, 'disk is full'); END`);
    });
    const settled = await Promise.allSettled([
      t.store.transaction(async (tx) => await insert(tx, 1)),
      t.store.transaction(async (tx) => await insert(tx, 13)),
      t.store.transaction(async (tx) => await insert(tx, 2)),
    ]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected", "rejected"]);
    for (const s of settled) expect((s as PromiseRejectedResult).reason).toMatchObject({ message: "disk is full" });
    expect(committed()).toEqual([]);
    // The connection works on.
    await t.store.transaction(async (tx) => await insert(tx, 3));
    expect(committed()).toEqual([3]);
  });

  it("lets part of a transaction roll back in a nested savepoint while the rest commits", async () => {
    const result = await t.store.transaction(async (tx) => {
      await insert(tx, 1);
      await expect(
        tx.savepoint(async () => {
          await insert(tx, 2);
          await sleep(1);
          throw new Error("refused");
        }),
      ).rejects.toThrow("refused");
      expect(await values(tx)).toEqual([1]);
      const kept = await tx.savepoint(async () => {
        await insert(tx, 3);
        // Nested again: the inner failure undoes 5 only.
        await tx
          .savepoint(async () => {
            await insert(tx, 5);
            throw new Error("inner");
          })
          .catch(() => undefined);
        await insert(tx, 4);
        return "kept";
      });
      return kept;
    });
    expect(result).toBe("kept");
    expect(committed()).toEqual([1, 3, 4]);
    // A savepoint needs a transaction around it.
    await expect(t.store.read((tx) => tx.savepoint(async () => 1))).rejects.toThrow(/open transaction/);
  });

  it("splits a burst larger than the batch size into several commits, losing nothing", async () => {
    const store = storeWith({ busyTimeoutMs: 1000, maxBatch: 4 });
    const seen = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.transaction(async (tx) => {
          await insert(tx, i);
          return committed();
        }),
      ),
    );
    // Each batch sees the earlier batches committed, and nothing of its own yet.
    const first = [0, 1, 2, 3];
    const second = [0, 1, 2, 3, 4, 5, 6, 7];
    expect(seen).toEqual([[], [], [], [], first, first, first, first, second, second]);
    expect(committed()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("prepares a query once per connection; run answers how many rows changed", async () => {
    let builds = 0;
    const countItems = (db: Db) => {
      builds += 1;
      return db.select({ n: sql<number>`count(*)` }).from(items);
    };
    await t.store.transaction(async (tx) => {
      await insert(tx, 1);
      await insert(tx, 2);
      expect(await tx.one(countItems)).toEqual({ n: 2 });
    });
    expect(await t.store.read(async (tx) => tx.one(countItems))).toEqual({ n: 2 });
    expect(builds).toBe(1);
    expect(await (await t.openAnother()).read(async (tx) => tx.one(countItems))).toEqual({ n: 2 });
    expect(builds).toBe(2);
    expect(await t.store.transaction(async (tx) => tx.run(deleteItems))).toBe(2);
  });
});

describe("SqliteStore: one piece of work at a time on a connection", () => {
  it("a transaction that awaits several times still runs alone; a read issued meanwhile sees its data only after COMMIT", async () => {
    const events: string[] = [];
    let readMeanwhile: Promise<{ seen: number[]; committed: number[] }> | undefined;
    let nextTransaction: Promise<number[]> | undefined;
    const first = t.store.transaction(async (tx) => {
      events.push("first begins");
      await insert(tx, 1);
      readMeanwhile = t.store.read(async (r) => {
        events.push("read");
        return { seen: await values(r), committed: committed() };
      });
      nextTransaction = t.store.transaction(async (tx2) => {
        events.push("second");
        await insert(tx2, 4);
        return await values(tx2);
      });
      await sleep(10);
      await insert(tx, 2);
      await nextTurn();
      await insert(tx, 3);
      await Promise.resolve();
      events.push("first ends");
      return await values(tx);
    });
    expect(await first).toEqual([1, 2, 3]);
    // The read neither ran inside the open transaction nor saw its uncommitted rows.
    expect(await readMeanwhile).toEqual({ seen: [1, 2, 3], committed: [1, 2, 3] });
    expect(await nextTransaction).toEqual([1, 2, 3, 4]);
    expect(events).toEqual(["first begins", "first ends", "read", "second"]);
  });

  it("close lets every transaction already submitted finish, then refuses new work", async () => {
    const store = storeWith({ busyTimeoutMs: 1000, maxBatch: 2 });
    const submitted = Array.from({ length: 5 }, (_, i) => store.transaction(async (tx) => await insert(tx, i)));
    await store.close();
    await expect(Promise.all(submitted)).resolves.toEqual([1, 1, 1, 1, 1]);
    expect(committed()).toEqual([0, 1, 2, 3, 4]);
    await expect(store.transaction(async () => 1)).rejects.toThrow(/closed/);
    await expect(store.read(async () => 1)).rejects.toThrow(/closed/);
  });
});

describe("SqliteStore: another connection's write lock", () => {
  it("waits for it without blocking the event loop, and commits once it is released", async () => {
    const blocker = raw();
    blocker.exec("BEGIN IMMEDIATE");
    const started = Date.now();
    let timerFiredAfter: number | undefined;
    setTimeout(() => (timerFiredAfter = Date.now() - started), 20);
    let settled = false;
    const written = t.store
      .transaction(async (tx) => {
        await insert(tx, 1);
        return "written";
      })
      .finally(() => (settled = true));

    await sleep(150);
    // The timer fired on time while the transaction was waiting: the event loop was free.
    expect(timerFiredAfter).toBeDefined();
    expect(timerFiredAfter).toBeLessThan(1000);
    expect(settled).toBe(false);
    expect(committed()).toEqual([]);

    blocker.exec("COMMIT");
    await expect(written).resolves.toBe("written");
    expect(committed()).toEqual([1]);
  });

  it("two Stores in one process: the second waits while the first's transaction awaits, then both commit", async () => {
    const other = (await t.openAnother());
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = t.store.transaction(async (tx) => {
      await insert(tx, 1);
      events.push("first holds the lock");
      // Only the event loop can open the gate: a synchronous busy wait in the other Store would
      // block it, and the first transaction with it, until that wait gave up.
      await gate;
      await insert(tx, 2);
      events.push("first done");
    });
    await until(() => events.length > 0);
    const second = other.transaction(async (tx) => {
      events.push("second begins");
      return await values(tx);
    });
    await sleep(50);
    expect(events).toEqual(["first holds the lock"]);
    release();
    await first;
    expect(await second).toEqual([1, 2]);
    expect(events).toEqual(["first holds the lock", "first done", "second begins"]);
  });

  it("gives up with SQLITE_BUSY when the lock is held past busyTimeoutMs, and works again once it is free", async () => {
    const impatient = openSqliteStore({ path: t.path, synchronous: "NORMAL", busyTimeoutMs: 100, migrations: "require-current" });
    stores.push(impatient);
    const blocker = raw();
    blocker.exec("BEGIN IMMEDIATE");
    const started = Date.now();
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 10);
    const settled = await Promise.allSettled([
      impatient.transaction(async (tx) => await insert(tx, 1)),
      impatient.transaction(async (tx) => await insert(tx, 2)),
    ]);
    clearInterval(ticker);
    const elapsed = Date.now() - started;
    // Every job of the batch is refused: none of them ran.
    for (const result of settled) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: "SQLITE_BUSY" });
    }
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(2000);
    expect(ticks).toBeGreaterThan(2);

    blocker.exec("ROLLBACK");
    await expect(impatient.transaction(async (tx) => await insert(tx, 3))).resolves.toBe(1);
    expect(committed()).toEqual([3]);
  });
});

describe("SqliteStore: effects after commit", () => {
  it("runs a transaction's afterCommit effects once it committed, and never those of one that rolled back", async () => {
    const ran: string[] = [];
    const kept = t.store.transaction(async (tx) => {
      tx.afterCommit(() => ran.push("kept"));
      await insert(tx, 1);
      expect(ran).toEqual([]);
    });
    const lost = t.store.transaction(async (tx) => {
      tx.afterCommit(() => ran.push("lost"));
      throw new Error("rolled back");
    });
    await kept;
    await expect(lost).rejects.toThrow("rolled back");
    expect(ran).toEqual(["kept"]);
    await t.store.read(async (tx) => tx.afterCommit(() => ran.push("read")));
    expect(ran).toEqual(["kept", "read"]);
  });
});

describe("SqliteStore: a commit settles once it is synced", () => {
  /** A disk whose syncs finish (or fail) when the test says. */
  function slowDisk() {
    const waiting: { resolve: () => void; reject: (error: unknown) => void }[] = [];
    let closed = false;
    const commitSync: CommitSync = {
      sync: () => new Promise<void>((resolve, reject) => waiting.push({ resolve, reject })),
      close: async () => {
        closed = true;
      },
    };
    return { commitSync, waiting, isClosed: () => closed };
  }

  it("answers a transaction and runs its effects only after the sync; the next batch commits meanwhile", async () => {
    const disk = slowDisk();
    const store = storeWith({ busyTimeoutMs: 1000, maxBatch: 256, commitSync: disk.commitSync });
    const ran: string[] = [];
    let firstDone = false;
    const first = store.transaction(async (tx) => {
      tx.afterCommit(() => ran.push("first"));
      await insert(tx, 1);
    });
    void first.then(() => (firstDone = true));
    await until(() => disk.waiting.length === 1);
    expect(committed()).toEqual([1]);
    // Not on disk yet: nobody is told, and the next transaction does not wait for the disk.
    const second = store.transaction(async (tx) => insert(tx, 2));
    await until(() => disk.waiting.length === 2);
    expect(committed()).toEqual([1, 2]);
    expect(firstDone).toBe(false);
    expect(ran).toEqual([]);
    disk.waiting[0]!.resolve();
    await first;
    expect(ran).toEqual(["first"]);
    disk.waiting[1]!.resolve();
    await second;
  });

  it("fails every transaction of a batch whose sync failed, without running their effects", async () => {
    const disk = slowDisk();
    const store = storeWith({ busyTimeoutMs: 1000, maxBatch: 256, commitSync: disk.commitSync });
    const ran: string[] = [];
    const work = store.transaction(async (tx) => {
      tx.afterCommit(() => ran.push("effect"));
      await insert(tx, 1);
    });
    await until(() => disk.waiting.length === 1);
    disk.waiting[0]!.reject(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    await expect(work).rejects.toMatchObject({ code: "EIO" });
    expect(ran).toEqual([]);
  });

  it("close waits for the sync of what was committed, then closes the sync", async () => {
    const disk = slowDisk();
    const store = storeWith({ busyTimeoutMs: 1000, maxBatch: 256, commitSync: disk.commitSync });
    const work = store.transaction(async (tx) => insert(tx, 1));
    await until(() => disk.waiting.length === 1);
    let closed = false;
    const closing = store.close().then(() => (closed = true));
    await sleep(20);
    expect(closed).toBe(false);
    disk.waiting[0]!.resolve();
    await work;
    await closing;
    expect(disk.isClosed()).toBe(true);
  });
});
