// handleAlias, called directly: USERNAME@DOMAIN starts a direct conversation with that member.
// The member's own address is private: what the sender can read back (a refusal, or the text of
// the 250 reply, which is the outcome's reason) names the alias, never that address.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../../src/config/config.js";
import { findConversation, participantsWithUsers } from "../../../src/domain/conversations.repo.js";
import { listPosts } from "../../../src/domain/posts.repo.js";
import type { User } from "../../../src/domain/records.js";
import { findUserByEmail } from "../../../src/domain/users.repo.js";
import { setUserSettings } from "../../../src/domain/users.service.js";
import type { AppliedOutcome } from "../../../src/inbound/inbound.js";
import { handleAlias } from "../../../src/inbound/handlers/alias.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import { buildMime, DOMAIN, prepareInbound, refusalOf, runInbound, seedConversation, seedMember, seedUser, T0 } from "../../helpers/seed.js";

const ALIAS = `mira@${DOMAIN}`;
const PRIVATE = "mira.private@home.test";
const T1 = T0 + 60_000;

let t: TestStore;
let mira: User;

beforeEach(async () => {
  t = await createTestStore();
  mira = await seedMember(t, PRIVATE, "mira", "Mira Member");
});

afterEach(async () => {
  await t.dispose();
});

async function send(raw: Buffer, member = mira, store = t, now = T1): Promise<AppliedOutcome> {
  const inbound = await prepareInbound(store.config, raw, ALIAS, undefined, "dmarc-pass");
  return runInbound(store, inbound, (ctx) => handleAlias(ctx, member, ALIAS), now);
}

const toMira = (from: string, extra: Partial<Parameters<typeof buildMime>[0]> = {}) =>
  buildMime({ from, to: `Mira <${ALIAS}>`, subject: "Your talk", body: "I enjoyed your talk. Could we meet?", ...extra });

describe("handleAlias", () => {
  it("starts a direct conversation between a member and the alias's owner, pending their consent, with one invitation queued for the owner", async () => {
    const bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
    const outcome = await send(toMira("Bob Builder <bob@elsewhere.test>"));

    expect(outcome.outcome).toBe("accepted");
    const conversation = await t.read(({ tx }) => findConversation(tx, outcome.conversationId!));
    expect(conversation).toMatchObject({ kind: "direct", state: "pending", groupId: null, createdById: bob.id, subject: "Your talk" });
    const people = await t.read(({ tx }) => participantsWithUsers(tx, conversation!.id));
    expect(people.map((p) => [p.user.email, p.participant.role, p.participant.state])).toEqual([
      ["bob@elsewhere.test", "owner", "active"],
      [PRIVATE, "member", "invited"],
    ]);
    const posts = await t.read(({ tx }) => listPosts(tx, conversation!.id));
    expect(posts.map((p) => [p.id, p.authorId, p.body, p.state])).toEqual([[outcome.postId, bob.id, "I enjoyed your talk. Could we meet?", "sent"]]);
    // Consent (SPEC §5): the first message reaches Mira inside her invitation, not as a copy.
    const queued = await t.read(({ tx }) => tx.db.query.deliveries.findMany());
    expect(queued.map((d) => [d.kind, d.recipientId, d.toAddress])).toEqual([["notice", mira.id, PRIVATE]]);
    expect(outcome.reason).toBe(`new direct conversation with ${ALIAS}, waiting for ${ALIAS} to accept the invitation`);
  });

  it("stages a stranger who writes to the alias, with their display name", async () => {
    const outcome = await send(toMira("Stan Ger <stan@elsewhere.test>"));
    expect(outcome.outcome).toBe("accepted");
    expect(await t.read(({ tx }) => findUserByEmail(tx, "stan@elsewhere.test"))).toMatchObject({ status: "staged", name: "Stan Ger" });
  });

  // The reason is the text of the 250 reply ("2.0.0 Accepted: <reason>"), which the sending side reads.
  it("alias accepted reason leaks the member's address: the reason names the alias instead", async () => {
    const outcome = await send(toMira("Stan Ger <stan@elsewhere.test>"));
    expect(outcome.reason).toContain(ALIAS);
    expect(outcome.reason).not.toContain(PRIVATE);
  });

  it("refuses when the member does not accept messages (user_unreachable), naming the alias and not the member's address", async () => {
    await t.write(({ tx }) => setUserSettings(tx, PRIVATE, { messagesEnabled: false }));
    const current = (await t.read(({ tx }) => findUserByEmail(tx, PRIVATE)))!;
    const refusal = await refusalOf(send(toMira("Stan Ger <stan@elsewhere.test>"), current));

    expect(refusal.reason).toBe("user_unreachable");
    expect(refusal.sentence).toBe(`${ALIAS} does not accept new conversations.`);
    expect(refusal.sentence).not.toContain(PRIVATE);
    // The transaction rolled back: no conversation, and the stranger was not staged.
    expect(await t.read(({ tx }) => tx.db.query.conversations.findMany())).toEqual([]);
    expect(await t.read(({ tx }) => findUserByEmail(tx, "stan@elsewhere.test"))).toBeUndefined();
  });

  it("refuses an author whose role may not start direct conversations (not_allowed), naming the alias", async () => {
    const strict = await createTestStore(buildConfig({ gateway: { domain: DOMAIN, name: "Acme" }, abilities: { start_direct: ["staff", "admin"] } }, "test"));
    try {
      const member = await seedMember(strict, PRIVATE, "mira", "Mira Member");
      await seedUser(strict, "bob@elsewhere.test", "Bob Builder");
      const refusal = await refusalOf(send(toMira("bob@elsewhere.test"), member, strict));
      expect(refusal.reason).toBe("not_allowed");
      expect(refusal.sentence).toBe(`bob@elsewhere.test may not start conversations with ${ALIAS}.`);
      expect(refusal.sentence).not.toContain(PRIVATE);
      expect(await strict.read(({ tx }) => tx.db.query.conversations.findMany())).toEqual([]);

      // Staff may.
      await seedUser(strict, "sam@team.test", "Sam Staff", "staff");
      expect((await send(toMira("sam@team.test"), member, strict)).outcome).toBe("accepted");
    } finally {
      await strict.dispose();
    }
  });

  it("posts a reply with threading headers into the conversation with the member", async () => {
    const bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
    const { conversation, post } = await seedConversation(t, mira, [bob], { subject: "Your talk", body: "Thanks for coming." });
    const outcome = await send(toMira("bob@elsewhere.test", { subject: "Re: Your talk", body: "Next week?", inReplyTo: post.messageId }));
    expect(outcome).toMatchObject({ outcome: "accepted", conversationId: conversation.id });
    expect(await t.read(({ tx }) => listPosts(tx, conversation.id))).toHaveLength(2);
  });

  it("alias threaded reply lands in a conversation without the member: it starts one with the member instead", async () => {
    // Bob and Alice have a conversation Mira is not part of. Bob writes to Mira's alias, quoting it.
    const bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
    const alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
    const other = await seedConversation(t, alice, [bob], { subject: "Budget", body: "Here is the budget." });

    const outcome = await send(toMira("bob@elsewhere.test", { subject: "Fwd: Budget", body: "Mira, what do you think?", inReplyTo: other.post.messageId }));

    // Posting into Bob and Alice's conversation would send Alice a message meant for Mira, and Mira nothing.
    expect(outcome.conversationId).not.toBe(other.conversation.id);
    expect(await t.read(({ tx }) => listPosts(tx, other.conversation.id))).toHaveLength(1);
    const people = await t.read(({ tx }) => participantsWithUsers(tx, outcome.conversationId!));
    expect(people.map((p) => p.user.email).sort()).toEqual(["bob@elsewhere.test", PRIVATE]);
  });
});
