// handleFromAddress, called directly: conversations@ (the From of conversation mail) takes only a
// participant's reply that names a conversation through its threading headers; anything else is
// refused with a sentence.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listPosts } from "../../../src/domain/posts.repo.js";
import { findUserByEmail } from "../../../src/domain/users.repo.js";
import { handleFromAddress } from "../../../src/inbound/handlers/from-address.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import { buildMime, prepareInbound, refusalOf, runInbound, seedDirectConversation, seedLeave, seedUser, T0, type DirectConversation } from "../../helpers/seed.js";

const T1 = T0 + 60_000;

let t: TestStore;
let w: DirectConversation;
let FROM_ADDRESS: string;

beforeEach(async () => {
  t = await createTestStore();
  FROM_ADDRESS = t.config.fromAddress;
  w = await seedDirectConversation(t);
});

afterEach(async () => {
  await t.dispose();
});

async function send(raw: Buffer) {
  const inbound = await prepareInbound(t.config, raw, FROM_ADDRESS, undefined, "dmarc-pass");
  return runInbound(t, inbound, (ctx) => handleFromAddress(ctx), T1);
}

const answer = (from: string, extra: Partial<Parameters<typeof buildMime>[0]> = {}) =>
  buildMime({ from, to: `"Alice Example via Acme" <${FROM_ADDRESS}>`, subject: "Re: Lunch on Friday?", body: "Noon works.", ...extra });

const posts = () => t.read(({ tx }) => listPosts(tx, w.conversation.id));

describe("handleFromAddress", () => {
  it("posts a participant's reply that names the conversation in In-Reply-To, with a copy for the others", async () => {
    const outcome = await send(answer("Bob Builder <bob@elsewhere.test>", { inReplyTo: w.post.messageId, references: w.post.messageId }));

    expect(outcome).toMatchObject({ outcome: "accepted", reason: `reply posted to conversation ${w.conversation.id}`, conversationId: w.conversation.id });
    const all = await posts();
    expect(all.map((p) => [p.authorId, p.body])).toEqual([
      [w.alice.id, "Shall we meet at noon?"],
      [w.bob.id, "Noon works."],
    ]);
    expect(all[1]).toMatchObject({ id: outcome.postId, parentId: w.post.id, state: "sent", sentAt: T1 });
    const copies = await t.read(({ tx }) => tx.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.postId, outcome.postId!) }));
    expect(copies.map((d) => d.toAddress)).toEqual(["alice@elsewhere.test"]);
  });

  it("refuses a known user who does not take part (not_a_participant), naming the conversation", async () => {
    await seedUser(t, "carol@elsewhere.test", "Carol");
    const refusal = await refusalOf(send(answer("carol@elsewhere.test", { inReplyTo: w.post.messageId })));
    expect(refusal.reason).toBe("not_a_participant");
    expect(refusal.sentence).toBe('carol@elsewhere.test is not taking part in the conversation "Lunch on Friday?", so this message cannot be posted to it.');
    expect(await posts()).toHaveLength(1);
  });

  it("refuses a stranger the same way, and stages nobody", async () => {
    const refusal = await refusalOf(send(answer("Stan Ger <stan@elsewhere.test>", { inReplyTo: w.post.messageId })));
    expect(refusal.reason).toBe("not_a_participant");
    expect(await t.read(({ tx }) => findUserByEmail(tx, "stan@elsewhere.test"))).toBeUndefined();
  });

  it("refuses a participant who left (not_a_participant): leaving is not undone by writing here", async () => {
    await seedLeave(t, w.conversation, w.bob);
    const refusal = await refusalOf(send(answer("bob@elsewhere.test", { inReplyTo: w.post.messageId })));
    expect(refusal.reason).toBe("not_a_participant");
    expect(await posts()).toHaveLength(1);
  });

  it("refuses a message without threading headers (no_thread_found), explaining where to reply", async () => {
    const refusal = await refusalOf(send(answer("bob@elsewhere.test")));
    expect(refusal.reason).toBe("no_thread_found");
    expect(refusal.sentence).toMatch(/only receives replies to conversations/);
    expect(refusal.sentence).toMatch(/reply to one of its emails/);
    expect(await posts()).toHaveLength(1);
  });

  it("refuses threading headers that name no message Postern knows (no_thread_found)", async () => {
    const refusal = await refusalOf(send(answer("bob@elsewhere.test", { inReplyTo: "<unknown@elsewhere.test>", references: "<older@elsewhere.test>" })));
    expect(refusal.reason).toBe("no_thread_found");
  });

  it("applies the reply rules to what it finds: empty after trimming is refused (empty_reply)", async () => {
    const refusal = await refusalOf(
      send(answer("bob@elsewhere.test", { inReplyTo: w.post.messageId, body: "On Wed, 15 Jan 2025, Alice via Acme wrote:\n> Shall we meet at noon?\n" })),
    );
    expect(refusal.reason).toBe("empty_reply");
  });
});
