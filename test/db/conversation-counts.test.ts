import { and, count, eq, max, sql } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAndPublishPost, createPost, publishPost } from "../../src/domain/posts.service.js";
import type { Conversation, User } from "../../src/domain/records.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedConversation, seedPost, seedUser, T0 } from "../helpers/seed.js";

let t: TestStore;
let alice: User;
let bob: User;

beforeEach(async () => {
  t = await createTestStore();
  alice = await seedUser(t, "alice@example.test", "Alice Example");
  bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
});
afterEach(() => t.dispose());

/** What the triggers keep, and the same counted from the posts themselves. */
async function kept(conversation: Conversation) {
  return t.read(async ({ tx }) => {
    const [row] = await tx.rows((db, s) =>
      db
        .select({ sentPosts: s.conversationCounts.sentPosts, sentNotes: s.conversationCounts.sentNotes, lastSentPostId: s.conversationCounts.lastSentPostId })
        .from(s.conversationCounts)
        .where(eq(s.conversationCounts.conversationId, conversation.id)),
    );
    const [counted] = await tx.rows((db, s) =>
      db
        .select({
          sentPosts: count(),
          sentNotes: sql<number>`sum(CASE WHEN ${s.posts.note} THEN 1 ELSE 0 END)`.mapWith(Number),
          lastSentPostId: max(s.posts.id),
        })
        .from(s.posts)
        .where(and(eq(s.posts.conversationId, conversation.id), eq(s.posts.state, "sent"))),
    );
    return { row, counted };
  });
}

describe("conversation_counts", () => {
  it("follows every way a post is sent: written sent, a draft published, a note; drafts do not count", async () => {
    const { conversation } = await seedConversation(t, alice, [bob], { subject: "Plans" });
    await seedPost(t, conversation, bob, { body: "Written as a draft, then published." });
    await t.write((ctx) => createAndPublishPost(ctx, conversation, { author: alice, body: "Written sent.", rawBody: "Written sent." }), T0);
    await t.write(async (ctx) => publishPost(ctx, conversation, await createPost(ctx, conversation, { author: alice, body: "A note.", rawBody: "A note.", note: true })), T0);
    const draft = await seedPost(t, conversation, bob, { body: "Still a draft.", publish: false });

    const { row, counted } = await kept(conversation);
    expect(row).toEqual({ sentPosts: counted!.sentPosts, sentNotes: counted!.sentNotes, lastSentPostId: counted!.lastSentPostId });
    expect(row).toMatchObject({ sentNotes: 1 });
    expect(row!.lastSentPostId).toBeLessThan(draft.id);

    // The draft is published later: counted once, however often publishing is asked for.
    await t.write((ctx) => publishPost(ctx, conversation, draft), T0);
    await t.write((ctx) => publishPost(ctx, conversation, draft), T0);
    const after = await kept(conversation);
    expect(after.row).toEqual({ sentPosts: after.counted!.sentPosts, sentNotes: 1, lastSentPostId: draft.id });
    expect(after.row!.sentPosts).toBe(row!.sentPosts + 1);
  });
});
