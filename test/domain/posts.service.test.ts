import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findConversation, findParticipant } from "../../src/domain/conversations.repo.js";
import { recogniseMessageId } from "../../src/domain/message-ids.js";
import { attachmentsOfPost, findPost } from "../../src/domain/posts.repo.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import type { Conversation, Post, User } from "../../src/domain/records.js";
import { setUserSettings } from "../../src/domain/users.service.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedConversation, seedLeave, seedUser, T0 } from "../helpers/seed.js";

let t: TestStore;
let alice: User;
let bob: User;
/** Reads a digest: has the post only when the digest goes out. */
let carol: User;
/** Left the conversation before the post. */
let dave: User;
let conversation: Conversation;
let first: Post;

beforeEach(async () => {
  t = await createTestStore();
  alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  await seedUser(t, "carol@elsewhere.test", "Carol Digest");
  carol = await t.write(({ tx }) => setUserSettings(tx, "carol@elsewhere.test", { delivery: "digest" }));
  dave = await seedUser(t, "dave@elsewhere.test", "Dave Gone");
  ({ conversation, post: first } = await seedConversation(t, alice, [bob, carol, dave], { subject: "Plans" }));
  await seedLeave(t, conversation, dave, T0 + 1);
});
afterEach(() => t.dispose());

const draft = (body = "A draft.", now = T0 + 1000) =>
  t.write((ctx) => createPost(ctx, conversation, { author: alice, body, rawBody: `${body}\n\n> quoted` }), now);
const publish = (post: Post, now = T0 + 2000) => t.write((ctx) => publishPost(ctx, conversation, post), now);
/** The database's own message: drizzle wraps the driver's error ("Failed query: ...") on PostgreSQL. */
async function databaseError(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause;
    return `${(error as Error).message} ${cause?.message ?? ""}`;
  }
  return "(no error)";
}

const deliveriesOf = (postId: number) => t.read(({ tx }) => tx.rows((db, tt) => db.select().from(tt.deliveries).where(eq(tt.deliveries.postId, postId)).orderBy(tt.deliveries.id)));
const lastRead = (user: User) => t.read(async ({ tx }) => (await findParticipant(tx, conversation.id, user.id))?.lastReadPostId);

describe("createPost", () => {
  it("writes a draft with a minted Message-ID, threaded under the last sent post", async () => {
    const post = await draft();
    expect(post).toMatchObject({
      conversationId: conversation.id,
      authorId: alice.id,
      parentId: first.id,
      state: "draft",
      body: "A draft.",
      rawBody: "A draft.\n\n> quoted",
      sourceMessageId: null,
      inboundId: null,
      createdAt: T0 + 1000,
      sentAt: null,
    });
    expect(recogniseMessageId(t.config, post.messageId)?.kind).toBe("post");
    expect(await t.read(({ tx }) => findPost(tx, post.id))).toEqual(post);
  });

  it("queues no delivery, marks nothing read and leaves the conversation's updatedAt alone", async () => {
    const before = await t.read(({ tx }) => findConversation(tx, conversation.id));
    const post = await draft();
    expect(await deliveriesOf(post.id)).toEqual([]);
    expect(await t.read(({ tx }) => findConversation(tx, conversation.id))).toEqual(before);
    expect(before?.updatedAt).toBe(T0);
    expect(await lastRead(alice)).toBe(first.id);
    expect(await lastRead(bob)).toBe(first.id);
  });

  it("stores attachments with their size", async () => {
    const post = await t.write((ctx) =>
      createPost(ctx, conversation, {
        author: bob,
        body: "See attached.",
        rawBody: "See attached.",
        attachments: [{ filename: "a.txt", contentType: "text/plain", contentId: null, inline: false, content: Buffer.from("hello") }],
      }),
    );
    const stored = await t.read(({ tx }) => attachmentsOfPost(tx, post.id));
    expect(stored).toEqual([expect.objectContaining({ postId: post.id, filename: "a.txt", contentType: "text/plain", size: 5, inline: false })]);
    expect(stored[0]?.content.toString()).toBe("hello");
  });
});

describe("publishPost", () => {
  it("marks the draft sent with sentAt and touches the conversation", async () => {
    const sent = await publish(await draft());
    expect(sent).toMatchObject({ state: "sent", sentAt: T0 + 2000, createdAt: T0 + 1000 });
    expect(await t.read(({ tx }) => findPost(tx, sent.id))).toEqual(sent);
    expect((await t.read(({ tx }) => findConversation(tx, conversation.id)))?.updatedAt).toBe(T0 + 2000);
  });

  it("queues one delivery per other active participant who takes every post", async () => {
    const sent = await publish(await draft());
    const rows = await deliveriesOf(sent.id);
    expect(rows).toEqual([
      expect.objectContaining({ kind: "post", postId: sent.id, conversationId: conversation.id, recipientId: bob.id, toAddress: bob.email, status: "queued", attempts: 0, nextAttemptAt: T0 + 2000 }),
    ]);
  });

  it("counts it read for the author and the recipients, not for a digest reader or someone who left", async () => {
    const daveBefore = await lastRead(dave);
    const carolBefore = await lastRead(carol);
    // The first post went to the digest too: Carol has not read anything yet.
    expect(carolBefore).toBe(0);
    const sent = await publish(await draft());
    expect(await lastRead(alice)).toBe(sent.id);
    expect(await lastRead(bob)).toBe(sent.id);
    expect(await lastRead(carol)).toBe(carolBefore);
    expect(await lastRead(dave)).toBe(daveBefore);
  });

  it("gives no copy to users who already received the message directly, but counts it read for them", async () => {
    const post = await draft();
    const sent = await t.write((ctx) => publishPost(ctx, conversation, post, new Set([bob.id])), T0 + 2000);
    expect(await deliveriesOf(sent.id)).toEqual([]);
    expect(await lastRead(bob)).toBe(sent.id);
  });

  it("is harmless twice: the second time queues no second delivery and changes nothing", async () => {
    const post = await draft();
    const sent = await publish(post);
    const conversationAfterFirst = await t.read(({ tx }) => findConversation(tx, conversation.id));

    // Once with the stale draft record, once with the published one.
    const again = await publish(post, T0 + 3000);
    const againSent = await publish(sent, T0 + 4000);

    expect(again).toEqual(sent);
    expect(againSent).toEqual(sent);
    expect(await t.read(({ tx }) => findPost(tx, sent.id))).toEqual(sent);
    expect(await deliveriesOf(sent.id)).toHaveLength(1);
    expect(await t.read(({ tx }) => findConversation(tx, conversation.id))).toEqual(conversationAfterFirst);
  });

  it("is harmless twice within one transaction too", async () => {
    const post = await draft();
    const [once, twice] = await t.write(async (ctx) => [await publishPost(ctx, conversation, post), await publishPost(ctx, conversation, post)], T0 + 2000);
    expect(twice).toEqual(once);
    expect(await deliveriesOf(post.id)).toHaveLength(1);
  });
});

describe("a sent post is immutable in the database", () => {
  const update = (id: number, body: string) => t.write(async ({ tx }) => tx.rows((db, tt) => db.update(tt.posts).set({ body }).where(eq(tt.posts.id, id))));

  it("refuses an UPDATE of a sent post", async () => {
    const sent = await publish(await draft());
    expect(await databaseError(update(sent.id, "rewritten history"))).toMatch(/a sent post cannot be modified/);
    expect((await t.read(({ tx }) => findPost(tx, sent.id)))?.body).toBe("A draft.");
  });

  it("refuses a DELETE of a sent post", async () => {
    expect(await databaseError(t.write(async ({ tx }) => tx.rows((db, tt) => db.delete(tt.posts).where(eq(tt.posts.id, first.id)))))).toMatch(/a sent post cannot be deleted/);
  });

  it("lets a draft be edited, and then sent", async () => {
    const post = await draft();
    await update(post.id, "Edited draft.");
    const edited = await t.read(({ tx }) => findPost(tx, post.id));
    expect(edited).toMatchObject({ state: "draft", body: "Edited draft." });
    if (!edited) throw new Error("draft vanished");
    expect(await publish(edited)).toMatchObject({ state: "sent", body: "Edited draft." });
  });
});
