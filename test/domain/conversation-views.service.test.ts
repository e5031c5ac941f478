import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { assignConversation, createConversation } from "../../src/domain/conversations.commands.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { startConversation } from "../../src/domain/conversations.service.js";
import { listConversationsFor, markConversationRead, viewConversation, type ListRequest } from "../../src/domain/conversation-views.service.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import type { Conversation, Group, Post, User } from "../../src/domain/records.js";
import { findUserById } from "../../src/domain/users.repo.js";
import { setUserSettings } from "../../src/domain/users.service.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { refusalOf, seedConversation, seedGroup, seedLeave, seedPost, seedUser, T0 } from "../helpers/seed.js";

let t: TestStore;
let alice: User;
/** Reads digests: nothing is emailed to him one by one, so what others write stays unread. */
let bob: User;
let carol: User;
let agent: User;
/** A second desk member on digests, to count internal notes. */
let deskDigest: User;
let support: Group;

beforeEach(async () => {
  t = await createTestStore();
  alice = await seedUser(t, "alice@example.test", "Alice Example");
  bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  carol = await seedUser(t, "carol@elsewhere.test", "Carol Client");
  agent = await seedUser(t, "agent@example.test", "Agent One", "staff");
  deskDigest = await seedUser(t, "desk@example.test", "Desk Two", "staff");
  for (const email of [bob.email, carol.email, deskDigest.email]) await t.write(({ tx }) => setUserSettings(tx, email, { delivery: "digest" }));
  support = await seedGroup(t, "support", "support@example.test", [agent, deskDigest]);
});
afterEach(() => t.dispose());

const list = (request: ListRequest) => t.read(({ tx }) => listConversationsFor(tx, request));
const byId = async (request: ListRequest) => new Map((await list(request)).map((row) => [row.conversation.id, row]));
const note = (conversation: Conversation, author: User, body = "Internal.") =>
  t.write(async (ctx) => publishPost(ctx, conversation, await createPost(ctx, conversation, { author, body, rawBody: body, note: true })), T0);

describe("listing one person's conversations", () => {
  it("counts what they have not read: others' sent posts since their last read or their own last post", async () => {
    const { conversation } = await seedConversation(t, alice, [bob, carol], { subject: "Plans" });
    await seedPost(t, conversation, carol, { body: "Carol answers." });
    expect((await list({ user: bob }))[0]).toMatchObject({
      conversation: { id: conversation.id },
      posts: 2,
      unread: 2,
      participant: { role: "member", state: "active" },
    });
    // Writing a post reads everything before it (SPEC §6).
    expect((await list({ user: carol }))[0]).toMatchObject({ unread: 0 });
    await seedPost(t, conversation, bob, { body: "Bob answers." });
    expect((await list({ user: bob }))[0]).toMatchObject({ posts: 3, unread: 0 });
    expect((await list({ user: carol }))[0]).toMatchObject({ unread: 1 });
    // Alice receives each post by email as it happens (delivery "every"), which counts as read.
    expect((await list({ user: alice }))[0]).toMatchObject({ unread: 0, participant: { role: "owner" } });
  });

  it("counts internal notes only for the desk's members", async () => {
    const { conversation } = await seedConversation(t, carol, [], { subject: "Help", group: support });
    await note(conversation, agent);
    await seedPost(t, conversation, agent, { body: "Public answer." });
    expect((await list({ user: carol }))[0]).toMatchObject({ posts: 2, unread: 1 });
    expect((await list({ user: deskDigest }))[0]).toMatchObject({ posts: 3, unread: 3 });
  });

  it("stops counting at the moment they left, and keeps the conversation in their list", async () => {
    const { conversation } = await seedConversation(t, alice, [bob, carol]);
    await seedPost(t, conversation, alice, { body: "Before." });
    await seedLeave(t, conversation, bob, T0 + 10);
    await seedPost(t, conversation, alice, { body: "After.", now: T0 + 20 });
    expect((await list({ user: bob }))[0]).toMatchObject({ unread: 2, participant: { state: "left" } });
  });

  it("under the owners reply policy, counts an ordinary participant's post only for the owners", async () => {
    const { conversation } = await t.write(
      (ctx) =>
        startConversation(ctx, {
          kind: "group",
          subject: "Announcement",
          author: alice,
          recipients: [{ candidate: bob }, { candidate: carol }],
          replies: "owners",
          post: { body: "News.", rawBody: "News." },
        }),
      T0,
    );
    await seedPost(t, conversation, bob, { body: "Reply to all?" });
    await seedPost(t, conversation, alice, { body: "More news." });
    expect((await list({ user: carol }))[0]).toMatchObject({ posts: 2, unread: 2 });
    expect((await list({ user: bob }))[0]).toMatchObject({ posts: 3, unread: 1 });
  });

  it("lists their own drafts, never someone else's", async () => {
    const { conversation: draft } = await t.write((ctx) =>
      createConversation(ctx, { from: alice.email, to: [bob.email], subject: "Not yet", body: "Draft.", draft: true }),
    );
    expect((await list({ user: alice })).map((r) => [r.conversation.id, r.conversation.state, r.unread])).toEqual([[draft.id, "draft", 0]]);
    expect(await list({ user: bob })).toEqual([]);
    expect(await list({ user: bob, viewer: bob })).toEqual([]);
    // An admin's listing: no drafts, unless looking as their author.
    expect(await list({})).toEqual([]);
    expect((await list({ viewer: alice })).map((r) => r.conversation.id)).toEqual([draft.id]);
    expect(await list({ viewer: bob })).toEqual([]);
  });
});

describe("listing by assignment", () => {
  it("finds inbox conversations assigned to someone, or to nobody", async () => {
    const { conversation: first } = await seedConversation(t, carol, [], { subject: "One", group: support });
    const { conversation: second } = await seedConversation(t, bob, [], { subject: "Two", group: support });
    await seedConversation(t, alice, [bob], { subject: "Not an inbox" });
    await t.write((ctx) => assignConversation(ctx, first.id, agent.email));
    expect((await list({ assignee: agent })).map((r) => [r.conversation.id, r.assignee])).toEqual([[first.id, agent.email]]);
    expect((await list({ unassigned: true })).map((r) => r.conversation.id)).toEqual([second.id]);
    expect(await list({ assignee: deskDigest })).toEqual([]);
    expect((await list({ user: agent, unassigned: true })).map((r) => r.conversation.id)).toEqual([second.id]);
    const both = await refusalOf(list({ assignee: agent, unassigned: true }));
    expect(both.reason).toBe("invalid_input");
  });
});

describe("viewConversation", () => {
  it("shows an admin every sent post, notes included, and no draft", async () => {
    const { conversation } = await seedConversation(t, carol, [], { subject: "Help", group: support });
    const internal = await note(conversation, agent);
    const view = await t.read(({ tx }) => viewConversation(tx, conversation.id));
    expect(view.posts.map((p) => [p.id, p.note])).toEqual([
      [view.posts[0]?.id, false],
      [internal.id, true],
    ]);
  });

  it("shows a participant only what they could see: no notes outside the desk, no one else's draft post", async () => {
    const { conversation, post: first } = await seedConversation(t, carol, [], { subject: "Help", group: support });
    const internal = await note(conversation, agent);
    const unsent: Post = await seedPost(t, conversation, agent, { body: "Still a draft.", publish: false });
    const ids = async (viewer: User) => (await t.read(({ tx }) => viewConversation(tx, conversation.id, viewer))).posts.map((p) => p.id);
    expect(await ids(carol)).toEqual([first.id]);
    expect(await ids(deskDigest)).toEqual([first.id, internal.id]);
    expect(await ids(agent)).toEqual([first.id, internal.id, unsent.id]);
    const stranger = await refusalOf(t.read(({ tx }) => viewConversation(tx, conversation.id, alice)));
    expect(stranger).toMatchObject({ reason: "not_a_participant", sentence: `alice@example.test does not take part in conversation ${conversation.id}.` });
  });

  it("answers not found for a draft unless its author looks", async () => {
    const { conversation, post } = await t.write((ctx) =>
      createConversation(ctx, { from: alice.email, to: [bob.email], subject: "Secret", body: "Draft.", draft: true }),
    );
    for (const viewer of [undefined, bob]) {
      expect(await refusalOf(t.read(({ tx }) => viewConversation(tx, conversation.id, viewer)))).toMatchObject({
        reason: "not_found",
        sentence: `No conversation has the id ${conversation.id}.`,
      });
    }
    const own = await t.read(({ tx }) => viewConversation(tx, conversation.id, alice));
    expect(own.posts.map((p) => [p.id, p.state])).toEqual([[post.id, "draft"]]);
  });
});

describe("markConversationRead", () => {
  it("marks every sent post read for that participant and counts it as their activity", async () => {
    const { conversation } = await seedConversation(t, alice, [bob, carol]);
    await seedPost(t, conversation, carol, { body: "One." });
    const last = await seedPost(t, conversation, carol, { body: "Two." });
    const done = await t.write((ctx) => markConversationRead(ctx, conversation.id, "Bob@Elsewhere.test"), T0 + 60_000);
    expect(done).toMatchObject({ unread: 3, user: { id: bob.id } });
    expect(await t.read(({ tx }) => findParticipant(tx, conversation.id, bob.id))).toMatchObject({ lastReadPostId: last.id });
    expect((await list({ user: bob }))[0]?.unread).toBe(0);
    expect((await t.read(({ tx }) => findUserById(tx, bob.id)))?.lastActiveAt).toBe(T0 + 60_000);
    expect(await t.write((ctx) => markConversationRead(ctx, conversation.id, bob.email))).toMatchObject({ unread: 0 });
  });

  it("refuses someone who takes no part, and anyone but its author on a draft", async () => {
    const { conversation } = await seedConversation(t, alice, [bob]);
    expect(await refusalOf(t.write((ctx) => markConversationRead(ctx, conversation.id, carol.email)))).toMatchObject({ reason: "not_a_participant" });
    const { conversation: draft } = await t.write((ctx) =>
      createConversation(ctx, { from: alice.email, to: [bob.email, carol.email], subject: "Draft", body: "Draft.", draft: true }),
    );
    expect(await refusalOf(t.write((ctx) => markConversationRead(ctx, draft.id, bob.email)))).toMatchObject({ reason: "not_found" });
    expect(await t.write((ctx) => markConversationRead(ctx, draft.id, alice.email))).toMatchObject({ unread: 0 });
  });
});
