// handlePrivateReply called directly: the sender comes first, and the mail log says what happened.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tokenAddress } from "../../../src/domain/addresses.js";
import type { Conversation, User } from "../../../src/domain/records.js";
import { handlePrivateReply } from "../../../src/inbound/handlers/private-reply.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import { buildMime, deliveryOf, DOMAIN, prepareInbound, refusalOf, runInbound, seedConversation, seedGroup, seedPost, seedUser } from "../../helpers/seed.js";

let t: TestStore;
let alice: User;
let bob: User;
let conversation: Conversation;

beforeEach(async () => {
  t = await createTestStore();
  alice = await seedUser(t, "alice@team.test", "Alice Agent", "staff");
  bob = await seedUser(t, "bob@team.test", "Bob Agent", "staff");
  const carol = await seedUser(t, "carol@customer.test", "Carol Customer");
  const group = await seedGroup(t, "support", `support@${DOMAIN}`, [alice, bob]);
  ({ conversation } = await seedConversation(t, carol, [], { group, subject: "Broken widget" }));
});
afterEach(() => t.dispose());

describe("handlePrivateReply", () => {
  it("checks the sender before anything else, and posts nothing when refused", async () => {
    const post = await seedPost(t, conversation, alice, { body: "Let me handle this." });
    const delivery = await t.read((ctx) => deliveryOf(ctx, post.id, bob.id));
    const address = tokenAddress("private", delivery.bounceToken, DOMAIN);
    const forged = await prepareInbound(t.config, buildMime({ from: "mallory@evil.test", to: address, body: "" }), address);
    expect((await refusalOf(runInbound(t, forged, (ctx) => handlePrivateReply(ctx, delivery)))).reason).toBe("sender_mismatch");
    const genuine = await prepareInbound(t.config, buildMime({ from: "Bob Agent <bob@team.test>", to: address, body: "Sure, go ahead." }), address);
    const outcome = await runInbound(t, genuine, (ctx) => handlePrivateReply(ctx, delivery));
    expect(outcome).toMatchObject({ outcome: "accepted", conversationId: 2 });
    expect(outcome.reason).toBe(`private reply started conversation 2, answering post ${post.id} of conversation 1`);
  });
});
