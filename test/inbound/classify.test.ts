import { describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { mintMessageId } from "../../src/domain/message-ids.js";
import { newToken } from "../../src/domain/tokens.js";
import { classifyMessage } from "../../src/inbound/classify.js";
import { parseMessage } from "../../src/inbound/parse.js";

const config = buildConfig({ gateway: { domains: ["example.test", "second.test"] } }, "test");

interface MailSketch {
  from?: string;
  subject?: string;
  messageId?: string;
  headers?: string[];
  contentType?: string;
  body?: string;
}

/** A small raw message, parsed as the pipeline would parse it. */
async function parsed(sketch: MailSketch = {}) {
  const lines = [
    `From: ${sketch.from ?? "Alice Example <alice@client.test>"}`,
    "To: support@example.test",
    `Subject: ${sketch.subject ?? "Question about my order"}`,
    `Message-ID: ${sketch.messageId ?? "<a1b2c3@client.test>"}`,
    "Date: Sun, 22 Nov 2026 03:00:00 +0000",
    "MIME-Version: 1.0",
    `Content-Type: ${sketch.contentType ?? "text/plain; charset=utf-8"}`,
    ...(sketch.headers ?? []),
  ];
  return parseMessage(Buffer.from(`${lines.join("\r\n")}\r\n\r\n${sketch.body ?? "Hello, where is my parcel?"}\r\n`));
}

async function classify(sketch: MailSketch = {}, envelopeFrom: string | false = "alice@client.test") {
  return classifyMessage(config, await parsed(sketch), envelopeFrom);
}

describe("classifyMessage: people", () => {
  it("an ordinary message is human", async () => {
    expect(await classify()).toEqual({ kind: "human" });
  });

  it("an Outlook message with X-Auto-Response-Suppress: All is human: Outlook sets it on ordinary mail", async () => {
    const result = await classify({
      subject: "RE: Quarterly figures",
      headers: [
        "X-Auto-Response-Suppress: All",
        "X-MS-Has-Attach:",
        "X-MS-TNEF-Correlator:",
        "Thread-Topic: Quarterly figures",
        "Thread-Index: AQHZ1234567890abcdefABCDEF==",
        "Content-Language: en-US",
        "X-Mailer: Microsoft Outlook 16.0",
      ],
    });
    expect(result).toEqual({ kind: "human" });
  });

  it("Auto-Submitted: no is human (RFC 3834)", async () => {
    expect(await classify({ headers: ["Auto-Submitted: no"] })).toEqual({ kind: "human" });
    expect(await classify({ headers: ["Auto-Submitted: No (a person wrote this)"] })).toEqual({ kind: "human" });
  });

  it("Precedence: first-class and normal are human", async () => {
    expect(await classify({ headers: ["Precedence: first-class"] })).toEqual({ kind: "human" });
    expect(await classify({ headers: ["Precedence: normal"] })).toEqual({ kind: "human" });
  });

  it("a member of the gateway's own domain writing from their own address is human", async () => {
    expect(await classify({ from: "staff@example.test" }, "staff@example.test")).toEqual({ kind: "human" });
  });

  it("a Message-ID that only looks like Postern's, in someone else's domain, is human", async () => {
    expect(await classify({ messageId: `<postern.${newToken()}@client.test>` })).toEqual({ kind: "human" });
  });
});

describe("classifyMessage: people whose subjects merely mention absence", () => {
  // Regression: these were dropped as out-of-office, so their authors' mail vanished without a bounce.
  it.each([
    "Re: Out of office coverage next week",
    "Who covers while I am out of the office?",
    "Absent tomorrow",
    "Afwezigheid melden",
    "不在票について",
    "Vacation reply rules",
    "On vacation until Monday, who covers?",
  ])("%j is human", async (subject) => {
    const result = await classify({ subject: `=?UTF-8?B?${Buffer.from(subject).toString("base64")}?=` });
    expect(result).toEqual({ kind: "human" });
  });

  it("X-Autoreply: no is human", async () => {
    expect(await classify({ headers: ["X-Autoreply: no"] })).toEqual({ kind: "human" });
  });
});

describe("classifyMessage: automatic mail", () => {
  it.each([
    "auto-replied",
    "auto-generated",
    "Auto-Replied",
    "auto-notified; owner-email=alice@client.test",
  ])("Auto-Submitted: %s is automatic", async (value) => {
    const result = await classify({ headers: [`Auto-Submitted: ${value}`] });
    expect(result.kind).toBe("automatic");
    if (result.kind === "automatic") expect(result.reason).toContain("Auto-Submitted");
  });

  it.each(["X-Autoreply: yes", "X-Autorespond: vacation", "X-AutoReply: YES"])("%s is automatic", async (line) => {
    expect((await classify({ headers: [line] })).kind).toBe("automatic");
  });

  it.each(["bulk", "junk", "list", "auto_reply", "Bulk"])("Precedence: %s is automatic", async (value) => {
    const result = await classify({ headers: [`Precedence: ${value}`] });
    expect(result.kind).toBe("automatic");
    if (result.kind === "automatic") expect(result.reason).toContain("Precedence");
  });

  it.each([
    "Out of Office: Question about my order",
    "Out of office reply",
    "Automatic reply: Question about my order",
    "AutoReply: Question about my order",
    "Auto-Reply: Question about my order",
    "Abwesenheitsnotiz: Question about my order",
    "Automatische Antwort: Ihre Nachricht",
    "Réponse automatique : Question",
    "Absence du bureau",
    "Respuesta automática: Pregunta",
    "Fuera de la oficina",
    "Risposta automatica: Domanda",
    "Resposta automática: Pergunta",
    "Automatisch antwoord: Vraag",
    "Automatiskt svar: Fråga",
    "Autosvar: Spørsmål",
    "Автоответ: Вопрос",
    "自動応答: ご質問",
    "自动回复: 问题",
    "On vacation",
  ])("the out-of-office subject %j is automatic", async (subject) => {
    const result = await classify({ subject: `=?UTF-8?B?${Buffer.from(subject).toString("base64")}?=` });
    expect(result).toEqual({ kind: "automatic", reason: "automatic: out-of-office subject" });
  });

  it("mail from MAILER-DAEMON is automatic", async () => {
    const result = await classify({ from: "Mail Delivery System <MAILER-DAEMON@mx.client.test>" }, "mailer-daemon@mx.client.test");
    expect(result.kind).toBe("automatic");
    if (result.kind === "automatic") expect(result.reason).toContain("MAILER-DAEMON");
  });

  it("an envelope sender of MAILER-DAEMON is automatic whatever the From says", async () => {
    expect((await classify({}, "MAILER-DAEMON@mx.client.test")).kind).toBe("automatic");
  });

  it("an empty return path (MAIL FROM:<>) is automatic", async () => {
    const result = await classify({}, false);
    expect(result.kind).toBe("automatic");
    if (result.kind === "automatic") expect(result.reason).toContain("empty return path");
    expect((await classify({}, "")).kind).toBe("automatic");
  });

  it("a multipart/report (delivery or read report) is automatic", async () => {
    const result = await classify({
      contentType: 'multipart/report; report-type=disposition-notification; boundary="r"',
      body: "--r\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n--r--",
    });
    expect(result.kind).toBe("automatic");
  });
});

describe("classifyMessage: loops", () => {
  it("a message carrying Postern's own Message-ID is a loop", async () => {
    const result = await classify({ messageId: `<postern.${newToken()}@example.test>` });
    expect(result.kind).toBe("loop");
  });

  it("recognises its own Message-IDs in every configured domain, and the ids it makes", async () => {
    expect((await classify({ messageId: `<postern.${newToken()}@second.test>` })).kind).toBe("loop");
    expect((await classify({ messageId: mintMessageId(config, "post") })).kind).toBe("loop");
  });

  it("the loop guard wins over every other sign", async () => {
    const result = await classify({ messageId: mintMessageId(config, "post"), headers: ["Auto-Submitted: auto-replied"] }, false);
    expect(result.kind).toBe("loop");
  });

  it("mail From Postern's own addresses is a loop", async () => {
    expect((await classify({ from: "Acme <conversations@example.test>" })).kind).toBe("loop");
    expect((await classify({ from: `reply+${newToken()}@example.test` })).kind).toBe("loop");
    expect((await classify({ from: `bounce+${newToken()}@second.test` })).kind).toBe("loop");
  });

  it("mail From postmaster@ or abuse@ of Postern's domains is automatic, not a loop: Postern never writes from there, the MTA in front of it does", async () => {
    for (const from of ["Mail Delivery System <postmaster@example.test>", "abuse@second.test"]) {
      const result = await classify({ from }, false);
      expect(result.kind).toBe("automatic");
    }
    // Its own Message-ID still makes it a loop, whatever the From.
    expect((await classify({ from: "postmaster@example.test", messageId: mintMessageId(config, "forward") })).kind).toBe("loop");
  });
});
