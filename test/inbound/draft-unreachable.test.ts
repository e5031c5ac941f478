import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import type { Conversation, Participant, Post, User } from "../../src/domain/records.js";
import { handleAlias } from "../../src/inbound/handlers/alias.js";
import { resolveRoute } from "../../src/inbound/route.js";
import { findThread } from "../../src/inbound/thread.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { allDeliveries, buildMime, DOMAIN, prepareInbound, refusalOf, runInbound, seedMember, seedUser } from "../helpers/seed.js";

/**
 * SPEC §5: a draft is its author's alone until it is sent. Its tokens and its post's Message-ID
 * never left Postern, and mail that names them anyway (guessed, or leaked by a bug) finds nothing.
 */
let t: TestStore;
let alice: User;
let bob: User;
let draft: Conversation;
let draftPost: Post;
let bobParticipant: Participant;

beforeEach(async () => {
  t = await createTestStore();
  alice = await seedMember(t, "alice@example.test", "alice", "Alice Example", "staff");
  bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  ({ conversation: draft, post: draftPost } = await t.write((ctx) =>
    createConversation(ctx, { from: alice.email, to: [bob.email, "carol@elsewhere.test"], subject: "Secret plans", body: "Not yet.", draft: true }),
  ));
  const participant = await t.read(({ tx }) => findParticipant(tx, draft.id, bob.id));
  if (!participant) throw new Error("the draft's recipient is no participant");
  bobParticipant = participant;
});
afterEach(() => t.dispose());

describe("mail and a draft", () => {
  it("thread matching does not find a draft by its post's Message-ID, even for its own people", async () => {
    for (const sender of [alice, bob, undefined]) {
      expect(await t.read(({ tx }) => findThread(tx, [draftPost.messageId], sender))).toBeUndefined();
    }
  });

  it("a draft's reply and leave tokens are unknown addresses that do not reveal its subject", async () => {
    for (const address of [`reply+${bobParticipant.replyToken}@${DOMAIN}`, `leave+${bobParticipant.leaveToken}@${DOMAIN}`, `note+${bobParticipant.replyToken}@${DOMAIN}`]) {
      const refusal = await refusalOf(t.read(({ tx }) => resolveRoute(tx, t.config, address)));
      expect(refusal.reason).toBe("unknown_recipient");
      expect(refusal.sentence).not.toContain("Secret plans");
    }
    for (const kind of ["accept", "decline"]) {
      const refusal = await refusalOf(t.read(({ tx }) => resolveRoute(tx, t.config, `${kind}+${bobParticipant.replyToken}@${DOMAIN}`)));
      expect(refusal.reason).toBe("unknown_recipient");
      expect(refusal.sentence).not.toContain("Secret plans");
    }
  });

  it("mail to the author's alias answering the draft's Message-ID starts a new conversation instead", async () => {
    const raw = buildMime({ from: bob.email, to: `alice@${DOMAIN}`, subject: "Re: Secret plans", inReplyTo: draftPost.messageId, body: "I saw it?" });
    const inbound = await prepareInbound(t.config, raw, `alice@${DOMAIN}`, undefined, "dmarc-pass");
    const outcome = await runInbound(t, inbound, (ctx) => handleAlias(ctx, alice, `alice@${DOMAIN}`));
    expect(outcome.conversationId).not.toBe(draft.id);
    const draftCopies = (await allDeliveries(t)).filter((d) => d.conversationId === draft.id);
    expect(draftCopies).toEqual([]);
  });
});
