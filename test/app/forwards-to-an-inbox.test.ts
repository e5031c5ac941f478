// Issue 12: a member forwarding a customer's mail to support@ with a note once kept the note and
// lost the forwarded message, and a pure forward lost the original From/Date/Subject block. The
// post that starts an inbox conversation now keeps both (inbound.opening), and a forward attached
// as message/rfc822 keeps its attachment and shows its text. The conversation is with the
// forwarder: Postern never writes to an address found in a forwarded header block (anyone could
// otherwise make it mail a third party). Real Gmail, Outlook and Apple Mail forwards over SMTP.

import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { listPosts, attachmentsOfPost } from "../../src/domain/posts.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";
import { startDesk } from "../helpers/desk.js";
import type { TestGateway } from "../helpers/gateway.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url));
const to = (m: SinkMessage) => m.envelope.rcptTo[0];

describe("a member forwards a customer's mail to the inbox", () => {
  let t: TestGateway;

  beforeEach(async () => {
    t = await startDesk();
  });
  afterEach(() => t.dispose());

  /** Sends a fixture from its author to the inbox; the stored first post and the copies that went out. */
  async function forward(file: string, from = "alice@team.test") {
    const info = await t.send({ envelope: { from, to: ["support@example.test"] }, raw: fixture(file) });
    expect(info.response).toMatch(/^250 2\.0\.0 Accepted: new inbox conversation for support/);
    const [post] = await t.read(({ tx }) => listPosts(tx, 1));
    const copies = await t.sink.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    return { post: post!, copies: [...t.sink.messages], participants: await t.read(({ tx }) => participantsWithUsers(tx, 1)), first: copies[0]! };
  }

  /** Nobody named in the forwarded header block became a user, took part or got mail. */
  async function nobodyElse(copies: readonly SinkMessage[], forwardedAuthor: string, participants: readonly { user: { email: string } }[]) {
    expect(await t.read(({ tx }) => findUserByEmail(tx, forwardedAuthor))).toBeUndefined();
    expect(participants.map((p) => p.user.email).sort()).toEqual(["alice@team.test", "bob@team.test"]);
    expect(copies.map(to)).toEqual(["bob@team.test"]);
  }

  it("Outlook (desktop): the note, then the forwarded message with its From/Sent/Subject block", async () => {
    const { post, copies, participants } = await forward("forward_outlook_desktop.eml");
    expect(post.body).toContain("Team, this customer phoned about it too. Can someone arrange a collection?");
    expect(post.body).toContain("From: Peter Novak <peter.novak@customer.test>");
    expect(post.body).toContain("Sent: Monday, March 3, 2025 5:12 PM");
    expect(post.body).toContain("Subject: Damaged pallet on delivery");
    expect(post.body).toContain("The pallet for order 8812 arrived with two boxes crushed.");
    expect(copies[0]!.parsed.text).toContain("The pallet for order 8812 arrived with two boxes crushed.");
    expect(copies[0]!.parsed.text).toContain("From: Peter Novak");
    await nobodyElse(copies, "peter.novak@customer.test", participants);
  });

  it("Gmail: the note, the \"Forwarded message\" marker, the header block and the forwarded text", async () => {
    const { post, copies, participants } = await forward("forward_gmail.eml", "bob@customer.test");
    expect(post.body).toContain("Forwarding the supplier's dispatch confirmation below.");
    expect(post.body).toContain("From: Carol Supplier <carol@team.test>");
    expect(post.body).toContain("Date: Fri, 28 Feb 2025 at 16:40");
    expect(post.body).toContain("Order 7731 is confirmed for dispatch on 5 March by pallet courier.");
    // The forwarder (a customer here) is who the conversation is with; Carol, named in the block, is not.
    expect(participants.map((p) => p.user.email).sort()).toEqual(["alice@team.test", "bob@customer.test", "bob@team.test"]);
    expect(await t.read(({ tx }) => findUserByEmail(tx, "carol@team.test"))).toBeUndefined();
    expect(copies.map(to).sort()).toEqual(["alice@team.test", "bob@team.test"]);
  });

  it("Gmail, nothing typed: the original From/Date/Subject block stays with the text", async () => {
    const { post, copies } = await forward("forward_gmail_nothing_typed.eml", "bob@customer.test");
    expect(post.body).toContain("From: Facilities Desk");
    expect(post.body).toContain("Subject: Meter reading for February");
    expect(post.body).toContain("The electricity meter reading for unit 4 on 28 February was 48213 kWh.");
    expect(copies.map(to).sort()).toEqual(["alice@team.test", "bob@team.test"]);
  });

  // Known gap (trimming, src/inbound/trim/): Apple Mail's plain-text forward quotes the whole
  // "Begin forwarded message:" block with "> ", and trim(text, { keepForwarded: true }) cuts it as
  // a quote, so only the note is posted. When the trimmer keeps a quoted forward block, this
  // turns red: make it an ordinary `it`.
  it("Apple Mail: the note and the quoted \"Begin forwarded message\" block with who wrote it", async () => {
    const { post, copies, participants } = await forward("forward_apple_mail.eml");
    expect(post.body).toContain("Passing this on for accounts.");
    expect(post.body).toMatch(/From: Hanna Berg <hanna\.berg@customer\.test>/);
    expect(post.body).toMatch(/Date: 3 March 2025 at 16:20:41 GMT/);
    expect(post.body).toContain("From April, please send invoices to finance@customer.test instead of me.");
    await nobodyElse(copies, "hanna.berg@customer.test", participants);
  });

  it("forwarded as an attachment: the .eml stays attached and its header block and text are in the post", async () => {
    const { post, copies, participants } = await forward("forward_attached_rfc822.eml");
    expect(post.body).toContain("The customer's claim is attached as sent. Over to the warranty desk.");
    expect(post.body).toContain("---------- Forwarded message ----------\nFrom: Omar Haddad <omar.haddad@customer.test>\nDate: Mon, 3 Mar 2025 14:02:00 +0000\nSubject: Warranty claim 5521");
    expect(post.body).toContain("The compressor of unit 5521 stopped working after eleven months.");
    const attachments = await t.read(({ tx }) => attachmentsOfPost(tx, post.id));
    expect(attachments.map((a) => [a.filename, a.contentType])).toEqual([["Warranty claim 5521.eml", "message/rfc822"]]);
    expect(copies[0]!.parsed.text).toContain("The compressor of unit 5521 stopped working");
    expect(copies[0]!.parsed.attachments.map((a) => a.filename)).toEqual(["Warranty claim 5521.eml"]);
    await nobodyElse(copies, "omar.haddad@customer.test", participants);
  });
});
