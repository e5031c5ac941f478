import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CommitQueue } from "../../src/db/commit-queue.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";

describe("CommitQueue: group commit with a savepoint per job", () => {
  let database: TestDatabase;
  beforeEach(() => {
    database = createTestDatabase();
    database.sqlite.exec("CREATE TABLE items (value INTEGER UNIQUE)");
  });
  afterEach(() => database.dispose());

  const insert = (value: number) => () => {
    database.sqlite.prepare("INSERT INTO items (value) VALUES (?)").run(value);
    return { value, inTransaction: database.sqlite.inTransaction };
  };
  const values = () => (database.sqlite.prepare("SELECT value FROM items ORDER BY value").all() as { value: number }[]).map((r) => r.value);

  it("runs jobs submitted together in one transaction and settles each after the commit", async () => {
    const queue = new CommitQueue(database.sqlite);
    let committedBeforeSettling = false;
    const results = await Promise.all([
      queue.run(insert(1)),
      queue.run(insert(2)),
      queue.run(() => {
        // Both earlier jobs are visible: they share this transaction, not yet committed.
        expect(values()).toEqual([1, 2]);
        return "third";
      }),
    ]).then((r) => {
      committedBeforeSettling = !database.sqlite.inTransaction && values().length === 2;
      return r;
    });
    expect(results).toEqual([{ value: 1, inTransaction: true }, { value: 2, inTransaction: true }, "third"]);
    expect(committedBeforeSettling).toBe(true);
  });

  it("rolls back only the job that throws; the others commit", async () => {
    const queue = new CommitQueue(database.sqlite);
    const settled = await Promise.allSettled([
      queue.run(insert(1)),
      queue.run(() => {
        insert(3)();
        insert(1)(); // UNIQUE violation: this job's row 3 must go too
      }),
      queue.run(insert(2)),
    ]);
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(values()).toEqual([1, 2]);
  });

  it("lets part of a job roll back in a nested savepoint while the rest of the job commits", async () => {
    const queue = new CommitQueue(database.sqlite);
    await queue.run(() => {
      insert(1)();
      try {
        queue.savepoint(() => {
          insert(2)();
          throw new Error("refused");
        });
      } catch {
        insert(3)();
      }
    });
    expect(values()).toEqual([1, 3]);
  });

  it("splits a burst larger than the batch size into several commits, losing nothing", async () => {
    const queue = new CommitQueue(database.sqlite, 4);
    await Promise.all(Array.from({ length: 10 }, (_, i) => queue.run(insert(i))));
    expect(values()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
