// SPEC §3, thread matching: "the token first (looked for in the envelope, then To, Cc,
// Delivered-To, X-Original-To)". When a relay rewrote the envelope (to an inbox, or to the
// gateway's From address), the reply address in the message's own header fields still decides
// which conversation it belongs to, under the same sender check. A header token never makes
// Postern accept mail for an envelope recipient it refuses at RCPT. All over real SMTP.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listConversationSummaries } from "../../src/domain/conversations.repo.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";
import { rawClient } from "../helpers/raw-smtp.js";
import { startDesk } from "../helpers/desk.js";
import { rawHeader, smtpError, type TestGateway } from "../helpers/gateway.js";

const to = (m: SinkMessage) => m.envelope.rcptTo[0];
const replyAddress = (m: SinkMessage | undefined) => m!.parsed.replyTo!.value[0]!.address!;

describe("a reply whose token is only in its header fields", () => {
  let t: TestGateway;
  /** Alice's reply address in Carol's inbox conversation. */
  let alicesReply: string;
  let carolsReply: string;

  beforeEach(async () => {
    t = await startDesk();
    await t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Broken widget", text: "It broke." });
    const copies = await t.sink.waitFor(2);
    alicesReply = replyAddress(copies.find((m) => to(m) === "alice@team.test"));
    // Alice answers once so Carol has a copy, and a reply address, of her own.
    await t.send({ from: "alice@team.test", to: alicesReply, subject: "Re: Broken widget", text: "Which model is it?" });
    carolsReply = replyAddress((await t.sink.waitFor(4)).find((m) => to(m) === "carol@customer.test"));
  });
  afterEach(() => t.dispose());

  const postsOf = (id: number) => t.read(({ tx }) => listPosts(tx, id));
  const conversations = () => t.read(({ tx }) => listConversationSummaries(tx));

  it("envelope rewritten to the inbox, reply address in To: posted to the conversation, not a new one", async () => {
    const info = await t.send({
      envelope: { from: "carol@customer.test", to: ["support@example.test"] },
      from: "carol@customer.test",
      to: carolsReply,
      subject: "Re: Broken widget",
      text: "Model W-200.",
    });
    expect(info.response).toMatch(/reply posted to conversation 1; reply address reply\+[a-z2-7]+@example\.test found in the message's header fields \(envelope: support@example\.test\)/);
    expect((await postsOf(1)).map((p) => p.body)).toEqual(["It broke.", "Which model is it?", "Model W-200."]);
    expect(await conversations()).toHaveLength(1);
  });

  it("envelope rewritten to the gateway's From address, reply address in X-Original-To / Delivered-To", async () => {
    for (const [field, text] of [["X-Original-To", "Model W-200."], ["Delivered-To", "Bought in May."]] as const) {
      const info = await t.send({
        envelope: { from: "carol@customer.test", to: ["conversations@example.test"] },
        from: "carol@customer.test",
        to: "Acme <conversations@example.test>",
        headers: { [field]: carolsReply },
        subject: "Re: Broken widget",
        text,
      });
      expect(info.response).toMatch(/reply posted to conversation 1/);
    }
    expect((await postsOf(1)).map((p) => p.body).slice(2)).toEqual(["Model W-200.", "Bought in May."]);
  });

  it("a client that put the reply address in Cc: posted once, to that conversation", async () => {
    const info = await t.send({
      envelope: { from: "alice@team.test", to: ["support@example.test"] },
      from: "alice@team.test",
      to: "support@example.test",
      cc: alicesReply,
      subject: "Re: Broken widget",
      text: "A new one ships today.",
    });
    expect(info.response).toMatch(/reply posted to conversation 1/);
    expect(await conversations()).toHaveLength(1);
  });

  it("a stranger putting a participant's reply address in Cc is refused 550 5.7.1, and nothing is posted or started", async () => {
    const error = await smtpError(
      t.send({
        envelope: { from: "mallory@evil.test", to: ["support@example.test"] },
        from: "mallory@evil.test",
        to: "support@example.test",
        cc: alicesReply,
        subject: "Re: Broken widget",
        text: "Refund me to this account instead.",
      }),
    );
    expect(error?.response).toMatch(/^550 5\.7\.1 This reply address belongs to another participant/);
    expect(await postsOf(1)).toHaveLength(2);
    expect(await conversations()).toHaveLength(1);
  });

  it("a participant using another participant's reply address from the headers is refused too", async () => {
    const error = await smtpError(
      t.send({
        envelope: { from: "carol@customer.test", to: ["support@example.test"] },
        from: "carol@customer.test",
        to: alicesReply,
        subject: "Re: Broken widget",
        text: "Posting as Alice?",
      }),
    );
    expect(error?.response).toMatch(/^550 5\.7\.1 /);
    expect(await postsOf(1)).toHaveLength(2);
  });

  it("a header token never opens the envelope: an unknown recipient is still 550 at RCPT", async () => {
    const client = await rawClient(t.gateway.port);
    await client.reply();
    await client.command("EHLO relay.test");
    await client.command("MAIL FROM:<carol@customer.test>");
    expect(await client.command("RCPT TO:<nobody@example.test>")).toMatch(/^550 5\.1\.1/);
    expect(await client.command("RCPT TO:<carol@elsewhere.test>")).toMatch(/^550 5\.7\.1/);
    expect(await client.command("DATA")).toMatch(/^5\d\d/);
    client.end();
    expect(await postsOf(1)).toHaveLength(2);
  });

  it("a header token of someone who left is refused as at RCPT, not turned into a new conversation", async () => {
    const carolsCopy = (await t.sink.waitFor(4)).find((m) => to(m) === "carol@customer.test")!;
    const unsubscribe = /^<mailto:(leave\+[^>]+)>$/.exec(rawHeader(carolsCopy.raw, "List-Unsubscribe") ?? "")![1]!;
    await t.send({ from: "carol@customer.test", to: unsubscribe, subject: "leave", text: "" });
    const error = await smtpError(
      t.send({ envelope: { from: "carol@customer.test", to: ["support@example.test"] }, from: "carol@customer.test", to: carolsReply, subject: "Re: Broken widget", text: "Back again" }),
    );
    expect(error?.response).toMatch(/^550 5\.1\.1 You are no longer taking part/);
    expect(await conversations()).toHaveLength(1);
  });
});
