import { describe, expect, it } from "vitest";
import { repairCharsets, utf8ReadAsLatin1 } from "../../src/inbound/charset-repair.js";
import { parseMessage, withoutControls } from "../../src/inbound/parse.js";

const head = (contentType: string, encoding = "8bit") =>
  Buffer.from(`From: a@customer.test\r\nTo: support@example.test\r\nSubject: test\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n`);

describe("repairCharsets", () => {
  it("leaves a message that needs nothing byte for byte as it was (the same buffer)", () => {
    const raw = Buffer.concat([head('text/plain; charset="iso-8859-1"', "quoted-printable"), Buffer.from("caf=E9 cr=E8me\r\n")]);
    expect(repairCharsets(raw)).toBe(raw);
  });

  it("keeps genuine legacy text in its charset: Big5 and ISO-8859-1 bytes are not valid UTF-8", async () => {
    const big5 = Buffer.concat([head("text/plain; charset=big5"), Buffer.from([0xa7, 0x41, 0xa6, 0x6e, 0x0d, 0x0a])]); // 你好
    expect((await parseMessage(big5)).text).toContain("你好");
    const latin1 = Buffer.concat([head("text/plain; charset=iso-8859-1"), Buffer.from("Gr\xfc\xdfe\r\n", "latin1")]);
    expect((await parseMessage(latin1)).text).toContain("Grüße");
  });

  it("raw 8-bit legacy bytes inside quoted-printable are read in the declared charset", async () => {
    const raw = Buffer.concat([head("text/plain; charset=iso-8859-1", "quoted-printable"), Buffer.from("Gr\xfc\xdfe =E0 vous\r\n", "latin1")]);
    expect((await parseMessage(raw)).text).toBe("Grüße à vous\n");
  });

  it("a text part without a charset (us-ascii) that holds UTF-8 is read as UTF-8", async () => {
    const raw = Buffer.concat([Buffer.from("From: a@customer.test\r\nSubject: x\r\n\r\n"), Buffer.from("Zoë — 一\r\n")]);
    expect((await parseMessage(raw)).text).toBe("Zoë — 一\n");
  });

  it("a base64 part labelled windows-1252 holding UTF-8 is read as UTF-8", async () => {
    const raw = Buffer.concat([head("text/plain; charset=windows-1252", "base64"), Buffer.from(Buffer.from("naïve — 東京\n").toString("base64") + "\r\n")]);
    expect((await parseMessage(raw)).text).toBe("naïve — 東京\n");
  });

  it("an all-ASCII message still has a quoted-printable part read as UTF-8 when its escapes spell UTF-8 under a legacy label", async () => {
    const escaped = [...Buffer.from("Grüße")].map((b) => (b < 0x80 ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase()}`)).join("");
    const raw = Buffer.concat([head("text/plain; charset=iso-8859-1", "quoted-printable"), Buffer.from(`${escaped}\r\n`)]);
    expect(raw.every((byte) => byte < 0x80)).toBe(true);
    expect((await parseMessage(raw)).text).toBe("Grüße\n");
  });

  it("repairs the 8-bit part of a multipart and leaves its 7-bit part as sent", () => {
    const raw = Buffer.concat([
      Buffer.from('From: a@customer.test\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=big5\r\n\r\nplain ascii\r\n'),
      Buffer.from("--b\r\nContent-Type: text/plain; charset=big5\r\n\r\n東京\r\n--b--\r\n"),
    ]);
    const repaired = repairCharsets(raw).toString("latin1");
    expect(repaired).toContain("--b\r\nContent-Type: text/plain; charset=big5\r\n\r\nplain ascii\r\n");
    expect(repaired).toContain(`Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from("東京").toString("base64")}`);
  });

  it("keeps format=flowed and other parameters of a repaired part", () => {
    const raw = Buffer.concat([head('text/plain; charset=big5; format=flowed; delsp=yes'), Buffer.from("東京 \r\nです\r\n")]);
    const repaired = repairCharsets(raw).toString("latin1");
    expect(repaired).toContain('Content-Type: text/plain; charset="utf-8"; format="flowed"; delsp="yes"');
    expect(repaired).toContain("Content-Transfer-Encoding: base64");
    expect(repaired).toContain("From: a@customer.test\r\nTo: support@example.test\r\nSubject: test\r\nMIME-Version: 1.0\r\n");
  });

  it("never touches an attached message or an attachment: they stay as sent", () => {
    const inner = Buffer.concat([Buffer.from("From: b@x.test\r\nContent-Type: text/plain; charset=big5\r\n\r\n"), Buffer.from("東京\r\n")]);
    const raw = Buffer.concat([
      Buffer.from('From: a@customer.test\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n'),
      inner,
      Buffer.from('--b\r\nContent-Type: text/plain; charset=big5\r\nContent-Disposition: attachment; filename="a.txt"\r\n\r\n'),
      Buffer.from("東京\r\n--b--\r\n"),
    ]);
    expect(repairCharsets(raw)).toBe(raw);
  });

  it("an encoded word labelled with a legacy charset but holding UTF-8 is relabelled; a genuine one is not", async () => {
    const utf8InLatin1 = `=?ISO-8859-1?Q?${[...Buffer.from("Grüße")].map((b) => `=${b.toString(16).toUpperCase()}`).join("")}?=`;
    const genuine = "=?ISO-8859-1?Q?Gr=FC=DFe?=";
    const raw = Buffer.from(`From: a@customer.test\r\nSubject: ${utf8InLatin1} ${genuine}\r\n\r\nhi\r\n`);
    expect((await parseMessage(raw)).subject).toBe("GrüßeGrüße");
  });

  it("re-decodes a large part in one pass (a 4 MB quoted-printable body with raw UTF-8)", async () => {
    const line = "Grüße aus 東京 — 一丁目 =C3=A9\r\n";
    const raw = Buffer.concat([head("text/plain; charset=utf-8", "quoted-printable"), Buffer.from(line.repeat(120_000))]);
    const text = (await parseMessage(raw, { maxMimeParts: 500, maxHeaders: 1000, maxHeaderSize: 65_536 })).text;
    expect(text.split("\n")[0]).toBe("Grüße aus 東京 — 一丁目 é");
    expect(text).not.toContain("\u0000");
  });
});

describe("withoutControls", () => {
  it("drops NUL, BEL, ESC and DEL, keeps tab and line breaks", () => {
    expect(withoutControls("a\u0000b\u0007c\u001bd\u007fe\tf\ng\r\n")).toBe("abcde\tf\ng\r\n");
  });
});

describe("utf8ReadAsLatin1: a raw UTF-8 header parameter read one byte per character", () => {
  it("gives back what the sender wrote when the bytes are UTF-8, and leaves anything else alone", () => {
    expect(utf8ReadAsLatin1(Buffer.from("請求書.pdf", "utf8").toString("latin1"))).toBe("請求書.pdf");
    // A real ISO-8859-1 name ("café", é = 0xE9) is not valid UTF-8 and stays as read.
    expect(utf8ReadAsLatin1("caf\u00e9.pdf")).toBe("caf\u00e9.pdf");
    expect(utf8ReadAsLatin1("plain.pdf")).toBe("plain.pdf");
    // Already decoded (RFC 2231): characters beyond Latin-1 mean there is nothing to repair.
    expect(utf8ReadAsLatin1("Grüße 請求書.pdf")).toBe("Grüße 請求書.pdf");
  });
});
