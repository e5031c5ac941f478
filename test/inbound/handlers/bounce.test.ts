import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tokenAddress } from "../../../src/domain/addresses.js";
import { claimDue, markSent } from "../../../src/domain/deliveries.repo.js";
import type { Delivery } from "../../../src/domain/records.js";
import { bounceCategory, handleBounce, readDeliveryStatus } from "../../../src/inbound/handlers/bounce.js";
import { parseMessage } from "../../../src/inbound/parse.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import { DOMAIN, getDelivery, prepareInbound, runInbound, seedDirectConversation, seedForwardDelivery, seedUser, T0 } from "../../helpers/seed.js";

const crlf = (lines: string[]) => lines.join("\r\n");

// RFC 3464 §2: per-message fields, a blank line, then one block of per-recipient fields.
const FAILED = crlf([
  "Reporting-MTA: dns; mx.client.test",
  "X-Postfix-Queue-ID: 4Xyz1",
  "Arrival-Date: Sun, 22 Nov 2026 03:00:00 +0000",
  "",
  "Final-Recipient: rfc822; dana@client.test",
  "Original-Recipient: rfc822;dana@client.test",
  "Action: failed",
  "Status: 5.1.1",
  "Remote-MTA: dns; inbound.client.test",
  "Diagnostic-Code: smtp; 550 5.1.1 <dana@client.test>: Recipient address rejected: User unknown",
  "",
]);

const DELAYED = crlf([
  "Reporting-MTA: dns; relay.example.test",
  "",
  "Final-Recipient: rfc822; erin@slow.test",
  "Action: delayed",
  "Status: 4.4.1",
  "Diagnostic-Code: X-Postfix; connect to mx.slow.test[192.0.2.7]:25: Connection timed out",
  "Will-Retry-Until: Tue, 24 Nov 2026 03:00:00 +0000",
  "",
]);

describe("readDeliveryStatus", () => {
  it("reads a permanent failure: action, status and the remote server's words", () => {
    expect(readDeliveryStatus(FAILED)).toEqual({
      action: "failed",
      status: "5.1.1",
      diagnostic: "550 5.1.1 <dana@client.test>: Recipient address rejected: User unknown",
    });
  });

  it("reads a delay", () => {
    const report = readDeliveryStatus(DELAYED);
    expect(report.action).toBe("delayed");
    expect(report.status).toBe("4.4.1");
    // The diagnostic type names the MTA that wrote it (smtp;, X-Postfix;, X-Notes;): not shown.
    expect(report.diagnostic).toBe("connect to mx.slow.test[192.0.2.7]:25: Connection timed out");
  });

  it("ignores field-name case, LF line ends and a comment after the status", () => {
    const report = readDeliveryStatus("final-recipient: rfc822; x@y.test\nACTION: Failed\nstatus: 5.2.2 (mailbox full)\n");
    expect(report).toEqual({ action: "failed", status: "5.2.2", diagnostic: undefined });
  });

  it("does not take Original-Recipient or X- fields for the fields it reads", () => {
    const report = readDeliveryStatus(crlf(["X-Action: relayed", "X-Status: 2.0.0", "Action: failed", "Status: 5.0.0", ""]));
    expect(report).toEqual({ action: "failed", status: "5.0.0", diagnostic: undefined });
  });

  it("returns nothing it cannot find", () => {
    expect(readDeliveryStatus("Hello, I am away until Monday.")).toEqual({ action: undefined, status: undefined, diagnostic: undefined });
  });

  it("reads the delivery status of a real multipart/report once parsed", async () => {
    const raw = crlf([
      "From: Mail Delivery System <MAILER-DAEMON@mx.client.test>",
      "To: bounce+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.test",
      "Subject: Undelivered Mail Returned to Sender",
      "Message-ID: <dsn-unit-1@mx.client.test>",
      "MIME-Version: 1.0",
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
      "",
      "--b1",
      "Content-Type: text/plain; charset=us-ascii",
      "",
      "Your message could not be delivered to one or more recipients.",
      "",
      "--b1",
      "Content-Type: message/delivery-status",
      "",
      FAILED,
      "--b1",
      "Content-Type: text/rfc822-headers",
      "",
      "From: conversations@example.test",
      "Subject: Contract",
      "",
      "--b1--",
      "",
    ]);
    const message = await parseMessage(Buffer.from(raw));
    expect(message.contentType).toMatch(/^multipart\/report/);
    expect(message.deliveryStatus).toBeDefined();
    const report = readDeliveryStatus(message.deliveryStatus ?? "");
    expect(report.action).toBe("failed");
    expect(report.status).toBe("5.1.1");
    expect(report.diagnostic).toContain("User unknown");
  });
});

describe("bounceCategory", () => {
  it("says recipient for an unknown user even when the reporting MTA's Status is the vague 5.0.0 (Exim)", () => {
    expect(bounceCategory({ action: "failed", status: "5.0.0", diagnostic: "550 5.1.1 <x@y.test>: Recipient address rejected: User unknown" })).toBe("recipient");
  });

  it("says mailbox_full for 5.2.2 and policy for 5.7.1", () => {
    expect(bounceCategory({ action: "failed", status: "5.2.2", diagnostic: "552 5.2.2 Mailbox full" })).toBe("mailbox_full");
    expect(bounceCategory({ action: "failed", status: "5.7.1", diagnostic: "550 5.7.1 Message rejected as spam" })).toBe("policy");
  });

  it("falls back to the Status when the diagnostic carries no reply code", () => {
    expect(bounceCategory({ action: "failed", status: "5.1.1", diagnostic: undefined })).toBe("recipient");
    expect(bounceCategory({ action: "failed", status: undefined, diagnostic: undefined })).toBe("unknown");
  });
});

describe("handleBounce", () => {
  const FIXTURES = new URL("../../fixtures/eml/", import.meta.url);
  const SENT_AT = T0 + 60_000;
  const BOUNCED_AT = T0 + 120_000;
  let t: TestStore;

  beforeEach(async () => {
    t = await createTestStore();
  });

  afterEach(async () => {
    await t.dispose();
  });

  /** Alice's first post to Bob, handed to the relay: the delivery a bounce can speak about. */
  async function sentDelivery(): Promise<Delivery> {
    const w = await seedDirectConversation(t);
    await t.write(async ({ tx }) => {
      const claimed = await claimDue(tx, { now: SENT_AT, owner: "test-worker", leaseMs: 60_000, limit: 10 });
      for (const row of claimed) await markSent(tx, row.id, "test-worker", SENT_AT);
    }, SENT_AT);
    const delivery = await getDelivery(t, w.delivery.id);
    expect(delivery.status).toBe("sent");
    return delivery;
  }

  /** A fixture as it arrives at this delivery's VERP address, from the null return path. */
  async function arrive(file: string, delivery: Delivery, envelopeFrom = "") {
    const address = tokenAddress("bounce", delivery.bounceToken, DOMAIN);
    const raw = readFileSync(new URL(file, FIXTURES)).toString("utf8").replace(/bounce\+[a-z0-9]+@example\.test|BOUNCE_ADDRESS/g, address);
    const inbound = await prepareInbound(t.config, Buffer.from(raw, "utf8"), address, envelopeFrom);
    return runInbound(t, inbound, (ctx) => handleBounce(ctx, delivery), BOUNCED_AT);
  }

  it.each([
    ["bounce_postfix_user_unknown.eml", "5.1.1", "User unknown in virtual mailbox table"],
    ["bounce_exim_mail_delivery_failed.eml", "5.0.0", "User unknown in local recipient table"],
    ["bounce_exchange_recipient_not_found.eml", "5.1.10", "RESOLVER.ADR.RecipientNotFound"],
    ["bounce_gmail_address_not_found.eml", "5.1.1", "The email account that you tried to reach does not exist"],
    ["bounce_dsn_hard.eml", "5.1.1", "Recipient address rejected: User unknown"],
  ])("%s marks the delivery bounced, category recipient", async (file, status, words) => {
    const delivery = await sentDelivery();
    const outcome = await arrive(file, delivery);

    expect(outcome.outcome).toBe("bounce");
    expect(outcome.reason).toMatch(new RegExp(`^delivery ${delivery.id} to bob@elsewhere\\.test bounced: ${status.replace(/\./g, "\\.")} `));
    expect(outcome).toMatchObject({ conversationId: delivery.conversationId, postId: delivery.postId });
    const after = await getDelivery(t, delivery.id);
    expect(after).toMatchObject({ status: "bounced", bouncedAt: BOUNCED_AT, errorCategory: "recipient", sentAt: SENT_AT });
    expect(after.lastError).toMatch(new RegExp(`^bounced: ${status.replace(/\./g, "\\.")} `));
    // The remote server's words survive, folded continuation lines included.
    expect(after.lastError).toContain(words);
  });

  it("a delayed DSN is logged as a bounce report but does not mark the delivery", async () => {
    const delivery = await sentDelivery();
    const outcome = await arrive("bounce_postfix_delayed.eml", delivery);
    expect(outcome).toEqual({ outcome: "bounce", reason: `delivery ${delivery.id} delayed (4.4.1)`, conversationId: delivery.conversationId, postId: delivery.postId });
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "sent", bouncedAt: null, lastError: null, errorCategory: null });
  });

  it("an auto-reply that landed on the envelope sender is ignored and changes nothing", async () => {
    const delivery = await sentDelivery();
    const outcome = await arrive("auto_reply_outlook_ooo.eml", delivery, "dana.whitfield@customer.test");
    expect(outcome).toEqual({
      outcome: "ignored",
      reason: `message to the bounce address of delivery ${delivery.id} is not a delivery report`,
      conversationId: delivery.conversationId,
      postId: delivery.postId,
    });
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "sent", bouncedAt: null, errorCategory: null });
  });

  it("a person writing to the bounce address is ignored too: it is not a delivery report", async () => {
    const delivery = await sentDelivery();
    const address = tokenAddress("bounce", delivery.bounceToken, DOMAIN);
    const raw = `From: bob@elsewhere.test\r\nTo: ${address}\r\nSubject: Re: Lunch\r\nMessage-ID: <human-1@elsewhere.test>\r\n\r\nStatus: 5.1.1\r\nAction: failed\r\n`;
    const inbound = await prepareInbound(t.config, raw, address);
    const outcome = await runInbound(t, inbound, (ctx) => handleBounce(ctx, delivery), BOUNCED_AT);
    expect(outcome.outcome).toBe("ignored");
    expect((await getDelivery(t, delivery.id)).status).toBe("sent");
  });

  it("a DSN about a forward to an admin marks that forward bounced, with no conversation or post", async () => {
    const admin = await seedUser(t, "ada@team.test", "Ada Admin", "admin");
    const forward = await seedForwardDelivery(t, admin, Buffer.from("Subject: hi\r\n\r\nhello\r\n"), "hi");
    const outcome = await arrive("bounce_dsn_hard.eml", forward);
    expect(outcome.outcome).toBe("bounce");
    expect(outcome.conversationId).toBeUndefined();
    expect(outcome.postId).toBeUndefined();
    expect(await getDelivery(t, forward.id)).toMatchObject({ kind: "forward", status: "bounced", errorCategory: "recipient" });
  });
});
