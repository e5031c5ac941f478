import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Tx } from "../../src/db/store.js";
import { listConversationsFor, viewConversation } from "../../src/domain/conversation-views.service.js";
import { findParticipantByToken } from "../../src/domain/conversations.repo.js";
import { claimDue, dailyUsage } from "../../src/domain/deliveries.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { findPostsByMessageId, firstSentPosts, lastSentPostId, latestSentPosts } from "../../src/domain/posts.repo.js";
import { conversationIdsOfUser, findUserByEmail } from "../../src/domain/users.repo.js";
import { requireUser } from "../../src/domain/users.service.js";
import { createTestStore, type TestStore } from "../helpers/database.js";

/**
 * PostgreSQL's side of test/db/query-plans.test.ts: the statements the code sends for the CLI's
 * views and the per-message and per-copy lookups, planned generically (as a prepared statement
 * reused many times is) with sequential scans priced out, must find their rows through an index.
 * A tiny test table would otherwise be read whole, rightly: that says nothing about a large one.
 */

const LARGE_TABLES = ["users", "conversations", "participants", "posts", "deliveries", "inbound_messages", "attachments", "notices"];
const NOW = 1_800_000_000_000;

let t: TestStore;
let admin: pg.Client;
let captured: string[] = [];
const originalQuery = pg.Client.prototype.query;

async function seed(client: pg.Client): Promise<void> {
  for (let i = 1; i <= 4; i++) {
    await client.query("INSERT INTO users (email, status, role, created_at) VALUES ($1, 'active', 'member', $2)", [`user${i}@example.test`, NOW]);
  }
  await client.query(
    "INSERT INTO conversations (subject, kind, state, created_by_id, created_at, updated_at) VALUES ('Plans', 'direct', 'open', 1, $1, $1)",
    [NOW],
  );
  for (let user = 1; user <= 3; user++) {
    await client.query(
      "INSERT INTO participants (conversation_id, user_id, role, reply_token, leave_token, joined_at) VALUES (1, $1, $2, $3, $4, $5)",
      [user, user === 1 ? "owner" : "member", `reply${user}`, `leave${user}`, NOW],
    );
  }
  for (let post = 1; post <= 3; post++) {
    await client.query("INSERT INTO inbound_messages (received_at, rcpt_to, outcome, reason, smtp_code, size) VALUES ($1, '[]', 'accepted', 'posted', 250, 100)", [NOW]);
    await client.query(
      "INSERT INTO posts (conversation_id, author_id, body, raw_body, message_id, source_message_id, inbound_id, created_at, sent_at) VALUES (1, $1, 'text', 'text', $2, $3, $1, $4, $4)",
      [post, `<post${post}@example.test>`, `<source${post}@client.test>`, NOW],
    );
    for (let recipient = 1; recipient <= 3; recipient++) {
      if (recipient === post) continue;
      await client.query(
        "INSERT INTO deliveries (kind, post_id, conversation_id, recipient_id, to_address, bounce_token, next_attempt_at, created_at) VALUES ('post', $1, 1, $2, $3, $4, $5, $5)",
        [post, recipient, `user${recipient}@example.test`, `bounce${post}x${recipient}`, NOW],
      );
    }
  }
}

/** Runs `work` and answers the statements it sent, each with its generic plan. */
async function plansOf(work: (tx: Tx) => Promise<unknown>, write = false): Promise<{ sql: string; plan: string[] }[]> {
  captured = [];
  if (write) await t.store.transaction(work);
  else await t.store.read(work);
  const statements = [...new Set(captured)].filter((text) => !/^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|SELECT pg_)/i.test(text));
  const plans = [];
  for (const text of statements) plans.push({ sql: text, plan: await explain(text) });
  return plans;
}

async function explain(text: string): Promise<string[]> {
  const parameters = Math.max(0, ...[...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  await admin.query("BEGIN");
  try {
    await admin.query(`PREPARE planned AS ${text}`);
    const args = parameters > 0 ? `(${Array(parameters).fill("NULL").join(", ")})` : "";
    const { rows } = await admin.query<{ "QUERY PLAN": string }>(`EXPLAIN EXECUTE planned${args}`);
    return rows.map((row) => row["QUERY PLAN"].trim());
  } finally {
    // EXPLAIN of an UPDATE does not run it; the rollback also forgets the prepared statement's settings.
    await admin.query("ROLLBACK");
    await admin.query("DEALLOCATE ALL");
  }
}

function seqScans(plan: readonly string[]): string[] {
  return plan.filter((line) => {
    const match = /Seq Scan on (\w+)/.exec(line);
    return match !== null && LARGE_TABLES.includes(match[1]!);
  });
}

function expectIndexed(statements: readonly { sql: string; plan: string[] }[]): void {
  expect(statements.length).toBeGreaterThan(0);
  for (const { sql, plan } of statements) expect({ sql, scans: seqScans(plan) }).toEqual({ sql, scans: [] });
}

beforeAll(async () => {
  t = await createTestStore();
  const url = (t.config.database as { url?: string }).url;
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await seed(admin);
  await admin.query("SET enable_seqscan = off");
  await admin.query("SET plan_cache_mode = force_generic_plan");
  pg.Client.prototype.query = function capture(this: pg.Client, ...args: unknown[]) {
    const first = args[0];
    if (this !== admin) captured.push(typeof first === "string" ? first : (first as { text: string }).text);
    return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof originalQuery;
});

afterAll(async () => {
  pg.Client.prototype.query = originalQuery;
  await admin?.end();
  await t?.dispose();
});

describe("PostgreSQL query plans", () => {
  it("conversations show, conversations list --user, users show, mail log", async () => {
    expectIndexed(
      await plansOf(async (tx) => {
        const user = await requireUser(tx, "user2@example.test");
        await viewConversation(tx, 1);
        await viewConversation(tx, 1, user);
        expect((await listConversationsFor(tx, { user })).map((row) => row.conversation.id)).toEqual([1]);
        expect(await conversationIdsOfUser(tx, user.id)).toEqual([1]);
      }),
    );
    for (const options of [{ limit: 100 }, { limit: 100, outcomes: ["rejected" as const] }]) {
      expectIndexed(await plansOf((tx) => listMailLog(tx, options)));
    }
  });

  it("inbound lookups, threading, the delivery claim and the per-copy checks", async () => {
    expectIndexed(
      await plansOf(async (tx) => {
        expect(await findParticipantByToken(tx, "reply", "reply2")).toBeDefined();
        expect(await findUserByEmail(tx, "user3@example.test")).toBeDefined();
        expect(await findPostsByMessageId(tx, "<source2@client.test>")).toHaveLength(1);
        await latestSentPosts(tx, 1, 3, 40);
        await firstSentPosts(tx, 1, 3, 6);
        await lastSentPostId(tx, 1, false);
        await lastSentPostId(tx, 1, true);
      }),
    );
    expectIndexed(
      await plansOf(async (tx) => {
        const claimed = await claimDue(tx, { now: NOW, owner: "plans", leaseMs: 60_000, limit: 10 });
        expect(claimed.length).toBeGreaterThan(0);
        await dailyUsage(tx, claimed[0]!, NOW);
      }, true),
    );
  });
});
