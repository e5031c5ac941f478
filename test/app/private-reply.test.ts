import { afterEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { listConversationSummaries, participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import { addUser, setUserSettings } from "../../src/domain/users.service.js";
import { leaveConversation } from "../../src/domain/participants.service.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { smtpError, startTestGateway, tokenOf, type TestGateway } from "../helpers/gateway.js";
import { ALICE, BOB, CAROL, addressIn, carolWrites, copyFor, nextMessages, replyToOf, settle, startDesk } from "../helpers/desk.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";

const ANN = "ann@home.test";
const BEN = "ben@home.test";
const CID = "cid@home.test";

/** Ann writes to Ben and Cid: a group conversation, and the two copies of its first post. */
async function groupConversation(t: TestGateway): Promise<{ ben: SinkMessage; cid: SinkMessage }> {
  await t.write(async (ctx) => {
    await addUser(ctx, { email: ANN, name: "Ann" });
    await addUser(ctx, { email: BEN, name: "Ben" });
    await addUser(ctx, { email: CID, name: "Cid" });
    await createConversation(ctx, { from: ANN, to: [BEN, CID], subject: "Team dinner", body: "Friday at eight?" });
  });
  const copies = await t.sink.waitFor(2);
  return { ben: copyFor(copies, BEN), cid: copyFor(copies, CID) };
}

describe("private replies (private+TOKEN@): answering one post's author alone", () => {
  let t: TestGateway;
  afterEach(() => t.dispose());

  it("names the copy's own private address, whose token is that copy's bounce token", async () => {
    t = await startTestGateway();
    const { ben, cid } = await groupConversation(t);
    const token = tokenOf(ben.envelope.mailFrom, "bounce");
    expect(addressIn(ben, "private")).toBe(`private+${token}@example.test`);
    expect(ben.parsed.text).toContain(`To answer Ann privately, so that only they receive it, send it to private+${token}@example.test.`);
    expect(ben.parsed.html).toContain(`<a href="mailto:private+${token}@example.test">`);
    expect(addressIn(cid, "private")).toBe(`private+${tokenOf(cid.envelope.mailFrom, "bounce")}@example.test`);
  });

  it("starts a direct conversation with the author only, without telling the others, and continues it", async () => {
    t = await startTestGateway();
    const { ben } = await groupConversation(t);
    const info = await t.send({ from: "Ben <ben@home.test>", to: addressIn(ben, "private")!, cc: "dan@else.test", subject: "Re: Team dinner", text: "Can I bring my partner?" });
    expect(info.response).toMatch(/^250 .*private reply started conversation 2, answering post 1 of conversation 1/);

    const [toAnn] = await nextMessages(t, 2, 1);
    expect(toAnn!.envelope.rcptTo).toEqual([ANN]);
    expect(toAnn!.parsed.subject).toBe("Re: Team dinner (private)");
    expect(toAnn!.parsed.from?.value).toEqual([{ address: "conversations@example.test", name: "Ben via Acme" }]);
    expect(toAnn!.parsed.text).toContain("Can I bring my partner?");
    expect(toAnn!.raw.toString()).not.toContain(BEN);
    // A direct conversation: no private address of its own.
    expect(addressIn(toAnn!, "private")).toBeUndefined();

    const summaries = await t.read(({ tx }) => listConversationSummaries(tx));
    expect(summaries.map((s) => [s.conversation.id, s.conversation.kind, s.conversation.state, s.conversation.subject, s.participants, s.posts])).toEqual([
      [1, "group", "open", "Team dinner", 3, 1],
      [2, "direct", "open", "Re: Team dinner (private)", 2, 1],
    ]);
    const people = await t.read(({ tx }) => participantsWithUsers(tx, 2));
    expect(people.map((p) => p.user.email)).toEqual([BEN, ANN]);

    // Ann answers in the private conversation: Ben alone receives it.
    await t.send({ from: ANN, to: replyToOf(toAnn!), subject: "Re: Team dinner (private)", text: "Of course!" });
    const [toBen] = await nextMessages(t, 3, 1);
    expect(toBen!.envelope.rcptTo).toEqual([BEN]);
    expect(toBen!.parsed.text).toContain("Of course!");

    // Ann writes again in the group; Ben's private reply to that copy continues the same private conversation.
    await t.send({ from: ANN, to: await replyAddressOf(t, 1, ANN), subject: "Re: Team dinner", text: "Booked for eight." });
    const again = await nextMessages(t, 4, 2);
    await t.send({ from: BEN, to: addressIn(copyFor(again, BEN), "private")!, subject: "Re: Team dinner", text: "Thanks, see you there." });
    const [toAnnAgain] = await nextMessages(t, 6, 1);
    expect(toAnnAgain!.envelope.rcptTo).toEqual([ANN]);
    expect(toAnnAgain!.parsed.subject).toBe("Re: Team dinner (private)");
    // It answers Ann's "Of course!", which her mailbox holds under her own Message-ID (src/outbound/threading.ts).
    const privatePosts = await t.read(({ tx }) => listPosts(tx, 2));
    expect(toAnnAgain!.parsed.inReplyTo).toBe(privatePosts[1]!.sourceMessageId);
    expect(toAnnAgain!.parsed.references).toContain(toBen!.parsed.messageId);
    expect(privatePosts.map((p) => p.body.trim())).toEqual(["Can I bring my partner?", "Of course!", "Thanks, see you there."]);
    // Cid never heard of any of it, and nobody CC'd was brought in.
    const all = await settle(t, 7);
    expect(all.filter((m) => m.envelope.rcptTo.includes(CID))).toHaveLength(2);
    expect(all.filter((m) => m.envelope.rcptTo.includes("dan@else.test"))).toEqual([]);
  });

  it("refuses a private reply from anyone but that copy's recipient, an empty one, and an unknown token", async () => {
    t = await startTestGateway();
    const { ben } = await groupConversation(t);
    const address = addressIn(ben, "private")!;
    const forged = await smtpError(t.send({ from: CID, to: address, subject: "Re: Team dinner", text: "Pretending to be Ben." }));
    expect(forged?.responseCode).toBe(550);
    expect(forged?.response).toMatch(/5\.7\.1 This private-reply address belongs to another recipient's copy/);
    const stranger = await smtpError(t.send({ from: "mallory@evil.test", to: address, subject: "Re: Team dinner", text: "Hi" }));
    expect(stranger?.responseCode).toBe(550);
    const empty = await smtpError(t.send({ from: BEN, to: address, subject: "Re: Team dinner", text: "On Wed, 15 Jan 2025 at 09:30, Ann via Acme <conversations@example.test> wrote:\n> Friday at eight?\n" }));
    expect(empty?.response).toMatch(/private reply was empty/);
    // A token that names no copy of a post.
    const unknown = await smtpError(t.send({ from: BEN, to: "private+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.test", subject: "x", text: "x" }));
    expect(unknown?.responseCode).toBe(550);
    expect((await t.read(({ tx }) => listConversationSummaries(tx))).length).toBe(1);
  });

  it("refuses someone who left the conversation", async () => {
    t = await startTestGateway();
    const { ben } = await groupConversation(t);
    await t.write(async (ctx) => {
      const participant = await findParticipant(ctx.tx, 1, (await participantsWithUsers(ctx.tx, 1)).find((p) => p.user.email === BEN)!.user.id);
      await leaveConversation(ctx, participant!);
    });
    const error = await smtpError(t.send({ from: BEN, to: addressIn(ben, "private")!, subject: "Re: Team dinner", text: "Psst." }));
    expect(error?.responseCode).toBe(550);
    expect(error?.response).toMatch(/no longer take part in the conversation "Team dinner"/);
  });

  it("reaches an author whose messages are off, with no invitation even though direct conversations ask for consent", async () => {
    t = await startTestGateway({ consent: { kinds: ["direct", "group"] } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: ANN, name: "Ann" });
      await addUser(ctx, { email: BEN, name: "Ben" });
      await addUser(ctx, { email: CID, name: "Cid" });
    });
    // Consent for group conversations too: Ann's invitation reaches Ben, who accepts it.
    await t.write((ctx) => createConversation(ctx, { from: ANN, to: [BEN, CID], subject: "Team dinner", body: "Friday at eight?" }));
    const invitations = await t.sink.waitFor(2);
    await t.send({ from: BEN, to: replyToOf(copyFor(invitations, BEN)), subject: "Re: Team dinner", text: "Count me in." });
    await t.write((ctx) => setUserSettings(ctx.tx, ANN, { messagesEnabled: false }));
    const fromBen = await nextMessages(t, 2, 1);
    const toAnnCopy = copyFor(fromBen, ANN);
    // Ann answers in the group; Ben's copy offers a private reply.
    await t.send({ from: ANN, to: replyToOf(toAnnCopy), subject: "Re: Team dinner", text: "Great, Ben." });
    const annPost = copyFor(await nextMessages(t, 3, 1), BEN);
    const info = await t.send({ from: BEN, to: addressIn(annPost, "private")!, subject: "Re: Team dinner", text: "Between us: I will be late." });
    expect(info.response).toMatch(/private reply started conversation 2/);
    const [toAnn] = await nextMessages(t, 4, 1);
    expect(toAnn!.envelope.rcptTo).toEqual([ANN]);
    expect(toAnn!.parsed.subject).toBe("Re: Team dinner (private)");
    const [, direct] = await t.read(({ tx }) => listConversationSummaries(tx));
    expect([direct!.conversation.kind, direct!.conversation.state]).toEqual(["direct", "open"]);
  });

  it("in an inbox conversation: only between members, never with the outside person", async () => {
    t = await startDesk();
    const { alice, bob } = await carolWrites(t);
    // The members' copies of the outside person's message offer no private reply.
    expect(addressIn(alice, "private")).toBeUndefined();
    expect(addressIn(bob, "private")).toBeUndefined();
    const toCarolNot = await smtpError(t.send({ from: ALICE, to: `private+${tokenOf(alice.envelope.mailFrom, "bounce")}@example.test`, subject: "Re: x", text: "Just you and me, Carol." }));
    expect(toCarolNot?.responseCode).toBe(550);
    expect(toCarolNot?.response).toMatch(/only between the members of the team that answers it/);

    // Alice answers publicly: Bob's copy offers a private reply to Alice, Carol's does not.
    await t.send({ from: ALICE, to: replyToOf(alice), subject: "Re: My order has not arrived", text: "We are on it." });
    const copies = await nextMessages(t, 2, 2);
    const toCarol = copyFor(copies, CAROL);
    expect(addressIn(toCarol, "private")).toBeUndefined();
    // Carol knows her copy's bounce token (its envelope sender): that is no way to reach Alice.
    const fromCarol = await smtpError(t.send({ from: CAROL, to: `private+${tokenOf(toCarol.envelope.mailFrom, "bounce")}@example.test`, subject: "Re: x", text: "Psst, Alice." }));
    expect(fromCarol?.responseCode).toBe(550);
    expect(fromCarol?.response).toMatch(/only between the members of the team that answers it/);
    expect(fromCarol?.response).not.toContain(ALICE);

    const toBob = copyFor(copies, BOB);
    await t.send({ from: BOB, to: addressIn(toBob, "private")!, subject: "Re: x", text: "Alice, I can take this one." });
    const [toAlice] = await nextMessages(t, 4, 1);
    expect(toAlice!.envelope.rcptTo).toEqual([ALICE]);
    expect(toAlice!.parsed.subject).toBe("Re: My order has not arrived (private)");
    expect((await settle(t, 5)).filter((m) => m.envelope.rcptTo.includes(CAROL))).toHaveLength(1);
  });

  it("offers no private reply in a direct conversation, and refuses one through a direct copy's token", async () => {
    t = await startTestGateway({ consent: { kinds: [] } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: ANN, name: "Ann" });
      await addUser(ctx, { email: BEN, name: "Ben" });
      await createConversation(ctx, { from: ANN, to: [BEN], subject: "Just us", body: "Hi Ben." });
    });
    const [copy] = await t.sink.waitFor(1);
    expect(addressIn(copy!, "private")).toBeUndefined();
    const error = await smtpError(t.send({ from: BEN, to: `private+${tokenOf(copy!.envelope.mailFrom, "bounce")}@example.test`, subject: "Re: Just us", text: "Hi." }));
    expect(error?.responseCode).toBe(550);
    expect(error?.response).toMatch(/already between the two of you/);
  });
});

async function replyAddressOf(t: TestGateway, conversationId: number, email: string): Promise<string> {
  const people = await t.read(({ tx }) => participantsWithUsers(tx, conversationId));
  const row = people.find((p) => p.user.email === email);
  if (!row) throw new Error(`${email} does not take part in conversation ${conversationId}`);
  return `reply+${row.participant.replyToken}@example.test`;
}
