// handleNote called directly: the rules the note+ route does not already check.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tokenAddress } from "../../../src/domain/addresses.js";
import { findParticipant, setConversationState } from "../../../src/domain/conversations.repo.js";
import { addGroupMember, removeGroupMember } from "../../../src/domain/groups.service.js";
import { listPosts } from "../../../src/domain/posts.repo.js";
import type { Conversation, Participant, User } from "../../../src/domain/records.js";
import { handleNote } from "../../../src/inbound/handlers/note.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import { buildMime, DOMAIN, prepareInbound, refusalOf, runInbound, seedConversation, seedGroup, seedUser } from "../../helpers/seed.js";

let t: TestStore;
let alice: User;
let bob: User;
let conversation: Conversation;
let aliceParticipant: Participant;
let noteAddress: string;

beforeEach(async () => {
  t = await createTestStore();
  alice = await seedUser(t, "alice@team.test", "Alice Agent", "staff");
  bob = await seedUser(t, "bob@team.test", "Bob Agent", "staff");
  const carol = await seedUser(t, "carol@customer.test", "Carol Customer");
  const group = await seedGroup(t, "support", `support@${DOMAIN}`, [alice, bob]);
  ({ conversation } = await seedConversation(t, carol, [], { group, subject: "Broken widget" }));
  aliceParticipant = (await t.read(({ tx }) => findParticipant(tx, conversation.id, alice.id)))!;
  noteAddress = tokenAddress("note", aliceParticipant.replyToken, DOMAIN);
});
afterEach(() => t.dispose());

const note = async (body: string, extra: { cc?: string; attachments?: { filename: string; contentType: string; content: Buffer }[] } = {}) => {
  const inbound = await prepareInbound(t.config, buildMime({ from: "Alice Agent <alice@team.test>", to: noteAddress, subject: "Re: Broken widget", body, ...extra }), noteAddress);
  return runInbound(t, inbound, (ctx) => handleNote(ctx, conversation, aliceParticipant));
};

describe("handleNote", () => {
  it("posts a note, brings nobody in by CC, and says so in the mail log", async () => {
    const outcome = await note("Refund approved.", { cc: "dave@customer.test, bob@team.test" });
    expect(outcome).toMatchObject({ outcome: "accepted", reason: "internal note posted to conversation 1; not added: dave@customer.test (a note brings nobody in); bob@team.test (a note brings nobody in)" });
    const posts = await t.read(({ tx }) => listPosts(tx, conversation.id));
    expect(posts.map((p) => [p.note, p.body.trim()])).toEqual([[false, "Hello."], [true, "Refund approved."]]);
  });

  it("takes a note made of an attachment only, and refuses too many attachments", async () => {
    const file = { filename: "photo.txt", contentType: "text/plain", content: Buffer.from("x") };
    expect((await note("", { attachments: [file] })).outcome).toBe("accepted");
    const many = Array.from({ length: t.config.attachments.max_count + 1 }, (_, i) => ({ ...file, filename: `f${i}.txt` }));
    expect((await refusalOf(note("Many.", { attachments: many }))).reason).toBe("too_many_attachments");
  });

  it("refuses a former member with a sentence, and a note into a closed conversation", async () => {
    await t.write(({ tx }) => removeGroupMember(tx, "support", alice.email));
    const gone = await refusalOf(note("Still here?"));
    expect([gone.reason, gone.sentence]).toEqual([
      "not_allowed",
      'Only the members of the group support write internal notes in the conversation "Broken widget", and alice@team.test is not one of them (any more), so this note was not posted.',
    ]);
    await t.write(async (ctx) => {
      await addGroupMember(ctx, "support", alice.email);
      await setConversationState(ctx.tx, conversation.id, "closed", ctx.now);
    });
    conversation = { ...conversation, state: "closed" };
    expect((await refusalOf(note("Closed?"))).reason).toBe("conversation_closed");
  });
});
