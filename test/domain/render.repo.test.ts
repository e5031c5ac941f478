import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Tx } from "../../src/db/store.js";
import type { User } from "../../src/domain/records.js";
import { findDeliveryByBounceToken, queueDeliveries } from "../../src/domain/deliveries.repo.js";
import { attachmentsOfPost, findPost, insertPost, latestSentPosts } from "../../src/domain/posts.repo.js";
import { participantsAmong, participantWithUser, SentPostReads } from "../../src/domain/render.repo.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedConversation, seedDirectConversation, seedLeave, seedPostCopy, seedUser, T0 } from "../helpers/seed.js";

let t: TestStore;
beforeEach(async () => {
  t = await createTestStore();
});
afterEach(() => t.dispose());

/** `tx`, counting the queries that reach the database. */
function counting(tx: Tx): { tx: Tx; queries: () => number } {
  let queries = 0;
  return {
    tx: {
      ...tx,
      one: (query, values) => (queries++, tx.one(query, values)),
      all: (query, values) => (queries++, tx.all(query, values)),
      run: (query, values) => (queries++, tx.run(query, values)),
    },
    queries: () => queries,
  };
}

describe("the recipients of a claim's copies to one conversation", () => {
  it("are read together, sixteen to a read, as participantWithUser reads each, without those who are not participants", async () => {
    const author = await seedUser(t, "author@example.test", "Author");
    const people: User[] = [];
    for (let i = 0; i < 20; i++) people.push(await seedUser(t, `person${i}@example.test`, `Person ${i}`));
    const { conversation } = await seedConversation(t, author, people);
    await seedLeave(t, conversation, people[3]!);
    const stranger = await seedUser(t, "stranger@example.test", "Stranger");
    const asked = [...people.map((person) => person.id), stranger.id];

    const { found, queries, one } = await t.read(async ({ tx }) => {
      const db = counting(tx);
      const found = await participantsAmong(db.tx, conversation.id, asked);
      return { found, queries: db.queries(), one: await participantWithUser(tx, conversation.id, people[0]!.id) };
    });

    expect(queries).toBe(2);
    expect([...found.keys()].sort((a, b) => a - b)).toEqual(people.map((person) => person.id).sort((a, b) => a - b));
    expect(found.get(people[0]!.id)).toEqual(one);
    // Who left is still a participant, in state left: the renderer skips their copy.
    expect(found.get(people[3]!.id)?.participant.state).toBe("left");
    expect(found.has(stranger.id)).toBe(false);
  });
});

describe("reads shared by the copies of a post", () => {
  it("reads a sent post, its attachments and its thread once for all its copies", async () => {
    const { conversation, alice, bob } = await seedDirectConversation(t);
    await seedPostCopy(t, conversation, alice, bob, { body: "second" });
    const { post } = await seedPostCopy(t, conversation, bob, alice, { body: "third" });
    const reads = new SentPostReads();
    const copy = () =>
      t.read(async ({ tx }) => {
        const db = counting(tx);
        const over = reads.over(db.tx);
        const found = await findPost(over, post.id);
        // Reversed in place, as the renderer does with it.
        const thread = (await latestSentPosts(over, conversation.id, post.id, 40)).reverse();
        const files = await attachmentsOfPost(over, post.id);
        return { found, thread, files, queries: db.queries() };
      });
    const first = await copy();
    const second = await copy();
    expect(first.queries).toBeGreaterThan(0);
    expect(second.queries).toBe(0);
    expect(second.found).toEqual(first.found);
    expect(second.files).toEqual([]);
    // The caller reversed the list it read: the remembered one must come back in the order read.
    expect(second.thread.map((link) => link.id)).toEqual(first.thread.map((link) => link.id));
    expect(first.thread).toHaveLength(2);
  });

  it("reads a draft afresh every time: it may be published meanwhile", async () => {
    const { conversation, alice } = await seedDirectConversation(t);
    const draft = await t.write(({ tx }) =>
      insertPost(tx, { conversationId: conversation.id, authorId: alice.id, parentId: null, body: "draft", rawBody: "draft", messageId: "<draft@example.test>", sourceMessageId: null, inboundId: null, note: false, html: null, createdAt: T0 }),
    );
    const reads = new SentPostReads();
    for (let i = 0; i < 2; i++) {
      const queries = await t.read(async ({ tx }) => {
        const db = counting(tx);
        expect(await findPost(reads.over(db.tx), draft.id)).toMatchObject({ state: "draft" });
        return db.queries();
      });
      expect(queries).toBe(1);
    }
  });

  it("forgets what it read once it is older than its age limit", async () => {
    const { post } = await seedDirectConversation(t);
    const reads = new SentPostReads({ ageMs: 0, bytes: 1 << 20 });
    await t.read(({ tx }) => findPost(reads.over(tx), post.id));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const queries = await t.read(async ({ tx }) => {
      const db = counting(tx);
      await findPost(reads.over(db.tx), post.id);
      return db.queries();
    });
    expect(queries).toBe(1);
  });
});

describe("queueing deliveries", () => {
  it("queues many rows in a few statements, answered in the order given, each with its own token", async () => {
    const { conversation, post } = await seedDirectConversation(t);
    const users = [];
    for (let i = 0; i < 37; i++) users.push(await seedUser(t, `member${i}@elsewhere.test`));
    const rows = users.map((user) => ({ kind: "post" as const, postId: post.id, conversationId: conversation.id, recipientId: user.id, toAddress: user.email }));
    const { queued, queries } = await t.write(async ({ tx }) => {
      const db = counting(tx);
      const tokens = await queueDeliveries(db.tx, rows, T0 + 5);
      const queries = db.queries();
      return { queued: await Promise.all(tokens.map((token) => findDeliveryByBounceToken(tx, token))), queries };
    });
    // 37 = 32 + 4 + 1.
    expect(queries).toBe(3);
    expect(queued).toHaveLength(37);
    expect(queued.map((row) => row?.toAddress)).toEqual(users.map((user) => user.email));
    expect(queued.every((row) => row?.status === "queued" && row.nextAttemptAt === T0 + 5 && row.createdAt === T0 + 5 && row.postId === post.id)).toBe(true);
    expect(new Set(queued.map((row) => row?.bounceToken)).size).toBe(37);
    expect(await t.write(({ tx }) => queueDeliveries(tx, [], T0))).toEqual([]);
  });
});

describe("reads shared by the copies of a post: memory", () => {
  it("keeps no more than its byte budget: a post heavier than it is read for every copy", async () => {
    const { conversation, alice, bob } = await seedDirectConversation(t);
    const { post: small } = await seedPostCopy(t, conversation, alice, bob, { body: "short" });
    const { post: big } = await seedPostCopy(t, conversation, alice, bob, { body: "x".repeat(20_000) });
    const reads = new SentPostReads({ ageMs: 60_000, bytes: 8_000 });
    const queries = (id: number) =>
      t.read(async ({ tx }) => {
        const db = counting(tx);
        await findPost(reads.over(db.tx), id);
        return db.queries();
      });
    expect([await queries(small.id), await queries(small.id)]).toEqual([1, 0]);
    expect([await queries(big.id), await queries(big.id)]).toEqual([1, 1]);
    expect(await queries(small.id)).toBe(0);
  });
});
