import { describe, expect, it } from "vitest";
import { readDeliveryStatus } from "../../../src/inbound/handlers/bounce.js";
import { parseMessage } from "../../../src/inbound/parse.js";

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
    // Only an smtp; diagnostic type is stripped; others are kept as written.
    expect(report.diagnostic).toBe("X-Postfix; connect to mx.slow.test[192.0.2.7]:25: Connection timed out");
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
