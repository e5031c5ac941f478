import { generateKeyPairSync } from "node:crypto";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { compose, type MailDraft } from "../../src/outbound/compose.js";
import { base64Length, wrappedBase64 } from "../../src/outbound/mime/base64.js";
import { filenameParameters, headerField } from "../../src/outbound/mime/header.js";
import { headerLines } from "../helpers/mime.js";

const pdf = Buffer.from("%PDF-1.4 a small report\n");
const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 255]);

function fullDraft(): MailDraft {
  return {
    envelope: { from: "bounce+x@example.test", to: ["bob@elsewhere.test"] },
    messageId: "<postern.post.abc@example.test>",
    mail: {
      from: { name: "Émile Zola via Postern", address: "conversations@example.test" },
      to: [{ name: "Bob Builder", address: "bob@elsewhere.test" }, { name: 'Dr. "Who"', address: "who@bücher.test" }, "plain@elsewhere.test"],
      cc: { name: "Carol", address: "carol@elsewhere.test" },
      replyTo: "reply+token@example.test",
      subject: "Re: Widgets and gadgets for the quarterly report that goes on and on and on and on",
      date: new Date(Date.UTC(2025, 0, 15, 9, 30, 5)),
      inReplyTo: "<parent@example.test>",
      references: Array.from({ length: 8 }, (_, i) => `<ref-${i}.some-long-identifier@example.test>`),
      headers: { "Thread-Topic": "Widgets", "List-Id": '"Widgets" <conversation-1.example.test>', "Auto-Submitted": "auto-generated", "X-Note": "Grüße\r\nBcc: evil@attacker.test" },
      text: "Hello Bob,\n\nthe map is inline. Grüße\n",
      html: '<p>Hello Bob,</p><p><img src="cid:map@phone"></p>',
      attachments: [
        { filename: "report.pdf", contentType: "application/pdf", content: pdf, disposition: "attachment" },
        { filename: "map.png", contentType: "image/png", content: png, disposition: "inline", cid: "map@phone" },
        { filename: "請求書 — a long name to show that names fold across several lines.pdf", contentType: "application/pdf", content: pdf, disposition: "attachment" },
        { filename: 'odd "quoted" name, 50% off; really.txt', contentType: "text/plain", content: Buffer.from("メモ"), disposition: "attachment" },
        { filename: "original.eml", contentType: "message/rfc822", disposition: "attachment", content: Buffer.from("Subject: hi\nFrom: a@b.test\n\nbare LF lines\n") },
      ],
    },
  };
}

describe("compose: the MIME it writes", () => {
  it("parses back to every header, part, file name, Content-ID and disposition given", async () => {
    const { raw } = await compose(fullDraft());
    const mail = await simpleParser(raw);
    expect(mail.from?.value).toEqual([{ name: "Émile Zola via Postern", address: "conversations@example.test" }]);
    expect(mail.to && !Array.isArray(mail.to) && mail.to.value).toEqual([
      { name: "Bob Builder", address: "bob@elsewhere.test" },
      { name: 'Dr. "Who"', address: "who@bücher.test" },
      { name: "", address: "plain@elsewhere.test" },
    ]);
    // The domain goes in ASCII (IDNA); readers show it back in Unicode.
    expect(raw.toString("latin1")).toContain("<who@xn--bcher-kva.test>");
    expect(mail.cc && !Array.isArray(mail.cc) && mail.cc.value).toEqual([{ name: "Carol", address: "carol@elsewhere.test" }]);
    expect(mail.replyTo?.value).toEqual([{ name: "", address: "reply+token@example.test" }]);
    expect(mail.subject).toBe("Re: Widgets and gadgets for the quarterly report that goes on and on and on and on");
    expect(mail.date?.toISOString()).toBe("2025-01-15T09:30:05.000Z");
    expect(mail.messageId).toBe("<postern.post.abc@example.test>");
    expect(mail.inReplyTo).toBe("<parent@example.test>");
    expect(mail.references).toEqual(Array.from({ length: 8 }, (_, i) => `<ref-${i}.some-long-identifier@example.test>`));
    expect(mail.headers.get("thread-topic")).toBe("Widgets");
    expect(mail.headers.get("auto-submitted")).toBe("auto-generated");
    // A value with a line break is one header, its text encoded: nothing it holds starts a header.
    expect(mail.headers.has("bcc")).toBe(false);
    expect(await (await simpleParser(`Subject: ${String(raw.toString("latin1").match(/^X-Note: (.*(?:\r\n .*)*)/m)?.[1]).replace(/\r\n/g, "")}\r\n\r\n`)).subject).toBe("Grüße Bcc: evil@attacker.test");
    expect(mail.text).toBe("Hello Bob,\n\nthe map is inline. Grüße\n");
    // mailparser shows the related image in place of its cid: reference.
    expect(mail.html).toContain('<img src="data:image/png;base64,');

    const files = mail.attachments.map((a) => ({ filename: a.filename, type: a.contentType, disposition: a.contentDisposition, cid: a.cid, content: a.content }));
    expect(files.map((f) => [f.filename, f.type, f.disposition, f.cid])).toEqual([
      ["map.png", "image/png", "inline", "map@phone"],
      ["report.pdf", "application/pdf", "attachment", undefined],
      ["請求書 — a long name to show that names fold across several lines.pdf", "application/pdf", "attachment", undefined],
      ['odd "quoted" name, 50% off; really.txt', "text/plain", "attachment", undefined],
      ["original.eml", "message/rfc822", "attachment", undefined],
    ]);
    expect(files[0]?.content.equals(png)).toBe(true);
    expect(files[1]?.content.equals(pdf)).toBe(true);
    expect(files[3]?.content.toString("utf8")).toBe("メモ");
    // The attached message goes as it is, its line ends CRLF.
    expect(files[4]?.content.toString()).toBe("Subject: hi\r\nFrom: a@b.test\r\n\r\nbare LF lines\r\n");

    // The structure clients expect: related images beside the HTML, files beside the alternatives.
    const text = raw.toString("latin1");
    expect(text).toMatch(/^Content-Type: multipart\/mixed;/m);
    expect(text).toMatch(/^Content-Type: multipart\/alternative;/m);
    expect(text).toMatch(/^Content-Type: multipart\/related; type="text\/html";/m);
    expect(text.indexOf("Content-Type: text/html")).toBeLessThan(text.indexOf("Content-ID: <map@phone>"));
    expect(text).toMatch(/^MIME-Version: 1\.0$/m);
    expect(text).not.toContain("\n\n");
    expect(text.replace(/\r\n/g, "")).not.toMatch(/\r|\n/);
    for (const line of headerLines(raw)) expect(line.length, line).toBeLessThanOrEqual(78);
    expect(headerLines(raw).join("\n")).toMatch(/^[\x20-\x7e\n]*$/);
  });

  it("writes an invitation as a text/calendar alternative and an invite.ics file", async () => {
    const ics = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Réunion\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    const { raw } = await compose({
      envelope: { from: "b@example.test", to: ["r@example.test"] },
      messageId: "<i@example.test>",
      mail: { from: "a@example.test", to: "r@example.test", subject: "Invitation: Réunion", text: "You are invited.\n", html: "<p>You are invited.</p>", calendar: { method: "REQUEST", filename: "invite.ics", content: ics } },
    });
    const mail = await simpleParser(raw);
    expect(raw.toString("latin1")).toMatch(/^Content-Type: text\/calendar; charset=utf-8; method=REQUEST$/m);
    const calendar = mail.attachments.find((a) => a.contentType === "text/calendar");
    expect(calendar?.content.toString("utf8")).toBe(ics);
    const file = mail.attachments.find((a) => a.filename === "invite.ics");
    expect(file?.contentType).toBe("application/ics");
    expect(file?.content.toString("utf8")).toBe(ics);
    expect(mail.subject).toBe("Invitation: Réunion");
  });

  it("writes a text-only message as a single part", async () => {
    const { raw } = await compose({ envelope: { from: "b@example.test", to: ["r@example.test"] }, messageId: "<t@example.test>", mail: { from: "a@example.test", to: "r@example.test", subject: "S", text: "Just text.\n" } });
    expect(raw.toString("latin1")).not.toMatch(/multipart/);
    expect((await simpleParser(raw)).text).toBe("Just text.\n");
  });

  it("refuses an address or its own Message-ID that would break its header", async () => {
    const draft = fullDraft();
    await expect(compose({ ...draft, mail: { ...draft.mail, to: "bob@elsewhere.test\r\nBcc: evil@attacker.test" } })).rejects.toMatchObject({ name: "RenderError" });
    await expect(compose({ ...draft, messageId: "<a b@example.test>" })).rejects.toMatchObject({ name: "RenderError" });
    // Someone else's id that cannot be carried is left out of References instead.
    const { raw } = await compose({ ...draft, mail: { ...draft.mail, references: ["<ok@example.test>", "<not ok@example.test>"] } });
    expect((await simpleParser(raw)).references).toBe("<ok@example.test>");
  });
});

describe("compose: DKIM over the parts as written", () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const key = { domainName: "example.test", keySelector: "sel", privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
  const record = `v=DKIM1; k=rsa; p=${publicKey.export({ type: "spki", format: "der" }).toString("base64")}`;
  const resolver = async (name: string, rrtype: string): Promise<string[][]> => {
    if (rrtype === "TXT" && name === "sel._domainkey.example.test") return [[record]];
    throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: "ENOTFOUND" });
  };
  const verify = async (raw: Buffer) => (await dkimVerify(raw, { resolver })).results[0]?.status.result;

  it("verifies with attachments, related images, an attached message and blanks a relaxed body drops", async () => {
    const draft = fullDraft();
    const texts = ["Trailing blanks   \nand  runs\tof\t\tthem \n\n\n", "no final newline  ", "", `${"Long report line.\n".repeat(40_000)}`];
    for (const text of texts) {
      const { raw } = await compose({ ...draft, dkim: key, mail: { ...draft.mail, text } });
      expect(raw.toString("latin1")).toMatch(/^DKIM-Signature: /);
      expect(await verify(raw), JSON.stringify(text.slice(0, 40))).toBe("pass");
      // Any change to the encoded attachment breaks it.
      const tampered = Buffer.from(raw.toString("latin1").replace("JVBERi0xLjQgYSBzbWFsbCByZXBvcnQK", "JVBERi0xLjQgYSBzbWFsbCByZXBvcnQL"), "latin1");
      expect(await verify(tampered)).not.toBe("pass");
    }
  }, 60_000);
});

describe("compose: header and parameter encoding", () => {
  it("folds at spaces within 78 octets, and moves a word too long for the first line to the next", () => {
    const folded = headerField("Subject", `${"word ".repeat(40).trim()}`);
    for (const line of folded.split("\r\n").filter(Boolean)) expect(line.length).toBeLessThanOrEqual(78);
    expect(folded.replace(/\r\n/g, "")).toBe(`Subject: ${"word ".repeat(40).trim()}\r\n`.replace(/\r\n/g, ""));
    expect(headerField("Thread-Topic", `=?UTF-8?Q?${"N".repeat(60)}?=`)).toBe(`Thread-Topic:\r\n =?UTF-8?Q?${"N".repeat(60)}?=\r\n`);
  });

  it("keeps short ASCII file names plain and writes others as RFC 2231 continuations", () => {
    expect(filenameParameters("report.pdf")).toEqual({ name: 'name="report.pdf"', filename: 'filename="report.pdf"' });
    const utf8 = filenameParameters("請求書.pdf");
    expect(utf8.filename).toBe("filename*0*=utf-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf");
    expect(utf8.name).toMatch(/^name="=\?UTF-8\?B\?/);
  });

  it("encodes base64 in 76-character lines, the same as Buffer's own encoding", () => {
    for (const size of [0, 1, 2, 3, 56, 57, 58, 114, 57 * 1024, 57 * 1024 + 1, 200_000]) {
      const input = Buffer.alloc(size, 0);
      for (let i = 0; i < size; i++) input[i] = (i * 7919) & 255;
      const encoded = wrappedBase64(input);
      expect(encoded.length).toBe(base64Length(size));
      const lines = encoded.toString("latin1").split("\r\n");
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(76);
      expect(lines.join("")).toBe(input.toString("base64"));
    }
  });
});
