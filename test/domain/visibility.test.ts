import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { assignConversation } from "../../src/domain/conversations.commands.js";
import { findConversation, findParticipant } from "../../src/domain/conversations.repo.js";
import { addGroupMember, removeGroupMember, setGroupNotify } from "../../src/domain/groups.service.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import type { Conversation, Group, Post, User } from "../../src/domain/records.js";
import { setUserSettings } from "../../src/domain/users.service.js";
import { deskMemberIds, isDeskMember, visibleTo } from "../../src/domain/visibility.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedConversation, seedGroup, seedUser, T0 } from "../helpers/seed.js";

describe("visibleTo: the one rule for who sees a post", () => {
  it("shows public posts to everyone and internal notes to the group's members only", () => {
    expect(visibleTo({ note: false }, false)).toBe(true);
    expect(visibleTo({ note: false }, true)).toBe(true);
    expect(visibleTo({ note: true }, true)).toBe(true);
    expect(visibleTo({ note: true }, false)).toBe(false);
  });
});

describe("internal notes in an inbox conversation", () => {
  let t: TestStore;
  let alice: User;
  let bob: User;
  let carol: User;
  let group: Group;
  let conversation: Conversation;
  let first: Post;

  beforeEach(async () => {
    t = await createTestStore();
    alice = await seedUser(t, "alice@team.test", "Alice Agent", "staff");
    bob = await seedUser(t, "bob@team.test", "Bob Agent", "staff");
    carol = await seedUser(t, "carol@customer.test", "Carol Customer");
    group = await seedGroup(t, "support", "support@example.test", [alice, bob]);
    ({ conversation, post: first } = await seedConversation(t, carol, [], { group, subject: "Broken widget" }));
  });
  afterEach(() => t.dispose());

  const write = (author: User, options: { note?: boolean; now?: number } = {}) =>
    t.write(async (ctx) => {
      const post = await createPost(ctx, conversation, { author, body: "Text.", rawBody: "Text.", note: options.note ?? false });
      return publishPost(ctx, conversation, post);
    }, options.now ?? T0 + 1000);
  const recipientsOf = async (post: Post) =>
    (await t.read(({ tx }) => tx.rows((db, tt) => db.select().from(tt.deliveries).where(eq(tt.deliveries.postId, post.id))))).map((d) => d.toAddress).sort();
  const lastRead = (user: User) => t.read(async ({ tx }) => (await findParticipant(tx, conversation.id, user.id))?.lastReadPostId);

  it("knows the desk: the group's members now, not the outside person, and nobody outside an inbox conversation", async () => {
    expect(await t.read(({ tx }) => isDeskMember(tx, conversation, alice.id))).toBe(true);
    expect(await t.read(({ tx }) => isDeskMember(tx, conversation, carol.id))).toBe(false);
    expect([...(await t.read(({ tx }) => deskMemberIds(tx, conversation)))].sort()).toEqual([alice.id, bob.id].sort());
    expect(await t.read(({ tx }) => isDeskMember(tx, { groupId: null }, alice.id))).toBe(false);
    expect(await t.read(({ tx }) => deskMemberIds(tx, { groupId: null }))).toEqual(new Set());
    await t.write(({ tx }) => removeGroupMember(tx, "support", "bob@team.test"));
    expect(await t.read(({ tx }) => isDeskMember(tx, conversation, bob.id))).toBe(false);
  });

  it("fans a note out to the other members only, leaving the outside person's unread posts unread", async () => {
    await t.write(({ tx }) => setUserSettings(tx, carol.email, { delivery: "digest" }));
    const reply = await write(alice);
    const carolBefore = await lastRead(carol);
    expect(carolBefore).toBeLessThan(reply.id);
    const note = await write(bob, { note: true });
    expect(note.note).toBe(true);
    expect(await recipientsOf(note)).toEqual(["alice@team.test"]);
    // Marking a note she never sees read would also mark Alice's reply read for Carol.
    expect(await lastRead(carol)).toBe(carolBefore);
    expect(await lastRead(alice)).toBe(note.id);
  });

  it("gives a note to every member even when only the assignee receives the public posts", async () => {
    const dave = await seedUser(t, "dave@team.test", "Dave Agent", "staff");
    await t.write(async (ctx) => {
      await addGroupMember(ctx, "support", dave.email);
      await setGroupNotify(ctx.tx, "support", "assignee");
      await assignConversation(ctx, conversation.id, alice.email);
    });
    conversation = (await t.read(({ tx }) => findConversation(tx, conversation.id)))!;
    // Dave joined the group after the conversation started: he takes no part in it.
    const publicReply = await write(carol);
    expect(await recipientsOf(publicReply)).toEqual(["alice@team.test"]);
    const note = await write(alice, { note: true });
    expect(await recipientsOf(note)).toEqual(["bob@team.test"]);
  });

  it("threads a public post under the last public post, and a note under the last post of any kind", async () => {
    const note = await write(alice, { note: true });
    const secondNote = await write(bob, { note: true });
    expect(secondNote.parentId).toBe(note.id);
    const reply = await write(bob);
    expect(reply.parentId).toBe(first.id);
    const carolAnswer = await write(carol);
    expect(carolAnswer.parentId).toBe(reply.id);
  });
});
