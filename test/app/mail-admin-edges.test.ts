// Things a mail admin trips over (issue 10 item 7), each over real SMTP: bare RCPT TO:<postmaster>,
// null-sender reports to postmaster@, oversized mail in the mail log, raw UTF-8 attachment names.
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findMailLogEntry, listMailLog } from "../../src/domain/mail-log.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { attachmentsOfPost } from "../../src/domain/posts.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import { rawClient } from "../helpers/raw-smtp.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url), "utf8");

/** Speaks SMTP line by line, as a mail server would; returns every reply in order. */
async function converse(port: number, lines: readonly string[], data?: string): Promise<string[]> {
  const client = await rawClient(port);
  const replies = [await client.reply()];
  for (const line of lines) replies.push(await client.command(line));
  if (data !== undefined) {
    replies.push(await client.command("DATA"));
    client.write(`${data.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..")}\r\n.\r\n`);
    replies.push(await client.reply(10_000));
  }
  client.write("QUIT\r\n");
  client.end();
  return replies;
}

describe("what a mail admin trips over", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway({ smtp: { max_message_size: "64KB" } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "sam@staff.test", name: "Sam Staff", role: "admin" });
    });
  });
  afterEach(() => t.dispose());
  const mailLog = () => t.read(({ tx }) => listMailLog(tx));

  it.each(["Postmaster", "postmaster", "POSTMASTER"])("accepts a bare RCPT TO:<%s> (RFC 5321 §4.5.1) as the primary domain's postmaster, and forwards it", async (local) => {
    const replies = await converse(
      t.gateway.port,
      ["EHLO client.test", "MAIL FROM:<someone@isp.test>", `RCPT TO:<${local}>`],
      "From: someone@isp.test\nTo: postmaster\nSubject: Your server\nMessage-ID: <bare-pm@isp.test>\n\nYour server sends odd mail.\n",
    );
    expect(replies[3]).toMatch(/^250 /);
    expect(replies.at(-1)).toMatch(/^250 .*mail to postmaster@example\.test forwarded to Sam Staff/);
    const [forwarded] = await t.sink.waitFor(1);
    expect(forwarded!.envelope.rcptTo).toEqual(["sam@staff.test"]);
    expect(forwarded!.parsed.subject).toBe("Fwd: Your server");
  });

  it("still refuses any other bare recipient (smtp-server itself answers 501)", async () => {
    const replies = await converse(t.gateway.port, ["EHLO client.test", "MAIL FROM:<someone@isp.test>", "RCPT TO:<abuse>"]);
    expect(replies[3]).toMatch(/^5\d\d /);
  });

  it("forwards a DSN sent with a null sender (MAIL FROM:<>) to postmaster@ to the admins", async () => {
    const dsn = fixture("bounce_dsn_hard.eml").replace("BOUNCE_ADDRESS", "postmaster@example.test");
    const replies = await converse(t.gateway.port, ["EHLO mx.client.test", "MAIL FROM:<>", "RCPT TO:<postmaster@example.test>"], dsn);
    expect(replies.at(-1)).toMatch(/^250 .*forwarded to Sam Staff/);
    const [forwarded] = await t.sink.waitFor(1);
    expect(forwarded!.envelope.rcptTo).toEqual(["sam@staff.test"]);
    expect(forwarded!.parsed.subject).toBe("Fwd: Undelivered Mail Returned to Sender");
    expect((await mailLog())[0]).toMatchObject({ outcome: "accepted", mailFrom: "" });
  });

  it("forwards a null-sender report from the front MTA written From postmaster@ of Postern's own domain (not taken for a loop)", async () => {
    const notice = [
      "From: Mail Delivery System <postmaster@example.test>",
      "To: postmaster@example.test",
      "Subject: Postmaster Copy: Undelivered Mail",
      "Message-ID: <notice-1@mx.example.test>",
      "Auto-Submitted: auto-generated",
      "",
      "A message could not be delivered.",
    ].join("\n");
    const replies = await converse(t.gateway.port, ["EHLO mx.example.test", "MAIL FROM:<>", "RCPT TO:<postmaster@example.test>"], notice);
    expect(replies.at(-1)).toMatch(/^250 .*forwarded to Sam Staff/);
    const [forwarded] = await t.sink.waitFor(1);
    expect(forwarded!.parsed.subject).toBe("Fwd: Postmaster Copy: Undelivered Mail");
  });

  it("logs a message refused 552 for its size: outcome rejected, reason and code, the envelope, no bytes kept", async () => {
    const line = `${"x".repeat(76)}\n`;
    const replies = await converse(
      t.gateway.port,
      ["EHLO client.test", "MAIL FROM:<big@isp.test>", "RCPT TO:<postmaster@example.test>"],
      `From: big@isp.test\nTo: postmaster@example.test\nSubject: big\n\n${line.repeat(2000)}`,
    );
    expect(replies.at(-1)).toMatch(/^552 5\.3\.4 /);
    const [entry] = await mailLog();
    expect(entry).toMatchObject({ outcome: "rejected", smtpCode: 552, mailFrom: "big@isp.test", rcptTo: ["postmaster@example.test"] });
    expect(entry!.reason).toMatch(/^message_too_large: The message is larger than the 65536 bytes this gateway accepts\. \(\d+ bytes arrived\)$/);
    expect(entry!.size).toBeGreaterThan(65_536);
    expect((await t.read(({ tx }) => findMailLogEntry(tx, entry!.id)))!.raw).toBeNull();
    // Nothing was forwarded: the message was refused.
    expect(t.sink.messages).toHaveLength(0);
  });
});

describe("a raw UTF-8 attachment file name", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway();
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "yuki@staff.test", name: "Yuki", role: "staff" });
      await addGroup(ctx, { name: "support", inbox: "support@example.test" });
      await addGroupMember(ctx, "support", "yuki@staff.test");
    });
  });
  afterEach(() => t.dispose());

  it("is stored and re-sent as 請求書.pdf (UTF-8 bytes in filename=, no RFC 2231 or 2047 encoding)", async () => {
    const raw = fixture("attachment_raw_utf8_filename.eml");
    await t.send({ envelope: { from: "yamada@jp.test", to: ["support@example.test"] }, raw: Buffer.from(raw, "utf8") });
    const [entry] = await t.read(({ tx }) => listMailLog(tx));
    expect(entry).toMatchObject({ outcome: "accepted" });
    const stored = await t.read(({ tx }) => attachmentsOfPost(tx, entry!.postId!));
    expect(stored.map((a) => a.filename)).toEqual(["請求書.pdf"]);
    const [copy] = await t.sink.waitFor(1);
    expect(copy!.parsed.attachments.map((a) => a.filename)).toEqual(["請求書.pdf"]);
    expect(copy!.parsed.attachments[0]!.content.toString()).toContain("%PDF-1.4");
  });
});
