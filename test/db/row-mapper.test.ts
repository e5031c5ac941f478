import { and, count, eq, getTableColumns, max, sql } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compileRowMapper } from "../../src/db/row-mapper.js";
import type { Db, QueryBuilder, Tables } from "../../src/db/store.js";
import type { Conversation, User } from "../../src/domain/records.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedConversation, seedGroup, seedUser } from "../helpers/seed.js";

let t: TestStore;
let alice: User;
let bob: User;
let conversation: Conversation;

beforeEach(async () => {
  t = await createTestStore();
  alice = await seedUser(t, "alice@example.test", "Alice Example");
  bob = await seedUser(t, "bob@elsewhere.test", null);
  await seedGroup(t, "support", "support@example.test", [alice]);
  ({ conversation } = await seedConversation(t, alice, [bob], { subject: "Rows" }));
});
afterEach(() => t.dispose());

/**
 * Query shapes the repositories use, each run two ways on the engine under test: prepared through
 * the Store (rows mapped by src/db/row-mapper.ts) and built afresh through `tx.rows` (rows mapped
 * by drizzle itself). The answers must be the same objects, keys in the same order.
 */
const shapes: Record<string, (conversationId: number) => QueryBuilder> = {
  "a whole table (boolean columns, nullable text)": () => (db: Db, s: Tables) => db.select().from(s.users).orderBy(s.users.id),
  "chosen columns under other names": () => (db, s) => db.select({ who: s.users.email, since: s.users.createdAt, name: s.users.name }).from(s.users).orderBy(s.users.id),
  "SQL with and without a decoder, aggregates": (id) => (db, s) =>
    db
      .select({
        posts: count(),
        last: max(s.posts.id),
        notes: sql<number>`sum(CASE WHEN ${s.posts.note} THEN 1 ELSE 0 END)`.mapWith(Number),
        raw: sql<string>`'as it is'`,
        named: sql<number>`1 + 1`.mapWith(Number).as("named"),
      })
      .from(s.posts)
      .where(eq(s.posts.conversationId, id)),
  "an inner join, whole tables": (id) => (db, s) =>
    db
      .select()
      .from(s.participants)
      .innerJoin(s.users, eq(s.users.id, s.participants.userId))
      .where(eq(s.participants.conversationId, id))
      .orderBy(s.participants.id),
  "a left join that finds nothing: the missing side is null": () => (db, s) =>
    db
      .select({ user: s.users, group: s.groups })
      .from(s.users)
      .leftJoin(s.groups, eq(s.groups.name, s.users.email))
      .orderBy(s.users.id),
  "a left join, nested objects mixing tables and SQL": (id) => (db, s) =>
    db
      .select({
        participant: { id: s.participants.id, role: s.participants.role },
        person: { email: s.users.email, groupName: s.groups.name, known: sql<number>`1`.mapWith(Number) },
        flat: s.participants.state,
      })
      .from(s.participants)
      .innerJoin(s.users, eq(s.users.id, s.participants.userId))
      .leftJoin(s.groups, eq(s.groups.name, s.users.email))
      .where(eq(s.participants.conversationId, id)),
  "a nested object whose first field is SQL": () => (db, s) =>
    db
      .select({ user: { n: sql<number>`2`.mapWith(Number), ...pick(getTableColumns(s.groups), "id", "name") } })
      .from(s.users)
      .leftJoin(s.groups, and(eq(s.groups.name, s.users.email), eq(s.users.id, s.users.id)))
      .orderBy(s.users.id),
};

function pick<T extends Record<string, unknown>, K extends keyof T>(columns: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((key) => [key, columns[key]])) as Pick<T, K>;
}

describe("rows mapped by the compiled mapper", () => {
  for (const [name, shape] of Object.entries(shapes)) {
    it(`answers what drizzle answers: ${name}`, async () => {
      const query = shape(conversation.id);
      await t.read(async ({ tx }) => {
        const compiled = (await tx.all(query)) as object[];
        const first = await tx.one(query);
        const own = (await tx.rows((db, s) => query(db, s) as unknown as PromiseLike<unknown>)) as object[];
        expect(compiled.length).toBeGreaterThan(0);
        expect(compiled).toStrictEqual(own);
        expect(compiled.map(keysOf)).toEqual(own.map(keysOf));
        expect(first).toStrictEqual(own[0]);
      });
    });
  }

  it("is used for every query shape above (none falls back to drizzle's own mapping)", async () => {
    await t.read(async ({ tx }) => {
      for (const shape of Object.values(shapes)) {
        const prepared = shape(conversation.id)(tx.db, tx.t).prepare() as unknown as { fields: never; joinsNotNullableMap?: Record<string, boolean> };
        expect(compileRowMapper(prepared.fields, prepared.joinsNotNullableMap)).toBeTypeOf("function");
      }
    });
  });

  it("finds no row as drizzle does: one() answers undefined, all() an empty list", async () => {
    await t.read(async ({ tx }) => {
      const none = shapes["an inner join, whole tables"]!(conversation.id + 1000);
      expect(await tx.one(none)).toBeUndefined();
      expect(await tx.all(none)).toEqual([]);
    });
  });

  it("leaves shapes it does not compile to drizzle: deeper nesting", () => {
    const column = { path: ["a", "b", "c"], field: sql`1` };
    expect(compileRowMapper([column])).toBeUndefined();
  });
});

/** Keys in order, nested objects included. */
function keysOf(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value) || Buffer.isBuffer(value)) return null;
  return Object.entries(value).map(([key, inner]) => [key, keysOf(inner)]);
}
