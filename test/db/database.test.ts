import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";

describe("openDatabase", () => {
  let database: TestDatabase;
  beforeEach(() => {
    database = createTestDatabase();
  });
  afterEach(() => database.dispose());

  it("sets WAL, foreign keys and applies every migration", () => {
    expect(database.sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(database.sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
    const tables = database.sqlite.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') ORDER BY name").all();
    expect(tables.map((t) => (t as { name: string }).name)).toEqual(expect.arrayContaining(["users", "posts", "deliveries", "posts_sent_are_immutable"]));
  });

  it("reuses a statement for the same SQL, and a statement once used for raw rows comes back in object mode", () => {
    const first = database.sqlite.prepare("SELECT 1 AS one");
    expect(database.sqlite.prepare("SELECT 1 AS one")).toBe(first);
    expect(first.raw().get()).toEqual([1]);
    expect(database.sqlite.prepare("SELECT 1 AS one").get()).toEqual({ one: 1 });
  });

  it("refuses to change or delete a sent post, in the database itself", () => {
    const { sqlite } = database;
    sqlite.prepare("INSERT INTO users (email, created_at) VALUES ('a@x.test', 0)").run();
    sqlite.prepare("INSERT INTO conversations (subject, kind, state, created_by_id, created_at, updated_at) VALUES ('s', 'direct', 'open', 1, 0, 0)").run();
    sqlite.prepare("INSERT INTO posts (conversation_id, author_id, state, body, raw_body, message_id, created_at) VALUES (1, 1, 'sent', 'b', 'b', '<m@x>', 0)").run();
    expect(() => sqlite.prepare("UPDATE posts SET body = 'changed' WHERE id = 1").run()).toThrow(/a sent post cannot be modified/);
    expect(() => sqlite.prepare("DELETE FROM posts WHERE id = 1").run()).toThrow(/a sent post cannot be deleted/);
  });
});
