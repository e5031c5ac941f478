// A bounce report that some server sent to a copy's Reply-To (reply+TOKEN@) or From (conversations@)
// instead of its VERP envelope sender (SPEC §3, issue 10 item 2): it still counts when it names one
// copy beyond doubt — the post's Message-ID, the recipient, and that recipient's own reply token —
// and a forged one (a participant who knows the Message-ID and another's address) changes nothing.
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import { deliveries } from "../../schema/schema.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url), "utf8");

describe("bounce reports that missed the VERP address", () => {
  let t: TestGateway;
  let danaCopy: SinkMessage;
  let erinCopy: SinkMessage;
  let reports = 0;

  beforeEach(async () => {
    t = await startTestGateway({ consent: { kinds: [] } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "sam@staff.test", name: "Sam Staff", role: "admin" });
      await createConversation(ctx, { from: "sam@staff.test", to: ["dana@client.test", "erin@other.test"], subject: "Contract", body: "Draft attached." });
    });
    const copies = await t.sink.waitFor(2);
    danaCopy = copies.find((c) => c.envelope.rcptTo[0] === "dana@client.test")!;
    erinCopy = copies.find((c) => c.envelope.rcptTo[0] === "erin@other.test")!;
  });
  afterEach(() => t.dispose());

  const replyToOf = (copy: SinkMessage) => copy.parsed.replyTo!.value[0]!.address!;
  /** A report about `about`'s copy, as a server writes it, sent with a null sender to `to`. */
  const report = (eml: string, to: string, about: { recipient: string; messageId: string; replyTo: string }) => {
    const raw = fixture(eml)
      .replaceAll("REPORT_ADDRESS", to)
      .replaceAll("RECIPIENT", about.recipient)
      .replaceAll("ORIGINAL_MESSAGE_ID", about.messageId)
      .replaceAll("ORIGINAL_REPLY_TO", about.replyTo)
      // Each report is a message of its own: a repeated Message-ID would be a duplicate.
      .replace(/^(Message-I[Dd]: <)/m, `$1${++reports}.`);
    return t.send({ envelope: { from: "", to: [to] }, raw });
  };
  const danasCopy = () => ({ recipient: "dana@client.test", messageId: danaCopy.parsed.messageId!, replyTo: replyToOf(danaCopy) });
  const delivery = async (to: string) => (await t.read(({ tx }) => tx.db.select().from(deliveries))).find((d) => d.toAddress === to)!;
  const user = (email: string) => t.read(async ({ tx }) => (await findUserByEmail(tx, email))!);
  const lastLog = async () => (await t.read(({ tx }) => listMailLog(tx)))[0]!;

  it("a Postfix DSN sent to the recipient's reply address marks that copy bounced and scores it as the VERP path does", async () => {
    const info = await report("bounce_postfix_to_reply_address.eml", replyToOf(danaCopy), danasCopy());
    expect(info.response).toMatch(/^250 .*Delivery report recorded/);
    expect(await delivery("dana@client.test")).toMatchObject({ status: "bounced", errorCategory: "recipient" });
    expect((await delivery("dana@client.test")).lastError).toMatch(/5\.1\.1/);
    expect(await delivery("erin@other.test")).toMatchObject({ status: "sent" });
    // A hard bounce weighs 2 (SPEC §3 scoring), as through bounce+TOKEN@.
    expect(await user("dana@client.test")).toMatchObject({ bounceScore: 2 });
    expect(await lastLog()).toMatchObject({ outcome: "bounce" });
    expect((await lastLog()).reason).toMatch(/bounced: 5\.1\.1 .*; the report came to reply\+[a-z2-7]+@example\.test instead of the copy's bounce address/);
    // The diagnostic is shown without the reporting MTA's "X-Postfix;" type.
    expect((await delivery("dana@client.test")).lastError).not.toMatch(/X-Postfix/);
  });

  it("an Exchange NDR with the whole message, sent to the From address conversations@, counts as a soft bounce", async () => {
    const info = await report("bounce_exchange_to_from_address.eml", "conversations@example.test", danasCopy());
    expect(info.response).toMatch(/^250 .*Delivery report recorded/);
    expect(await delivery("dana@client.test")).toMatchObject({ status: "bounced", errorCategory: "mailbox_full" });
    expect(await user("dana@client.test")).toMatchObject({ bounceScore: 1 });
    expect((await lastLog()).reason).toMatch(/came to conversations@example\.test instead/);
  });

  it("a second report about the same copy, at the other address, counts nothing more", async () => {
    await report("bounce_postfix_to_reply_address.eml", replyToOf(danaCopy), danasCopy());
    const again = await report("bounce_postfix_to_reply_address.eml", "conversations@example.test", danasCopy());
    expect(again.response).toMatch(/^250 /);
    expect(await user("dana@client.test")).toMatchObject({ bounceScore: 2 });
  });

  it("a forged report naming another participant's copy changes nothing: Message-ID and address are not enough without that recipient's token", async () => {
    // Erin knows the post's Message-ID (it is in her copy) and Dana's address, but only her own reply token.
    const forgeries = [
      report("bounce_postfix_to_reply_address.eml", replyToOf(erinCopy), { ...danasCopy(), replyTo: replyToOf(erinCopy) }),
      report("bounce_postfix_to_reply_address.eml", replyToOf(erinCopy), { ...danasCopy(), replyTo: replyToOf(danaCopy) }),
      report("bounce_exchange_to_from_address.eml", "conversations@example.test", { ...danasCopy(), replyTo: replyToOf(erinCopy) }),
      report("bounce_exchange_to_from_address.eml", "conversations@example.test", { ...danasCopy(), replyTo: "someone@client.test" }),
    ];
    for (const forged of forgeries) expect((await forged).response).toMatch(/^250 .*not posted/);
    expect(await delivery("dana@client.test")).toMatchObject({ status: "sent" });
    expect(await user("dana@client.test")).toMatchObject({ bounceScore: 0 });
    expect(await delivery("erin@other.test")).toMatchObject({ status: "sent" });
    expect(await lastLog()).toMatchObject({ outcome: "ignored" });
  });

  it("a report whose Message-ID or recipient matches no copy that was sent is ignored as before", async () => {
    const unknownPost = report("bounce_exchange_to_from_address.eml", "conversations@example.test", { ...danasCopy(), messageId: "<postern.post.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.test>" });
    expect((await unknownPost).response).toMatch(/^250 .*not posted/);
    const otherRecipient = report("bounce_postfix_to_reply_address.eml", replyToOf(danaCopy), { ...danasCopy(), recipient: "nobody@client.test" });
    expect((await otherRecipient).response).toMatch(/^250 .*not posted/);
    expect(await delivery("dana@client.test")).toMatchObject({ status: "sent" });
    expect(await lastLog()).toMatchObject({ outcome: "ignored" });
  });
});
