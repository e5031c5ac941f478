import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as schema from "../../schema/schema.js";
import { applyMigrations } from "../../src/db/migrations.js";
import { SqliteStore, WriteLock } from "../../src/db/sqlite-store.js";
import type { Tx } from "../../src/db/store.js";
import { listConversationsFor, viewConversation } from "../../src/domain/conversation-views.service.js";
import { findParticipantByToken } from "../../src/domain/conversations.repo.js";
import { claimDue, dailyUsage, findDeliveryByBounceToken, findPostCopies } from "../../src/domain/deliveries.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { findPostsByMessageId, firstSentPosts, lastSentPostId, latestSentPosts } from "../../src/domain/posts.repo.js";
import { conversationIdsOfUser, findUserByEmail, findUserById } from "../../src/domain/users.repo.js";
import { requireUser } from "../../src/domain/users.service.js";

/**
 * The queries behind the CLI's views (`conversations show`, `conversations list --user`, `users
 * show`, `mail log`) and the gateway's per-message and per-copy lookups must stay fast however
 * large the database grows: each finds its rows through an index, never by reading a whole large
 * table. The SQL is what the code really sends (every statement the connection prepares while the
 * domain function runs), and SQLite's EXPLAIN QUERY PLAN says how it would run it. Timings on a
 * database of a million posts: `npm run bench:queries`.
 */

/** Tables that grow with traffic; a full SCAN of one of them grows with it. */
const LARGE_TABLES = ["users", "conversations", "participants", "posts", "deliveries", "inbound_messages", "attachments", "notices"];

const NOW = 1_800_000_000_000;

let sqlite: Database.Database;
let store: SqliteStore;
/** Every statement prepared on the connection since the last `capture`. */
let prepared: string[] = [];
let explainOn: (source: string) => Database.Statement;

function seed(db: Database.Database): void {
  const insert = (sql: string, ...values: unknown[]) => db.prepare(sql).run(...values);
  for (let i = 1; i <= 4; i++) {
    insert("INSERT INTO users (email, status, role, created_at) VALUES (?, 'active', 'member', ?)", `user${i}@example.test`, NOW);
  }
  insert("INSERT INTO conversations (subject, kind, state, created_by_id, created_at, updated_at) VALUES ('Plans', 'direct', 'open', 1, ?, ?)", NOW, NOW);
  for (let user = 1; user <= 3; user++) {
    insert(
      "INSERT INTO participants (conversation_id, user_id, role, reply_token, leave_token, joined_at) VALUES (1, ?, ?, ?, ?, ?)",
      user,
      user === 1 ? "owner" : "member",
      `reply${user}`,
      `leave${user}`,
      NOW,
    );
  }
  for (let post = 1; post <= 3; post++) {
    insert("INSERT INTO inbound_messages (received_at, rcpt_to, outcome, reason, smtp_code, size) VALUES (?, '[]', 'accepted', 'posted', 250, 100)", NOW);
    insert(
      "INSERT INTO posts (conversation_id, author_id, body, raw_body, message_id, source_message_id, inbound_id, created_at, sent_at) VALUES (1, ?, 'text', 'text', ?, ?, ?, ?, ?)",
      post,
      `<post${post}@example.test>`,
      `<source${post}@client.test>`,
      post,
      NOW,
      NOW,
    );
    for (let recipient = 1; recipient <= 3; recipient++) {
      if (recipient === post) continue;
      insert(
        "INSERT INTO deliveries (kind, post_id, conversation_id, recipient_id, to_address, bounce_token, next_attempt_at, created_at) VALUES ('post', ?, 1, ?, ?, ?, ?, ?)",
        post,
        recipient,
        `user${recipient}@example.test`,
        `bounce${post}x${recipient}`,
        NOW,
        NOW,
      );
    }
  }
}

/** Runs `work` on the store and answers the statements it prepared, each with its query plan. */
async function plansOf(work: (tx: Tx) => Promise<unknown>, write = false): Promise<{ sql: string; plan: string[] }[]> {
  prepared = [];
  if (write) await store.transaction(work);
  else await store.read(work);
  const statements = [...new Set(prepared)].filter((source) => !/^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b/i.test(source.trim()));
  return statements.map((source) => ({ sql: source, plan: explain(source) }));
}

function explain(source: string): string[] {
  const statement = explainOn(`EXPLAIN QUERY PLAN ${source}`);
  // Parameters are bound as NULL: the plan depends on where they appear, not on their values.
  for (let count = 0; count <= 64; count++) {
    try {
      return (statement.all(...Array<null>(count).fill(null)) as { detail: string }[]).map((row) => row.detail);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
    }
  }
  throw new Error(`could not bind the parameters of ${source}`);
}

/** The plan lines that read a whole large table (or a whole index of one). */
function fullScans(plan: readonly string[]): string[] {
  return plan.filter((line) => {
    const match = /^SCAN (\w+)(?: AS (\w+))?/.exec(line);
    return match !== null && LARGE_TABLES.includes(match[1]!);
  });
}

function expectIndexed(statements: readonly { sql: string; plan: string[] }[]): void {
  expect(statements.length).toBeGreaterThan(0);
  for (const { sql, plan } of statements) {
    expect({ sql, scans: fullScans(plan) }).toEqual({ sql, scans: [] });
  }
}

beforeAll(() => {
  sqlite = new Database(":memory:");
  applyMigrations(sqlite);
  seed(sqlite);
  const prepare = sqlite.prepare.bind(sqlite);
  explainOn = prepare;
  sqlite.prepare = ((source: string) => {
    prepared.push(source);
    return prepare(source);
  }) as typeof sqlite.prepare;
  store = new SqliteStore(sqlite, drizzle(sqlite, { schema }), schema, { busyTimeoutMs: 1000, writeLock: new WriteLock() });
});

afterAll(async () => {
  await store.close();
});

describe("query plans: the CLI's views read through indexes", () => {
  it("conversations show ID (as an admin, and --as a participant)", async () => {
    const admin = await plansOf((tx) => viewConversation(tx, 1));
    expectIndexed(admin);
    // A long conversation's listing reads the index alone, in order: never each post's row and text.
    const listing = admin.find((s) => /from "posts"/.test(s.sql))!;
    expect(listing.plan).toEqual(["SEARCH posts USING COVERING INDEX posts_conversation_idx (conversation_id=?)"]);
    const asParticipant = await plansOf(async (tx) => {
      const viewer = await requireUser(tx, "user2@example.test");
      await viewConversation(tx, 1, viewer);
      await findUserById(tx, 1);
    });
    expectIndexed(asParticipant);
    // --as reads the posts once, deciding what the participant sees from the index in the same pass.
    const seen = asParticipant.filter((s) => /from "posts"/.test(s.sql));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.plan).toContain("SEARCH posts USING COVERING INDEX posts_conversation_idx (conversation_id=?)");
  });

  it("conversations list --user EMAIL", async () => {
    const statements = await plansOf(async (tx) => {
      const user = await requireUser(tx, "user2@example.test");
      const listed = await listConversationsFor(tx, { user });
      expect(listed.map((row) => row.conversation.id)).toEqual([1]);
    });
    expectIndexed(statements);
    // The listed person's participations lead: conversations are found by primary key from them.
    const list = statements.find((s) => /count\(\*\)/i.test(s.sql))!;
    expect(list.plan.some((line) => /^SEARCH participants USING (COVERING )?INDEX participants_user_idx/.test(line))).toBe(true);
    // Present participants are counted from an index, without reading each participant's row.
    expect(list.plan).toContain("SEARCH p USING COVERING INDEX participants_conversation_state_idx (conversation_id=? AND state=?)");
    // Seen and unread posts are counted from the index, without reading the posts themselves.
    const postCounts = list.plan.filter((line) => line.startsWith("SEARCH q "));
    expect(postCounts).toEqual([
      "SEARCH q USING COVERING INDEX posts_conversation_idx (conversation_id=?)",
      "SEARCH q USING COVERING INDEX posts_conversation_idx (conversation_id=? AND id>?)",
    ]);
  });

  it("users show EMAIL", async () => {
    expectIndexed(
      await plansOf(async (tx) => {
        const user = await requireUser(tx, "user2@example.test");
        expect(await conversationIdsOfUser(tx, user.id)).toEqual([1]);
      }),
    );
  });

  it("mail log (and --rejected): newest first, read backwards and stopped at the limit", async () => {
    for (const options of [{ limit: 100 }, { limit: 100, outcomes: ["rejected" as const] }]) {
      const statements = await plansOf((tx) => listMailLog(tx, options));
      expect(statements).toHaveLength(1);
      const { sql, plan } = statements[0]!;
      expect(sql).toMatch(/limit \?/i);
      // No sort of the whole log: rows come in id order, so LIMIT stops the read after `limit` rows.
      expect(plan.filter((line) => line.includes("TEMP B-TREE"))).toEqual([]);
      for (const line of fullScans(plan)) expect(line).toBe("SCAN inbound_messages");
    }
  });
});

describe("query plans: per message and per copy", () => {
  it("inbound lookups: reply token, sender address, Message-ID", async () => {
    expectIndexed(
      await plansOf(async (tx) => {
        expect(await findParticipantByToken(tx, "reply", "reply2")).toBeDefined();
        await findParticipantByToken(tx, "leave", "leave2");
        expect(await findUserByEmail(tx, "user3@example.test")).toBeDefined();
        expect(await findPostsByMessageId(tx, "<source2@client.test>")).toHaveLength(1);
      }),
    );
  });

  it("threading: the earlier sent posts and the last one of a conversation", async () => {
    expectIndexed(
      await plansOf(async (tx) => {
        await latestSentPosts(tx, 1, 3, 40);
        await firstSentPosts(tx, 1, 3, 6);
        await lastSentPostId(tx, 1, false);
        await lastSentPostId(tx, 1, true);
      }),
    );
  });

  it("the delivery claim's UPDATE … RETURNING, and the per-copy checks", async () => {
    const statements = await plansOf(async (tx) => {
      const claimed = await claimDue(tx, { now: NOW, owner: "plans", leaseMs: 60_000, limit: 10 });
      expect(claimed.length).toBeGreaterThan(0);
      await dailyUsage(tx, claimed[0]!, NOW);
      await findPostCopies(tx, 1);
      await findDeliveryByBounceToken(tx, "bounce1x2");
    }, true);
    expectIndexed(statements);
    const claim = statements.find((s) => /^update "deliveries"/i.test(s.sql))!;
    expect(claim.plan.some((line) => line.includes("deliveries_due_idx"))).toBe(true);
    // Copies to the same person in flight: among their rows in that state, not all they were ever sent.
    const inFlight = statements.find((s) => /"deliveries"."lease_expires_at" > \?/.test(s.sql) && /^select count/i.test(s.sql))!;
    expect(inFlight.plan.join("\n")).toContain("deliveries_recipient_status_idx (recipient_id=? AND status=?");
  });
});
