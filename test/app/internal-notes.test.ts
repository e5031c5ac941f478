import { and, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deliveries } from "../../schema/schema.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { removeGroupMember } from "../../src/domain/groups.service.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { smtpError, tokenOf, type TestGateway } from "../helpers/gateway.js";
import { ALICE, BOB, CAROL, SUPPORT, addressIn, carolWrites, copyFor, nextMessages, replyToOf, settle, startDesk } from "../helpers/desk.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";

const SUBJECT = "My order has not arrived";

/** Message-IDs a copy's threading headers name. */
function threadIds(message: SinkMessage): string[] {
  const refs = message.parsed.references;
  return [...(message.parsed.inReplyTo ? [message.parsed.inReplyTo] : []), ...(Array.isArray(refs) ? refs : refs ? [refs] : [])];
}

async function deliveriesOfPost(t: TestGateway, postId: number): Promise<string[]> {
  const rows = await t.read(({ tx }) => tx.db.select().from(deliveries).where(and(eq(deliveries.postId, postId), eq(deliveries.kind, "post"))));
  return rows.map((row) => row.toAddress).sort();
}

describe("internal notes (note+TOKEN@): the desk talks among itself", () => {
  let t: TestGateway;
  let alice: SinkMessage;
  let bob: SinkMessage;

  beforeEach(async () => {
    t = await startDesk();
    ({ alice, bob } = await carolWrites(t, SUBJECT));
  });
  afterEach(() => t.dispose());

  it("names each member's note address, with their reply token, in their copy only", async () => {
    const aliceToken = tokenOf(replyToOf(alice), "reply");
    expect(addressIn(alice, "note")).toBe(`note+${aliceToken}@example.test`);
    expect(alice.parsed.text).toContain(`To write an internal note that only the members of support see, send it to note+${aliceToken}@example.test.`);
    expect(alice.parsed.html).toContain(`<a href="mailto:note+${aliceToken}@example.test">`);
    expect(addressIn(bob, "note")).toBe(`note+${tokenOf(replyToOf(bob), "reply")}@example.test`);
  });

  it("delivers a note to the other members only, marked as one, answering as a note", async () => {
    const noteAddress = addressIn(alice, "note")!;
    const info = await t.send({ from: ALICE, to: noteAddress, cc: "dave@customer.test", subject: `Re: ${SUBJECT}`, text: "Bob, can you check the warehouse?" });
    expect(info.response).toMatch(/^250 .*internal note posted to conversation 1; not added: dave@customer\.test/);

    const [toBob] = await nextMessages(t, 2, 1);
    expect(toBob!.envelope.rcptTo).toEqual([BOB]);
    expect(toBob!.parsed.text).toMatch(/^\[Internal note\] Only the members of support see this message/);
    expect(toBob!.parsed.html).toContain("[Internal note]");
    expect(toBob!.parsed.from?.value).toEqual([{ address: SUPPORT, name: "Alice Agent via support (internal note)" }]);
    // Answering the note continues as a note; the public reply address is named for the other case.
    const bobToken = tokenOf(replyToOf(bob), "reply");
    expect(replyToOf(toBob!)).toBe(`note+${bobToken}@example.test`);
    expect(toBob!.parsed.text).toContain(`To answer in the conversation instead, so that everyone in it receives it, send an email to reply+${bobToken}@example.test.`);
    expect(toBob!.parsed.subject).toBe(`Re: ${SUBJECT}`);
    expect(toBob!.parsed.inReplyTo).toBe(alice.parsed.messageId);

    const posts = await t.read(({ tx }) => listPosts(tx, 1));
    expect(posts.map((p) => p.note)).toEqual([false, true]);
    expect(await deliveriesOfPost(t, posts[1]!.id)).toEqual([BOB]);
    // The CC'd address was not brought in: a note never adds anyone.
    expect(await t.read(({ tx }) => findUserByEmail(tx, "dave@customer.test"))).toBeUndefined();

    // Bob answers the note by replying to it: another note, which Alice gets and Carol does not.
    await t.send({ from: BOB, to: replyToOf(toBob!), subject: `Re: ${SUBJECT}`, text: "Checked: it shipped.", inReplyTo: toBob!.parsed.messageId! });
    const [toAlice] = await nextMessages(t, 3, 1);
    expect(toAlice!.envelope.rcptTo).toEqual([ALICE]);
    expect(toAlice!.parsed.text).toMatch(/^\[Internal note\]/);
    expect((await t.read(({ tx }) => listPosts(tx, 1))).map((p) => p.note)).toEqual([false, true, true]);
    expect((await settle(t, 4)).filter((m) => m.envelope.rcptTo.includes(CAROL))).toEqual([]);
  });

  it("keeps notes out of the outside person's threading headers, and out of their copies", async () => {
    await t.send({ from: ALICE, to: addressIn(alice, "note")!, subject: `Re: ${SUBJECT}`, text: "Internal: refund approved." });
    const [noteCopy] = await nextMessages(t, 2, 1);
    const noteId = noteCopy!.parsed.messageId!;

    // Bob answers Carol publicly, and his client threads the answer on the note it last saw.
    await t.send({ from: BOB, to: replyToOf(bob), subject: `Re: ${SUBJECT}`, text: "Your refund is on its way.", inReplyTo: noteId, references: [alice.parsed.messageId!, noteId] });
    const copies = await nextMessages(t, 3, 2);
    const toCarol = copyFor(copies, CAROL);
    expect(toCarol.parsed.text).toContain("Your refund is on its way.");
    // Carol's client has her first message under its own Message-ID: her copy answers that one, and
    // names no member's original id (src/outbound/threading.ts); the note's ids appear nowhere.
    const [carolsPost, , bobsPost] = await t.read(({ tx }) => listPosts(tx, 1));
    expect(threadIds(toCarol)).toEqual([carolsPost!.sourceMessageId, alice.parsed.messageId, carolsPost!.sourceMessageId]);
    expect(toCarol.raw.toString()).not.toContain(noteId.replace(/[<>]/g, ""));
    expect(toCarol.raw.toString()).not.toContain("refund approved");
    // No note address and no private address in the outside person's copy.
    expect(addressIn(toCarol, "note")).toBeUndefined();
    expect(toCarol.raw.toString()).not.toMatch(/note\+|private\+/);
    // A public post answers the last public post, never a note, whoever reads it.
    expect(threadIds(copyFor(copies, ALICE))).toEqual([alice.parsed.messageId, carolsPost!.sourceMessageId, alice.parsed.messageId, bobsPost!.sourceMessageId]);

    // Carol's answer to Bob's copy is public, and answers Bob's post.
    await t.send({ from: CAROL, to: replyToOf(toCarol), subject: `Re: ${SUBJECT}`, text: "Great, thanks." });
    const later = await nextMessages(t, 5, 2);
    expect(later.every((m) => m.parsed.text?.startsWith("Great, thanks."))).toBe(true);
  });

  it("refuses a stranger, or the outside person, who writes to a member's note address", async () => {
    const noteAddress = addressIn(alice, "note")!;
    const forged = await smtpError(t.send({ from: "mallory@evil.test", to: noteAddress, subject: "Re: x", text: "Publish this." }));
    expect(forged?.responseCode).toBe(550);
    expect(forged?.response).toMatch(/5\.7\.1 .*belongs to another participant/);
    const carol = await smtpError(t.send({ from: CAROL, to: noteAddress, subject: "Re: x", text: "Let me in." }));
    expect(carol?.responseCode).toBe(550);

    // The outside person's own reply token does not take notes.
    const toCarol = await carolCopy();
    const ownNote = replyToOf(toCarol).replace(/^reply\+/, "note+");
    const own = await smtpError(t.send({ from: CAROL, to: ownNote, subject: "Re: x", text: "A note of mine." }));
    expect(own?.responseCode).toBe(550);
    expect(own?.response).toMatch(/5\.1\.1 .*does not take internal notes/);
    expect((await t.read(({ tx }) => listPosts(tx, 1))).filter((p) => p.note)).toEqual([]);
  });

  it("refuses an empty note, and a note from someone who left the group", async () => {
    const noteAddress = addressIn(alice, "note")!;
    const empty = await smtpError(t.send({ from: ALICE, to: noteAddress, subject: "Re: x", text: "On Wed, 15 Jan 2025 at 09:30, Bob Agent via support <support@example.test> wrote:\n> Order 1234 is late.\n" }));
    expect(empty?.responseCode).toBe(550);
    expect(empty?.response).toMatch(/internal note was empty/);

    await t.write((ctx) => removeGroupMember(ctx.tx, "support", ALICE));
    const gone = await smtpError(t.send({ from: ALICE, to: noteAddress, subject: "Re: x", text: "Still here?" }));
    expect(gone?.responseCode).toBe(550);
    expect(gone?.response).toMatch(/only a group's members have one/);
  });

  it("keeps a member's reply to a note a note, when their client answers the group's address", async () => {
    await t.dispose();
    t = await startDesk({ auth: { thread_without_token: "participant" } });
    ({ alice, bob } = await carolWrites(t, SUBJECT));
    await t.send({ from: ALICE, to: addressIn(alice, "note")!, subject: `Re: ${SUBJECT}`, text: "Internal: call the courier." });
    const [noteCopy] = await nextMessages(t, 2, 1);
    // Bob's client ignores Reply-To and answers the From address, threaded on the note.
    const info = await t.send({ from: BOB, to: SUPPORT, subject: `Re: ${SUBJECT}`, text: "Done, courier called.", inReplyTo: noteCopy!.parsed.messageId! });
    expect(info.response).toMatch(/internal note posted to conversation 1/);
    const [next] = await nextMessages(t, 3, 1);
    expect(next!.envelope.rcptTo).toEqual([ALICE]);
    expect((await settle(t, 4)).filter((m) => m.envelope.rcptTo.includes(CAROL))).toEqual([]);
  });

  it("leaves notes out of the catch-up and the threading of someone added later who is not a member", async () => {
    await t.send({ from: ALICE, to: addressIn(alice, "note")!, subject: `Re: ${SUBJECT}`, text: "Internal: this customer is a VIP." });
    const [noteCopy] = await nextMessages(t, 2, 1);
    const noteId = noteCopy!.parsed.messageId!.replace(/[<>]/g, "");

    // Bob answers publicly; then Alice does, and brings Carol's colleague Dave in by CC.
    await t.send({ from: BOB, to: replyToOf(bob), subject: `Re: ${SUBJECT}`, text: "Looking into it." });
    await nextMessages(t, 3, 2);
    await t.send({ from: ALICE, to: replyToOf(alice), cc: "dave@customer.test", subject: `Re: ${SUBJECT}`, text: "We are on it, Dave included." });
    const dave = await t.read(async ({ tx }) => {
      const user = await findUserByEmail(tx, "dave@customer.test");
      return user && findParticipant(tx, 1, user.id);
    });
    expect(dave?.state).toBe("active");
    const all = await settle(t, 8);
    const toDave = all.filter((m) => m.envelope.rcptTo.includes("dave@customer.test"));
    // His catch-up: the conversation so far, Carol's message and nothing of the note.
    expect(toDave.map((m) => m.parsed.text ?? "").filter((text) => text.includes("Here is the conversation so far, 2 messages"))).toHaveLength(1);
    expect(toDave[0]!.parsed.text).toContain("Order 1234 is late.");
    expect(toDave[0]!.parsed.text).toContain("Looking into it.");
    for (const message of toDave) {
      expect(message.raw.toString()).not.toContain(noteId);
      expect(message.parsed.text ?? "").not.toContain("VIP");
      expect(message.parsed.text ?? "").not.toContain("internal note");
    }
    // Nor does Carol's copy of anything (the reply, a notice that Dave joined) name the note.
    const toCarol = all.filter((m) => m.envelope.rcptTo.includes(CAROL));
    expect(toCarol.some((m) => m.parsed.text?.includes("Dave"))).toBe(true);
    for (const message of toCarol) {
      expect(message.raw.toString()).not.toContain(noteId);
      expect(message.parsed.text ?? "").not.toContain("VIP");
    }
  });

  async function carolCopy(): Promise<SinkMessage> {
    await t.send({ from: ALICE, to: replyToOf(alice), subject: `Re: ${SUBJECT}`, text: "Hello Carol." });
    return copyFor(await nextMessages(t, 2, 2), CAROL);
  }
});
