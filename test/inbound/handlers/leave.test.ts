// handleLeave, called directly: leave+TOKEN@ (List-Unsubscribe) ends one participant's part in one
// conversation, and only when the mail comes from that participant.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tokenAddress } from "../../../src/domain/addresses.js";
import { findParticipant, participantsWithUsers } from "../../../src/domain/conversations.repo.js";
import { listPosts } from "../../../src/domain/posts.repo.js";
import { handleLeave } from "../../../src/inbound/handlers/leave.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import { buildMime, DOMAIN, prepareInbound, refusalOf, runInbound, seedDirectConversation, seedPost, T0 } from "../../helpers/seed.js";

const T1 = T0 + 3_600_000;

let t: TestStore;

beforeEach(async () => {
  t = await createTestStore();
});

afterEach(async () => {
  await t.dispose();
});

/** What a List-Unsubscribe mailto sends: usually an empty body and a fixed subject. */
function unsubscribe(from: string, to: string) {
  return buildMime({ from, to, subject: "unsubscribe", body: "" });
}

describe("handleLeave", () => {
  it("marks the participant left, at the message's time, and posts nothing", async () => {
    const w = await seedDirectConversation(t);
    const address = tokenAddress("leave", w.bobParticipant.leaveToken, DOMAIN);
    const inbound = await prepareInbound(t.config, unsubscribe("Bob Builder <bob@elsewhere.test>", address), address);
    const outcome = await runInbound(t, inbound, (ctx) => handleLeave(ctx, w.conversation, w.bobParticipant), T1);

    expect(outcome).toEqual({ outcome: "accepted", reason: `left conversation ${w.conversation.id}`, conversationId: w.conversation.id });
    const bob = await t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.bob.id));
    expect(bob).toMatchObject({ state: "left", leftAt: T1 });
    // Alice stays; the leave message itself is not a post.
    const alice = await t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.alice.id));
    expect(alice?.state).toBe("active");
    expect(await t.read(({ tx }) => listPosts(tx, w.conversation.id))).toHaveLength(1);
    // Bob is told, in one notice to him alone.
    const told = await t.read(({ tx }) => tx.db.query.notices.findMany({ where: (n, { eq }) => eq(n.conversationId, w.conversation.id) }));
    expect(told.map((n) => [n.kind, n.userId])).toEqual([["left", w.bob.id]]);
  });

  it("leaves the departed participant out of later posts", async () => {
    const w = await seedDirectConversation(t);
    const address = tokenAddress("leave", w.bobParticipant.leaveToken, DOMAIN);
    const inbound = await prepareInbound(t.config, unsubscribe("bob@elsewhere.test", address), address);
    await runInbound(t, inbound, (ctx) => handleLeave(ctx, w.conversation, w.bobParticipant));
    const later = await seedPost(t, w.conversation, w.alice, { body: "Still there?" });
    const copies = await t.read(({ tx }) => tx.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.postId, later.id) }));
    expect(copies).toEqual([]);
  });

  it("refuses a leave request From another address (sender_mismatch) and keeps the participant", async () => {
    const w = await seedDirectConversation(t);
    const address = tokenAddress("leave", w.bobParticipant.leaveToken, DOMAIN);
    // Alice cannot take Bob out of the conversation with Bob's leave address.
    const inbound = await prepareInbound(t.config, unsubscribe("Alice Example <alice@elsewhere.test>", address), address);
    const refusal = await refusalOf(runInbound(t, inbound, (ctx) => handleLeave(ctx, w.conversation, w.bobParticipant)));

    expect(refusal.reason).toBe("sender_mismatch");
    expect(refusal.sentence).toContain("alice@elsewhere.test");
    expect(refusal.sentence).toContain('"Lunch on Friday?"');
    const people = await t.read(({ tx }) => participantsWithUsers(tx, w.conversation.id));
    expect(people.map((p) => [p.user.email, p.participant.state])).toEqual([
      ["alice@elsewhere.test", "active"],
      ["bob@elsewhere.test", "active"],
    ]);
  });

  it("refuses a second unsubscribe with a sentence, keeping the first departure's time", async () => {
    // The route already answers a departed participant's leave address with 550; this is the handler's own guard.
    const w = await seedDirectConversation(t);
    const address = tokenAddress("leave", w.bobParticipant.leaveToken, DOMAIN);
    const first = await prepareInbound(t.config, unsubscribe("bob@elsewhere.test", address), address);
    await runInbound(t, first, (ctx) => handleLeave(ctx, w.conversation, w.bobParticipant), T1);
    const left = await t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.bob.id));
    const second = await prepareInbound(t.config, unsubscribe("bob@elsewhere.test", address), address);
    const refusal = await refusalOf(runInbound(t, second, (ctx) => handleLeave(ctx, w.conversation, left!), T1 + 1000));
    expect(refusal.sentence).toBe(`You are not taking part in conversation ${w.conversation.id} ("Lunch on Friday?") any more: you left it already.`);
    expect(await t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.bob.id))).toMatchObject({ state: "left", leftAt: T1 });
  });
});
