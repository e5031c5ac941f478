import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { leaveConversation } from "../../src/domain/participants.service.js";
import { checkPrivateReply, offersPrivateReply, privateSubject, replyPrivately } from "../../src/domain/private-replies.service.js";
import type { Conversation, Delivery, Post, User } from "../../src/domain/records.js";
import { updateUser } from "../../src/domain/users.repo.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { deliveryOf, queueAndRead, refusalOf, seedConversation, seedGroup, seedPost, seedUser } from "../helpers/seed.js";

let t: TestStore;
let ann: User;
let ben: User;
let cid: User;
let conversation: Conversation;
let first: Post;
/** Ann's first post as Ben received it. */
let toBen: Delivery;

beforeEach(async () => {
  t = await createTestStore();
  ann = await seedUser(t, "ann@home.test", "Ann");
  ben = await seedUser(t, "ben@home.test", "Ben");
  cid = await seedUser(t, "cid@home.test", "Cid");
  ({ conversation, post: first } = await seedConversation(t, ann, [ben, cid], { subject: "Team dinner" }));
  toBen = await t.read((ctx) => deliveryOf(ctx, first.id, ben.id));
});
afterEach(() => t.dispose());

const reply = (delivery: Delivery, from: string, body = "Just between us.") =>
  t.write(async (ctx) => replyPrivately(ctx, await checkPrivateReply(ctx.tx, delivery, from), { body, rawBody: body }));

describe("privateSubject", () => {
  it("marks the original subject, with one Re:", () => {
    expect(privateSubject("Team dinner")).toBe("Re: Team dinner (private)");
    expect(privateSubject("Re: RE:  Team   dinner")).toBe("Re: Team dinner (private)");
    expect(privateSubject("   ")).toBe("Re: (no subject) (private)");
  });
});

describe("offersPrivateReply", () => {
  it("in a group conversation: every copy of someone else's post", async () => {
    expect(await t.read(({ tx }) => offersPrivateReply(tx, conversation, first, ben.id))).toBe(true);
    expect(await t.read(({ tx }) => offersPrivateReply(tx, conversation, first, ann.id))).toBe(false);
    expect(await t.read(({ tx }) => offersPrivateReply(tx, { ...conversation, kind: "direct" }, first, ben.id))).toBe(false);
  });

  it("in an inbox conversation: only a member's copy of another member's post", async () => {
    const alice = await seedUser(t, "alice@team.test", "Alice", "staff");
    const bob = await seedUser(t, "bob@team.test", "Bob", "staff");
    const group = await seedGroup(t, "support", "support@example.test", [alice, bob]);
    const carol = await seedUser(t, "carol@customer.test", "Carol");
    const { conversation: inbox, post: fromCarol } = await seedConversation(t, carol, [], { group });
    const fromAlice = await seedPost(t, inbox, alice);
    const offered = (post: Post, user: User) => t.read(({ tx }) => offersPrivateReply(tx, inbox, post, user.id));
    expect(await offered(fromAlice, bob)).toBe(true);
    expect(await offered(fromAlice, carol)).toBe(false);
    expect(await offered(fromCarol, alice)).toBe(false);
  });
});

describe("checkPrivateReply + replyPrivately", () => {
  it("opens a direct conversation between the two, then continues it while both take part", async () => {
    const started = await reply(toBen, ben.email);
    expect(started.continued).toBe(false);
    expect(started.conversation).toMatchObject({ kind: "direct", state: "open", subject: "Re: Team dinner (private)", createdById: ben.id, groupId: null });
    const annParticipant = await t.read(({ tx }) => findParticipant(tx, started.conversation.id, ann.id));
    expect(annParticipant).toMatchObject({ state: "active", role: "member", addedById: null });
    expect((await t.read((ctx) => deliveryOf(ctx, started.post.id, ann.id))).toAddress).toBe(ann.email);

    const second = await seedPost(t, conversation, ann, { body: "Booked." });
    const again = await reply(await t.read((ctx) => deliveryOf(ctx, second.id, ben.id)), ben.email, "Thanks.");
    expect(again).toMatchObject({ continued: true, conversation: { id: started.conversation.id } });

    // Once Ann left the private conversation, the next private reply starts a new one.
    await t.write(async (ctx) => leaveConversation(ctx, (await findParticipant(ctx.tx, started.conversation.id, ann.id))!));
    const fresh = await reply(toBen, ben.email, "Still there?");
    expect(fresh.continued).toBe(false);
    expect(fresh.conversation.id).not.toBe(started.conversation.id);
  });

  it("refuses another sender, the author, a departed sender and a suspended author, naming nobody's address but the sender's", async () => {
    const mismatch = await refusalOf(reply(toBen, cid.email));
    expect(mismatch.reason).toBe("sender_mismatch");
    expect(mismatch.sentence).not.toContain(ben.email);
    expect(mismatch.sentence).not.toContain(ann.email);

    // A copy of Ann's post addressed to Ann herself (fan-out never makes one; a private reply must still refuse it).
    const [toAnn] = await t.write(({ tx }) => queueAndRead(tx, [{ kind: "post", postId: first.id, conversationId: conversation.id, recipientId: ann.id, toAddress: ann.email }], Date.now()));
    const self = await refusalOf(reply(toAnn!, ann.email));
    expect([self.reason, self.sentence]).toEqual(["not_allowed", 'You wrote this message in the conversation "Team dinner" yourself, so there is nobody to answer privately.']);

    await t.write(({ tx }) => updateUser(tx, ann.id, { status: "suspended" }));
    const suspended = await refusalOf(reply(toBen, ben.email));
    expect([suspended.reason, suspended.sentence]).toEqual(["user_unreachable", "Ann cannot receive messages: the account is suspended."]);

    await t.write(async (ctx) => leaveConversation(ctx, (await findParticipant(ctx.tx, conversation.id, ben.id))!));
    expect((await refusalOf(reply(toBen, ben.email))).reason).toBe("participant_gone");
  });

  it("reaches an author whose messages are off", async () => {
    await t.write(({ tx }) => updateUser(tx, ann.id, { messagesEnabled: false }));
    const { post } = await reply(toBen, ben.email);
    expect((await t.read((ctx) => deliveryOf(ctx, post.id, ann.id))).status).toBe("queued");
  });
});
