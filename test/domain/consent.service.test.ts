// Consent (SPEC §5): a direct conversation starts pending; the invitee accepts (by reply, accept+ or
// the CLI) or declines; posts written meanwhile are held and delivered on acceptance; unanswered
// invitations expire. Runs on both engines: expiry must be safe with two nodes on one database.

import { simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { acceptAs, acceptInvitation, declineAs, declineInvitation, expireInvitations } from "../../src/domain/consent.service.js";
import { addToConversation, createConversation } from "../../src/domain/conversations.commands.js";
import { findConversation, findParticipant, participantsWithUsers } from "../../src/domain/conversations.repo.js";
import type { Conversation, Delivery, Notice, Post, User } from "../../src/domain/records.js";
import { handleReply } from "../../src/inbound/handlers/reply.js";
import { resolveRoute } from "../../src/inbound/route.js";
import { compose, draftDelivery } from "../../src/outbound/render.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { allDeliveries, buildMime, DOMAIN, prepareInbound, refusalOf, runInbound, seedConversation, seedPost, seedUser, T0 } from "../helpers/seed.js";

const DAY = 86_400_000;
const LATER = T0 + 60_000;

let t: TestStore;
let alice: User;
let bob: User;

beforeEach(async () => {
  t = await createTestStore();
  alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
});
afterEach(() => t.dispose());

/** Alice writes to Bob, as `conversations create` or mail to Bob's alias would. */
function aliceWritesToBob(store = t): Promise<{ conversation: Conversation; post: Post }> {
  return seedConversation(store, alice, [bob], { subject: "Lunch", body: "Shall we meet at noon?", consent: true });
}

const notices = (store = t): Promise<Notice[]> => store.read(({ tx }) => tx.db.query.notices.findMany({ orderBy: (n, { asc }) => asc(n.id) }));
const conversationNow = async (id: number, store = t): Promise<Conversation> => (await store.read(({ tx }) => findConversation(tx, id)))!;
const participantOf = async (conversation: Conversation, user: User, store = t) => (await store.read(({ tx }) => findParticipant(tx, conversation.id, user.id)))!;
const postCopies = async (store = t): Promise<Delivery[]> => (await allDeliveries(store)).filter((d) => d.kind === "post");

describe("launching a direct conversation", () => {
  it("starts pending: the first post is sent but reaches nobody, and the invitee gets one invitation showing it", async () => {
    const { conversation, post } = await aliceWritesToBob();
    expect(conversation).toMatchObject({ kind: "direct", state: "pending" });
    expect(post).toMatchObject({ state: "sent", authorId: alice.id });

    const people = await t.read(({ tx }) => participantsWithUsers(tx, conversation.id));
    expect(people.map((p) => [p.user.email, p.participant.state])).toEqual([
      ["alice@elsewhere.test", "active"],
      ["bob@elsewhere.test", "invited"],
    ]);
    // The invitation shows the first post, so it counts as read: acceptance does not send it again.
    expect((await participantOf(conversation, bob)).lastReadPostId).toBe(post.id);

    expect(await postCopies()).toEqual([]);
    expect((await notices()).map((n) => [n.kind, n.userId, n.byId, n.postId])).toEqual([["invitation", bob.id, alice.id, post.id]]);
    expect((await allDeliveries(t)).map((d) => [d.kind, d.recipientId])).toEqual([["notice", bob.id]]);
  });

  it("is open at once when consent.kinds leaves the kind out", async () => {
    const open = await createTestStore(buildConfig({ gateway: { domain: DOMAIN, name: "Acme" }, consent: { kinds: [] } }, "test"));
    try {
      const a = await seedUser(open, "alice@elsewhere.test");
      const b = await seedUser(open, "bob@elsewhere.test");
      const { conversation } = await seedConversation(open, a, [b], { consent: true });
      expect(conversation.state).toBe("open");
      expect((await postCopies(open)).map((d) => d.recipientId)).toEqual([b.id]);
      expect(await notices(open)).toEqual([]);
    } finally {
      await open.dispose();
    }
  });

  it("applies to `conversations create` between two people", async () => {
    await t.write((ctx) => createConversation(ctx, { from: alice.email, to: [bob.email], subject: "S", body: "B" }), T0);
    const [conversation] = await t.read(({ tx }) => tx.db.query.conversations.findMany());
    expect(conversation?.state).toBe("pending");
    expect((await notices()).map((n) => n.kind)).toEqual(["invitation"]);
  });
});

describe("accepting", () => {
  it("opens the conversation and delivers the posts held meanwhile, in order, then tells the initiator once", async () => {
    const { conversation, post: first } = await aliceWritesToBob();
    const held1 = await seedPost(t, conversation, alice, { body: "Or one o'clock?", now: T0 + 1000 });
    const held2 = await seedPost(t, conversation, alice, { body: "Either works for me.", now: T0 + 2000 });
    expect(await postCopies()).toEqual([]);

    const bobP = await participantOf(conversation, bob);
    const accepted = await t.write((ctx) => acceptInvitation(ctx, conversation.id, bobP.id, { tellInitiator: true }), LATER);
    expect(accepted.delivered).toBe(2);
    expect(accepted.conversation.state).toBe("open");
    expect(accepted.participant.state).toBe("active");

    const copies = await postCopies();
    expect(copies.map((d) => [d.postId, d.recipientId])).toEqual([
      [held1.id, bob.id],
      [held2.id, bob.id],
    ]);
    expect(copies.map((d) => d.postId)).not.toContain(first.id);
    expect((await participantOf(conversation, bob)).lastReadPostId).toBe(held2.id);
    expect((await notices()).map((n) => [n.kind, n.userId])).toEqual([
      ["invitation", bob.id],
      ["accepted", bob.id],
    ]);
    const toAlice = (await allDeliveries(t)).filter((d) => d.recipientId === alice.id);
    expect(toAlice.map((d) => d.kind)).toEqual(["notice"]);

    // From now on posts go out as usual.
    await seedPost(t, conversation, alice, { body: "See you.", now: LATER + 1000 });
    expect((await postCopies()).length).toBe(3);
  });

  it("a second acceptance is refused and changes nothing", async () => {
    const { conversation } = await aliceWritesToBob();
    await seedPost(t, conversation, alice, { body: "Held.", now: T0 + 1000 });
    await t.write((ctx) => acceptAs(ctx, conversation.id, bob.email), LATER);
    const before = await allDeliveries(t);

    const refusal = await refusalOf(t.write((ctx) => acceptAs(ctx, conversation.id, "BOB@elsewhere.test"), LATER + 1000));
    expect(refusal.reason).toBe("already_exists");
    expect(refusal.sentence).toBe(`bob@elsewhere.test already accepted the invitation to conversation ${conversation.id} ("Lunch").`);
    expect(await allDeliveries(t)).toHaveLength(before.length);
    expect((await notices()).filter((n) => n.kind === "accepted")).toHaveLength(1);
  });

  it("refuses someone who was not invited, and an unknown conversation", async () => {
    const { conversation } = await aliceWritesToBob();
    const carol = await seedUser(t, "carol@elsewhere.test");
    const notInvited = await refusalOf(t.write((ctx) => acceptAs(ctx, conversation.id, carol.email)));
    expect([notInvited.reason, notInvited.sentence]).toEqual(["not_a_participant", `carol@elsewhere.test was not invited to conversation ${conversation.id}.`]);
    const unknown = await refusalOf(t.write((ctx) => declineAs(ctx, 999, bob.email)));
    expect([unknown.reason, unknown.sentence]).toEqual(["not_found", "No conversation has the id 999."]);
    // The initiator has no invitation to answer.
    const initiator = await refusalOf(t.write((ctx) => acceptAs(ctx, conversation.id, alice.email)));
    expect(initiator.reason).toBe("already_exists");
  });
});

describe("declining", () => {
  it("declines the conversation, tells the initiator once, and never delivers what was held", async () => {
    const { conversation } = await aliceWritesToBob();
    await seedPost(t, conversation, alice, { body: "Held.", now: T0 + 1000 });
    const declined = await t.write((ctx) => declineAs(ctx, conversation.id, bob.email), LATER);
    expect(declined.conversation.state).toBe("declined");
    expect((await notices()).map((n) => [n.kind, n.userId])).toEqual([
      ["invitation", bob.id],
      ["declined", bob.id],
    ]);
    expect((await allDeliveries(t)).filter((d) => d.recipientId === alice.id).map((d) => d.kind)).toEqual(["notice"]);

    const again = await refusalOf(t.write((ctx) => declineAs(ctx, conversation.id, bob.email), LATER + 1000));
    expect([again.reason, again.sentence]).toEqual(["conversation_closed", `The invitation to conversation ${conversation.id} ("Lunch") was declined already.`]);
    const late = await refusalOf(t.write((ctx) => acceptAs(ctx, conversation.id, bob.email), LATER + 1000));
    expect(late.reason).toBe("conversation_closed");
    expect((await notices()).filter((n) => n.kind === "declined")).toHaveLength(1);
    expect(await postCopies()).toEqual([]);
  });

  it("then refuses the initiator's mail to the conversation, saying the invitation was declined", async () => {
    const { conversation } = await aliceWritesToBob();
    const aliceP = await participantOf(conversation, alice);
    await t.write((ctx) => declineAs(ctx, conversation.id, bob.email), LATER);

    const address = `reply+${aliceP.replyToken}@${DOMAIN}`;
    const atRcpt = await refusalOf(t.read(({ tx, config }) => resolveRoute(tx, config, address)));
    expect(atRcpt.reason).toBe("conversation_closed");
    expect(atRcpt.sentence).toBe('The invitation to the conversation "Lunch" was declined, so the conversation is closed and nothing sent to it is delivered.');

    // The handler says the same when the message reaches it another way (threading headers).
    const raw = buildMime({ from: "alice@elsewhere.test", to: address, subject: "Re: Lunch", body: "Are you sure?" });
    const inbound = await prepareInbound(t.config, raw, address);
    const declined = await conversationNow(conversation.id);
    const refusal = await refusalOf(runInbound(t, inbound, (ctx) => handleReply(ctx, declined, aliceP), LATER + 1000));
    expect(refusal.sentence).toContain("was declined");
    expect(await postCopies()).toEqual([]);
  });
});

describe("replying while pending", () => {
  it("the initiator's reply is stored and held; the invitee's reply accepts and reaches the initiator", async () => {
    const { conversation } = await aliceWritesToBob();
    const aliceP = await participantOf(conversation, alice);
    const bobP = await participantOf(conversation, bob);
    const aliceAddress = `reply+${aliceP.replyToken}@${DOMAIN}`;
    const held = await runInbound(
      t,
      await prepareInbound(t.config, buildMime({ from: "alice@elsewhere.test", to: aliceAddress, subject: "Re: Lunch", body: "Or one o'clock?" }), aliceAddress),
      (ctx) => handleReply(ctx, conversation, aliceP),
      T0 + 1000,
    );
    expect(held.reason).toBe(`reply stored in conversation ${conversation.id}, held until bob@elsewhere.test accepts the invitation`);
    expect(await postCopies()).toEqual([]);

    const bobAddress = `reply+${bobP.replyToken}@${DOMAIN}`;
    const reply = await runInbound(
      t,
      await prepareInbound(t.config, buildMime({ from: "bob@elsewhere.test", to: bobAddress, subject: "Re: Lunch", body: "One o'clock is fine." }), bobAddress),
      (ctx) => handleReply(ctx, conversation, bobP),
      LATER,
    );
    expect(reply.reason).toBe(`invitation accepted; reply posted to conversation ${conversation.id}`);
    expect((await conversationNow(conversation.id)).state).toBe("open");
    expect((await postCopies()).map((d) => [d.postId, d.recipientId])).toEqual([
      [held.postId, bob.id],
      [reply.postId, alice.id],
    ]);
    // Accepting by reply tells the initiator through the reply itself: no accepted notice.
    expect((await notices()).map((n) => n.kind)).toEqual(["invitation"]);
  });
});

describe("no way around consent", () => {
  it("copying the invitee on a held reply neither makes them a participant nor sends them anything", async () => {
    const { conversation } = await aliceWritesToBob();
    const aliceP = await participantOf(conversation, alice);
    const bobBefore = await participantOf(conversation, bob);
    const address = `reply+${aliceP.replyToken}@${DOMAIN}`;
    const raw = buildMime({ from: "alice@elsewhere.test", to: address, cc: "bob@elsewhere.test", subject: "Re: Lunch", body: "Bob, are you there?" });
    const outcome = await runInbound(t, await prepareInbound(t.config, raw, address), (ctx) => handleReply(ctx, conversation, aliceP), LATER);
    expect(outcome.reason).toContain("held until bob@elsewhere.test accepts");
    expect(await participantOf(conversation, bob)).toEqual(bobBefore);
    expect(await postCopies()).toEqual([]);
    const refusal = await refusalOf(t.write((ctx) => addToConversation(ctx, conversation.id, bob.email, alice.email), LATER));
    expect(refusal.sentence).toBe(`bob@elsewhere.test is already invited to conversation ${conversation.id} and takes part once they accept.`);
  });
});

describe("expiry", () => {
  it("closes an invitation left unanswered for consent.expire_after, telling the initiator once, however often it runs", async () => {
    const { conversation } = await aliceWritesToBob();
    const expireAfter = t.config.consent.expire_after;
    expect(expireAfter).toBe(30 * DAY);

    expect(await t.write((ctx) => expireInvitations(ctx), T0 + expireAfter - 1)).toEqual([]);
    expect((await conversationNow(conversation.id)).state).toBe("pending");

    const expired = await t.write((ctx) => expireInvitations(ctx), T0 + expireAfter);
    expect(expired).toEqual([{ conversationId: conversation.id, participantId: (await participantOf(conversation, bob)).id, conversationState: "closed" }]);
    expect((await conversationNow(conversation.id)).state).toBe("closed");
    expect(await t.write((ctx) => expireInvitations(ctx), T0 + expireAfter + DAY)).toEqual([]);
    expect((await notices()).map((n) => [n.kind, n.userId])).toEqual([
      ["invitation", bob.id],
      ["expired", bob.id],
    ]);
    expect((await allDeliveries(t)).filter((d) => d.recipientId === alice.id)).toHaveLength(1);

    const late = await refusalOf(t.write((ctx) => acceptAs(ctx, conversation.id, bob.email), T0 + expireAfter + DAY));
    expect(late.sentence).toContain("can no longer be answered: it expired");
  });

  it("two nodes expiring at the same moment tell the initiator once", async () => {
    await aliceWritesToBob();
    await seedConversation(t, alice, [bob], { subject: "Second", consent: true });
    const other = await t.openAnother();
    const at = T0 + t.config.consent.expire_after + 1;
    const run = (store: typeof other) => store.transaction((tx) => expireInvitations({ tx, config: t.config, now: at }));
    const [a, b] = await Promise.all([run(t.store), run(other)]);
    expect(a.length + b.length).toBe(2);
    expect((await notices()).filter((n) => n.kind === "expired")).toHaveLength(2);
    expect(new Set((await notices()).filter((n) => n.kind === "expired").map((n) => n.conversationId)).size).toBe(2);
  });

  it("leaves an accepted invitation alone", async () => {
    const { conversation } = await aliceWritesToBob();
    await t.write((ctx) => acceptAs(ctx, conversation.id, bob.email), LATER);
    expect(await t.write((ctx) => expireInvitations(ctx), T0 + 365 * DAY)).toEqual([]);
    expect((await conversationNow(conversation.id)).state).toBe("open");
  });
});

describe("group conversations, when consent.kinds includes them", () => {
  let g: TestStore;
  let carol: User;
  beforeEach(async () => {
    g = await createTestStore(buildConfig({ gateway: { domain: DOMAIN, name: "Acme" }, consent: { kinds: ["direct", "group"] } }, "test"));
    alice = await seedUser(g, "alice@elsewhere.test", "Alice Example");
    bob = await seedUser(g, "bob@elsewhere.test", "Bob Builder");
    carol = await seedUser(g, "carol@elsewhere.test", "Carol Singer");
  });
  afterEach(() => g.dispose());

  const renderedText = async (delivery: Delivery): Promise<string> => {
    const rendered = await compose(await g.read(({ tx, config }) => draftDelivery(tx, config, delivery)));
    return (await simpleParser(rendered.raw)).text ?? "";
  };

  it("each invitee answers for themselves: the first acceptance opens it, a later one still gets everything since their invitation", async () => {
    const { conversation } = await seedConversation(g, alice, [bob, carol], { subject: "Party", consent: true });
    expect(conversation.state).toBe("pending");
    expect((await notices(g)).map((n) => [n.kind, n.userId])).toEqual([
      ["invitation", bob.id],
      ["invitation", carol.id],
    ]);
    const held = await seedPost(g, conversation, alice, { body: "Bring a chair.", now: T0 + 1000 });
    await g.write((ctx) => acceptAs(ctx, conversation.id, bob.email), LATER);
    expect((await conversationNow(conversation.id, g)).state).toBe("open");
    const bobsPost = await seedPost(g, conversation, bob, { body: "I will.", now: LATER + 1000 });
    // Carol has not accepted: nothing reaches her yet.
    expect((await postCopies(g)).filter((d) => d.recipientId === carol.id)).toEqual([]);

    const accepted = await g.write((ctx) => acceptAs(ctx, conversation.id, carol.email), LATER + 2000);
    expect(accepted.delivered).toBe(2);
    expect((await postCopies(g)).filter((d) => d.recipientId === carol.id).map((d) => d.postId)).toEqual([held.id, bobsPost.id]);
  });

  it("one invitee declining leaves the others' invitations standing; the last one declining declines the conversation", async () => {
    const { conversation } = await seedConversation(g, alice, [bob, carol], { subject: "Party", consent: true });
    const first = await g.write((ctx) => declineAs(ctx, conversation.id, bob.email), LATER);
    expect(first.conversation.state).toBe("pending");
    expect(first.participant.state).toBe("left");
    const bobP = await participantOf(conversation, bob, g);
    const refused = await refusalOf(g.write((ctx) => declineInvitation(ctx, conversation.id, bobP.id), LATER + 1));
    expect(refused.reason).toBe("participant_gone");

    // What Alice reads about Bob while Carol may still accept: the conversation is not closed.
    const aboutBob = (await allDeliveries(g)).filter((d) => d.kind === "notice" && d.recipientId === alice.id);
    expect(await renderedText(aboutBob[0]!)).toContain("Bob Builder declined your invitation to the conversation \"Party\". What you wrote was not delivered to them.\n");

    const last = await g.write((ctx) => declineAs(ctx, conversation.id, carol.email), LATER + 2000);
    expect(last.conversation.state).toBe("declined");
    expect((await notices(g)).filter((n) => n.kind === "declined").map((n) => n.userId)).toEqual([bob.id, carol.id]);
    const aboutCarol = (await allDeliveries(g)).filter((d) => d.kind === "notice" && d.recipientId === alice.id);
    expect(await renderedText(aboutCarol[1]!)).toContain("What you wrote was not delivered to them, and the conversation is closed.");
  });
});
