import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { findConversation } from "../../src/domain/conversations.repo.js";
import { editDraft, requireVisibleConversation, sendDraft } from "../../src/domain/drafts.service.js";
import { findPost, listPosts, updateDraftPost } from "../../src/domain/posts.repo.js";
import type { User } from "../../src/domain/records.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { allDeliveries, refusalOf, seedUser, T0 } from "../helpers/seed.js";

let t: TestStore;
let alice: User;
let bob: User;
let carol: User;

beforeEach(async () => {
  t = await createTestStore();
  alice = await seedUser(t, "alice@example.test", "Alice Example");
  bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  carol = await seedUser(t, "carol@elsewhere.test", "Carol Client");
});
afterEach(() => t.dispose());

/** Alice drafts a group conversation to Bob and Carol (a group needs no consent by default). */
const draftToBobAndCarol = (body = "Draft text.") =>
  t.write((ctx) => createConversation(ctx, { from: alice.email, to: [bob.email, carol.email], subject: "Plans", body, draft: true }), T0);
const noticeCount = () => t.read(async ({ tx }) => (await tx.db.query.notices.findMany()).length);
const conversationOf = (id: number) => t.read(({ tx }) => findConversation(tx, id));

describe("a draft", () => {
  it("is created with its post and its people, and nothing is published or queued", async () => {
    const { conversation, post } = await draftToBobAndCarol();
    expect(conversation).toMatchObject({ state: "draft", kind: "group", subject: "Plans", createdById: alice.id });
    expect(post).toMatchObject({ state: "draft", body: "Draft text.", sentAt: null });
    expect(await allDeliveries(t)).toEqual([]);
    expect(await noticeCount()).toBe(0);
  });

  it("is visible to its author only: anyone else gets the sentence an unknown id gets", async () => {
    const { conversation } = await draftToBobAndCarol();
    expect(await t.read(({ tx }) => requireVisibleConversation(tx, conversation.id, alice))).toMatchObject({ id: conversation.id });
    for (const viewer of [bob, undefined]) {
      const refusal = await refusalOf(t.read(({ tx }) => requireVisibleConversation(tx, conversation.id, viewer)));
      expect(refusal).toMatchObject({ reason: "not_found", sentence: `No conversation has the id ${conversation.id}.` });
    }
    const unknown = await refusalOf(t.read(({ tx }) => requireVisibleConversation(tx, 999, alice)));
    expect(unknown.sentence).toBe("No conversation has the id 999.");
  });
});

describe("editDraft", () => {
  it("changes the subject and the text, which stay a draft", async () => {
    const { conversation, post } = await draftToBobAndCarol();
    const edited = await t.write((ctx) => editDraft(ctx, conversation.id, { subject: "  New   plans ", body: "Better text." }, alice), T0 + 1000);
    expect(edited.conversation).toMatchObject({ state: "draft", subject: "New plans", updatedAt: T0 + 1000 });
    expect(edited.post).toMatchObject({ id: post.id, state: "draft", body: "Better text.", rawBody: "Better text." });
    expect(await t.read(({ tx }) => findPost(tx, post.id))).toMatchObject({ body: "Better text." });
    expect(await allDeliveries(t)).toEqual([]);
  });

  it("changes only what is given; without an author it is an admin's correction", async () => {
    const { conversation } = await draftToBobAndCarol();
    await t.write((ctx) => editDraft(ctx, conversation.id, { body: "Only the text." }));
    expect(await conversationOf(conversation.id)).toMatchObject({ subject: "Plans" });
    await t.write((ctx) => editDraft(ctx, conversation.id, { subject: "Only the subject" }));
    const [post] = await t.read(({ tx }) => listPosts(tx, conversation.id));
    expect(post).toMatchObject({ body: "Only the text." });
    expect(await conversationOf(conversation.id)).toMatchObject({ subject: "Only the subject" });
  });

  it("refuses anyone but the author as if the draft did not exist, and changes nothing", async () => {
    const { conversation } = await draftToBobAndCarol();
    const refusal = await refusalOf(t.write((ctx) => editDraft(ctx, conversation.id, { body: "Bob's words." }, bob)));
    expect(refusal).toMatchObject({ reason: "not_found", sentence: `No conversation has the id ${conversation.id}.` });
    const [post] = await t.read(({ tx }) => listPosts(tx, conversation.id));
    expect(post?.body).toBe("Draft text.");
  });

  it("refuses an edit that changes nothing, or leaves the draft without text", async () => {
    const { conversation } = await draftToBobAndCarol();
    expect(await refusalOf(t.write((ctx) => editDraft(ctx, conversation.id, {}, alice)))).toMatchObject({
      reason: "invalid_input",
      sentence: "Give a new --subject or --body for the draft.",
    });
    expect(await refusalOf(t.write((ctx) => editDraft(ctx, conversation.id, { body: " \n " }, alice)))).toMatchObject({
      reason: "invalid_input",
      sentence: "A draft needs a body: --body cannot be empty.",
    });
  });
});

describe("sendDraft", () => {
  it("launches the draft: open, the post sent, a copy queued for each recipient", async () => {
    const { conversation, post } = await draftToBobAndCarol();
    const sent = await t.write((ctx) => sendDraft(ctx, conversation.id, alice), T0 + 5000);
    expect(sent.conversation).toMatchObject({ id: conversation.id, state: "open" });
    expect(sent.post).toMatchObject({ id: post.id, state: "sent", sentAt: T0 + 5000 });
    const deliveries = await allDeliveries(t);
    expect(deliveries.map((d) => [d.postId, d.toAddress]).sort()).toEqual([
      [post.id, bob.email],
      [post.id, carol.email],
    ]);
  });

  it("sends the text as last edited", async () => {
    const { conversation } = await draftToBobAndCarol();
    await t.write((ctx) => editDraft(ctx, conversation.id, { body: "Final text." }, alice));
    const { post } = await t.write((ctx) => sendDraft(ctx, conversation.id));
    expect(post).toMatchObject({ state: "sent", body: "Final text." });
  });

  it("refuses a second send, and any edit once sent: what was sent never changes", async () => {
    const { conversation, post } = await draftToBobAndCarol();
    await t.write((ctx) => sendDraft(ctx, conversation.id, alice));
    const again = await refusalOf(t.write((ctx) => sendDraft(ctx, conversation.id, alice)));
    expect(again).toMatchObject({
      reason: "not_allowed",
      sentence: `Conversation ${conversation.id} is not a draft (it is open): only a draft can be sent, and this one was sent already.`,
    });
    for (const author of [alice, undefined]) {
      const edit = await refusalOf(t.write((ctx) => editDraft(ctx, conversation.id, { body: "Rewritten." }, author)));
      expect(edit).toMatchObject({
        reason: "not_allowed",
        sentence: `Conversation ${conversation.id} is not a draft (it is open): it was sent, and a sent post never changes.`,
      });
    }
    // Below the service too: the repository's edit finds no draft to change.
    expect(await t.write(({ tx }) => updateDraftPost(tx, post.id, { body: "x", rawBody: "x" }))).toBeUndefined();
    expect(await t.read(({ tx }) => findPost(tx, post.id))).toMatchObject({ state: "sent", body: "Draft text." });
    expect(await allDeliveries(t)).toHaveLength(2);
  });

  it("refuses a conversation that came by mail or the CLI without --draft", async () => {
    const { conversation } = await t.write((ctx) => createConversation(ctx, { from: alice.email, to: [bob.email, carol.email], subject: "Live", body: "Hi." }));
    const refusal = await refusalOf(t.write((ctx) => sendDraft(ctx, conversation.id)));
    expect(refusal.reason).toBe("not_allowed");
    expect(refusal.sentence).toMatch(/is not a draft \(it is open\)/);
  });

  it("refuses someone else as the sender, as if there were no draft", async () => {
    const { conversation } = await draftToBobAndCarol();
    const refusal = await refusalOf(t.write((ctx) => sendDraft(ctx, conversation.id, carol)));
    expect(refusal).toMatchObject({ reason: "not_found", sentence: `No conversation has the id ${conversation.id}.` });
    expect(await conversationOf(conversation.id)).toMatchObject({ state: "draft" });
    expect(await allDeliveries(t)).toEqual([]);
  });

  it("refuses a draft whose author was suspended since", async () => {
    const { conversation } = await draftToBobAndCarol();
    await t.write(({ tx }) => tx.rows((db, tt) => db.update(tt.users).set({ status: "suspended" }).where(eq(tt.users.id, alice.id))));
    const refusal = await refusalOf(t.write((ctx) => sendDraft(ctx, conversation.id)));
    expect(refusal).toMatchObject({ reason: "not_allowed", sentence: "alice@example.test is suspended; only active members can send a draft." });
    expect(await allDeliveries(t)).toEqual([]);
  });

  it("sends once when two sends race (the second waits for the first, then finds no draft)", async () => {
    const { conversation } = await draftToBobAndCarol();
    const outcomes = await Promise.allSettled([
      t.write((ctx) => sendDraft(ctx, conversation.id)),
      t.write((ctx) => sendDraft(ctx, conversation.id)),
    ]);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    expect(await allDeliveries(t)).toHaveLength(2);
  });
});

describe("a direct draft", () => {
  it("reaches nobody until sent: no copy, no invitation", async () => {
    const { conversation } = await t.write((ctx) =>
      createConversation(ctx, { from: alice.email, to: [bob.email], subject: "Just us", body: "Hello Bob.", draft: true }),
    );
    expect(conversation).toMatchObject({ kind: "direct", state: "draft" });
    expect(await allDeliveries(t)).toEqual([]);
    expect(await noticeCount()).toBe(0);
    const sent = await t.write((ctx) => sendDraft(ctx, conversation.id, alice));
    // Consent for direct conversations (the default) makes it pending with an invitation; either way it reached Bob.
    expect(sent.conversation.state).not.toBe("draft");
    const reached = (await allDeliveries(t)).filter((d) => d.recipientId === bob.id);
    expect(reached).toHaveLength(1);
  });
});
