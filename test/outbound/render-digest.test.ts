// A digest as it is rendered: conversations in order with their posts and reply addresses, and a
// muted conversation as a count of its unread messages only.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { setConversationDelivery } from "../../src/domain/delivery-modes.service.js";
import { makeDigest } from "../../src/domain/digests.service.js";
import { setUserSettings } from "../../src/domain/users.service.js";
import { draftDelivery } from "../../src/outbound/render.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { allDeliveries, seedConversation, seedPost, seedUser, T0 } from "../helpers/seed.js";

let t: TestStore;
beforeEach(async () => {
  t = await createTestStore();
});
afterEach(() => t.dispose());

describe("render a digest", () => {
  it("lists each conversation with its posts and reply address, and a muted one as a count", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test", "Alice");
    const bob = await seedUser(t, "bob@elsewhere.test", null);
    await t.write(({ tx }) => setUserSettings(tx, bob.email, { delivery: "digest" }));
    const { conversation: quiet } = await seedConversation(t, alice, [bob], { subject: "Chatter", body: "Blah." });
    await t.write(async (ctx) => {
      const participant = await findParticipant(ctx.tx, quiet.id, bob.id);
      await setConversationDelivery(ctx, quiet, participant!, bob, "mute");
    }, T0);
    await seedPost(t, quiet, alice, { body: "More blah." });
    const { conversation } = await seedConversation(t, alice, [bob], { subject: "Plans", body: "Friday?" });
    await seedPost(t, conversation, bob, { body: "Yes." });
    await seedPost(t, conversation, alice, { body: "Noon then.\n\nSee you at https://maps.example/cafe" });

    const digest = await t.write((ctx) => makeDigest(ctx, bob.id), T0);
    const delivery = (await allDeliveries(t)).find((d) => d.digestId === digest!.id)!;
    const draft = await t.read(({ tx }) => draftDelivery(tx, t.config, delivery));
    const text = String(draft.mail.text);
    const bobsReply = `reply+${(await t.read(({ tx }) => findParticipant(tx, conversation.id, bob.id)))!.replyToken}@example.test`;

    expect(draft.mail.subject).toBe("Unread: 1 conversation (Acme)");
    expect(draft.messageId).toBe(`<postern.digest.${delivery.bounceToken}@example.test>`);
    // Posts after Bob's own answer only: writing read the ones before it.
    expect(text).not.toContain("Friday?");
    expect(text).toContain(`== "Plans" ==\n\n----- Alice, ${new Date(T0).toUTCString()} -----\nNoon then.\n\nSee you at https://maps.example/cafe\n\nTo answer in this conversation, send an email to ${bobsReply}.`);
    expect(text).toContain('Muted: 2 unread messages in "Chatter".');
    expect(text).not.toContain("Blah.");
    expect(String(draft.mail.html)).toContain(`<a href="mailto:${bobsReply}">`);
    // A post that came as plain text has its web address linked, as in a copy of its own.
    expect(String(draft.mail.html)).toContain('<a href="https://maps.example/cafe"');
  });
});
