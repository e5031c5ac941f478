import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { listConversationSummaries, participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import { deliveries } from "../../schema/schema.js";
import { startDesk } from "../helpers/desk.js";
import { rawHeader, tokenOf, type TestGateway } from "../helpers/gateway.js";

describe("a stranger writes to a group inbox and the team answers", () => {
  let t: TestGateway;

  beforeEach(async () => {
    t = await startDesk();
  });
  afterEach(() => t.dispose());

  it("stages the stranger, opens an inbox conversation and sends every member a personal copy", async () => {
    const info = await t.send({
      from: '"Carol Customer" <carol@customer.test>',
      to: "support@example.test",
      subject: "My order has not arrived",
      text: "Hello, order 1234 is late.\n\nCarol",
      html: "<p>Hello, order 1234 is late.</p><p>Carol</p>",
      messageId: "<first@customer.test>",
      attachments: [{ filename: "receipt.txt", content: "receipt 1234" }],
    });
    expect(info.response).toMatch(/^250 /);

    const carol = await t.read(({ tx }) => findUserByEmail(tx, "carol@customer.test"));
    expect(carol).toMatchObject({ status: "staged", name: "Carol Customer" });

    const copies = await t.sink.waitFor(2);
    const byRecipient = new Map(copies.map((m) => [m.envelope.rcptTo[0], m]));
    expect([...byRecipient.keys()].sort()).toEqual(["alice@team.test", "bob@team.test"]);

    const alice = byRecipient.get("alice@team.test")!;
    const bob = byRecipient.get("bob@team.test")!;
    const headers = alice.parsed.headers;
    expect(alice.parsed.from?.value[0]).toEqual({ address: "support@example.test", name: "Carol Customer via support" });
    expect(alice.parsed.to && !Array.isArray(alice.parsed.to) ? alice.parsed.to.value.map((a) => a.address) : []).toEqual(["alice@team.test"]);
    expect(alice.parsed.subject).toBe("My order has not arrived");
    const aliceReplyTo = alice.parsed.replyTo?.value[0]?.address;
    const bobReplyTo = bob.parsed.replyTo?.value[0]?.address;
    expect(aliceReplyTo).toMatch(/^reply\+[a-z2-7]{40}@example\.test$/);
    expect(bobReplyTo).not.toBe(aliceReplyTo);
    expect(rawHeader(alice.raw, "List-Unsubscribe")).toMatch(/^<mailto:leave\+[a-z2-7]{40}@example\.test>$/);
    expect(rawHeader(alice.raw, "List-Post")).toBe(`<mailto:${aliceReplyTo}>`);
    expect(rawHeader(alice.raw, "List-Id")).toMatch(/<conversation-1\.example\.test>$/);
    expect(headers.get("precedence")).toBe("list");
    expect(headers.get("x-auto-response-suppress")).toBe("All");
    expect(headers.get("auto-submitted")).toBeUndefined();
    expect(alice.parsed.messageId).toBe(bob.parsed.messageId);
    expect(alice.parsed.messageId).toMatch(/^<postern\.post\.[a-z2-7]{40}@example\.test>$/);
    expect(alice.envelope.mailFrom).toMatch(/^bounce\+[a-z2-7]{40}@example\.test$/);
    expect(alice.envelope.mailFrom).not.toBe(bob.envelope.mailFrom);
    expect(alice.parsed.text).toContain("order 1234 is late");
    expect(alice.parsed.html).toContain("order 1234 is late");
    expect(alice.parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([["receipt.txt", "receipt 1234"]]);
    // Nothing in the copy reveals the author's address or another recipient's token.
    expect(alice.raw.toString()).not.toContain("carol@customer.test");
    expect(alice.raw.toString()).not.toContain(tokenOf(bobReplyTo, "reply"));
  });

  it("posts a member's trimmed reply and re-sends it to everyone else, threaded", async () => {
    await t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Broken widget", text: "It broke." });
    const [first] = await t.sink.waitFor(2);
    const toAlice = t.sink.messages.find((m) => m.envelope.rcptTo[0] === "alice@team.test")!;
    const quoted = toAlice.parsed.text!.split("\n").map((l) => `> ${l}`).join("\n");

    await t.send({
      from: "alice@team.test",
      to: toAlice.parsed.replyTo!.value[0]!.address!,
      subject: "Re: Broken widget",
      text: `We are sending a new one today.\n\nThanks,\nAlice\n\nOn Mon, 2 Nov 2026 at 10:00, Carol via support <support@example.test> wrote:\n${quoted}\n`,
      inReplyTo: first!.parsed.messageId!,
      references: [first!.parsed.messageId!],
    });
    const all = await t.sink.waitFor(4);
    const replies = all.slice(2);
    expect(replies.map((m) => m.envelope.rcptTo[0]).sort()).toEqual(["bob@team.test", "carol@customer.test"]);
    const toCarol = replies.find((m) => m.envelope.rcptTo[0] === "carol@customer.test")!;
    expect(toCarol.parsed.from?.value[0]).toEqual({ address: "support@example.test", name: "Alice Agent via support" });
    expect(toCarol.parsed.subject).toBe("Re: Broken widget");
    // Carol's mailbox has her first message under its own Message-ID: the reply answers that one
    // (src/outbound/threading.ts), and names no member's original id.
    const carolsOwnId = (await t.read(({ tx }) => listPosts(tx, 1)))[0]!.sourceMessageId;
    expect(toCarol.parsed.inReplyTo).toBe(carolsOwnId);
    expect(toCarol.parsed.references).toEqual([first!.parsed.messageId, carolsOwnId]);
    expect(toCarol.parsed.text).toContain("We are sending a new one today.");
    expect(toCarol.parsed.text).toContain("Thanks,\nAlice");
    expect(toCarol.parsed.text).not.toContain("It broke.");

    const conversationId = 1;
    const posts = await t.read(({ tx }) => listPosts(tx, conversationId));
    expect(posts).toHaveLength(2);
    expect(posts[1]!.body).not.toContain("wrote:");
    expect(posts[1]!.rawBody).toContain("wrote:");
    const participants = (await t.read(({ tx }) => participantsWithUsers(tx, conversationId))).map((p) => [p.user.email, p.participant.role]);
    expect(participants).toEqual([
      ["carol@customer.test", "member"],
      ["alice@team.test", "owner"],
      ["bob@team.test", "owner"],
    ]);
    expect(await t.read(({ tx }) => tx.db.select().from(deliveries).where(eq(deliveries.recipientId, 1)))).toHaveLength(1);
    const summaries = await t.read(({ tx }) => listConversationSummaries(tx));
    expect(summaries.map((s) => [s.conversation.id, s.participants, s.posts])).toEqual([[1, 3, 2]]);
  });

  it("lets the outside person reply through their token and reach the whole team", async () => {
    await t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Hi", text: "Question one." });
    await t.sink.waitFor(2);
    await t.send({ from: "alice@team.test", to: t.sink.messages.find((m) => m.envelope.rcptTo[0] === "alice@team.test")!.parsed.replyTo!.value[0]!.address!, subject: "Re: Hi", text: "Answer one." });
    const toCarol = (await t.sink.waitFor(4)).find((m) => m.envelope.rcptTo[0] === "carol@customer.test");
    await t.send({ from: "Carol <carol@customer.test>", to: toCarol!.parsed.replyTo!.value[0]!.address!, subject: "Re: Hi", text: "Thank you!" });
    const all = await t.sink.waitFor(6);
    expect(all.slice(4).map((m) => m.envelope.rcptTo[0]).sort()).toEqual(["alice@team.test", "bob@team.test"]);
    expect(all[5]!.parsed.from?.value[0]?.name).toBe("Carol via support");
  });
});
