import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Tx } from "../../src/db/store.js";
import { insertUser } from "../../src/domain/users.repo.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedUser } from "../helpers/seed.js";

let t: TestStore;
beforeEach(async () => {
  t = await createTestStore();
});
afterEach(() => t.dispose());

describe("PgStore", () => {
  it("runs afterCommit effects once the transaction committed, and never those of one that rolled back", async () => {
    const ran: string[] = [];
    await t.store.transaction(async (tx) => {
      tx.afterCommit(() => ran.push("kept"));
      expect(ran).toEqual([]);
    });
    await expect(
      t.store.transaction(async (tx) => {
        tx.afterCommit(() => ran.push("lost"));
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    expect(ran).toEqual(["kept"]);
  });

  it("rolls back a savepoint alone, keeping the rest of the transaction", async () => {
    await t.write(async (ctx) => {
      await seedUserIn(ctx.tx, "kept@example.test");
      await expect(
        ctx.tx.savepoint(async () => {
          await seedUserIn(ctx.tx, "lost@example.test");
          throw new Error("undo this part");
        }),
      ).rejects.toThrow("undo this part");
    });
    const emails = (await t.read(({ tx }) => tx.rows((db, tt) => db.select().from(tt.users)))).map((u) => u.email);
    expect(emails).toEqual(["kept@example.test"]);
    // The connection is usable after the savepoint rolled back.
    expect((await seedUser(t, "after@example.test")).email).toBe("after@example.test");
  });
});

async function seedUserIn(tx: Tx, email: string): Promise<void> {
  await insertUser(tx, { email, name: null, status: "active", role: "member", createdAt: 0 });
}
