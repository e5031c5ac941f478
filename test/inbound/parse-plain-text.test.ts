// readPlainTextMessage reads the common single text/plain message without mailparser's stream of
// parts: for every message it takes, the result must be what simpleParser gives, field for field.
import { readdirSync, readFileSync } from "node:fs";
import { simpleParser, type ParsedMail } from "mailparser";
import { describe, expect, it } from "vitest";
import { repairCharsets } from "../../src/inbound/charset-repair.js";
import { parseMessage, readPlainTextMessage } from "../../src/inbound/parse.js";

const OPTIONS = { skipImageLinks: true, skipTextLinks: true, skipTextToHtml: true } as const;

const message = (headers: readonly string[], body: string, newline = "\r\n"): Buffer => Buffer.from(`${headers.join(newline)}${newline}${newline}${body}`);

/** simpleParser's reading and the plain-text one side by side (the header map as entries, so Maps compare in order). */
async function bothReadings(raw: Buffer): Promise<{ plain: ParsedMail | undefined; simple: ParsedMail }> {
  return { plain: readPlainTextMessage(raw), simple: await simpleParser(raw, OPTIONS) };
}

function comparable(mail: ParsedMail): Record<string, unknown> {
  return { ...mail, headers: [...mail.headers] };
}

async function expectSameAsSimpleParser(raw: Buffer): Promise<void> {
  const { plain, simple } = await bothReadings(raw);
  expect(plain).toBeDefined();
  expect(comparable(plain!)).toEqual(comparable(simple));
}

const FROM = "From: Ann Lee <ann@customer.test>";

describe("readPlainTextMessage", () => {
  it("reads a reply as simpleParser does: addresses, groups, encoded words, threading, lists, priority, date", async () => {
    await expectSameAsSimpleParser(
      message(
        [
          'From: "Lee, Ann" <ann@customer.test>',
          "To: Friends: a@x.test, =?UTF-8?B?w4Fubg==?= <b@xn--bcher-kva.test>;, reply+abc@example.test",
          "Cc: c@x.test",
          "Reply-To: r@x.test",
          "Subject: =?iso-8859-1?Q?Gr=FC=DFe?= and\r\n  a folded line",
          "Date: Mon, 23 Nov 2026 06:35:16 +0000",
          "Message-ID: no-brackets@customer.test",
          "In-Reply-To: <p1@example.test>",
          "References: <p0@example.test>\r\n <p1@example.test>",
          "X-Priority: 1 (Highest)",
          "List-Unsubscribe: <mailto:u@x.test>, <https://x.test/u>",
          "List-Id: Team <team.x.test>",
          "Delivered-To: d@x.test",
          "X-Original-From: Bob <bob@x.test>",
          "MIME-Version: 1.0",
          'Content-Type: text/plain; charset="UTF-8"',
          "Content-Transfer-Encoding: 8bit",
        ],
        "Grüße aus 東京\r\n\r\n> quoted\r\n-- \r\nAnn\r\n",
      ),
    );
  });

  it("reads bare LF line ends, a body without a final line break, invalid UTF-8 and an mbox From line as simpleParser does", async () => {
    await expectSameAsSimpleParser(message([FROM, "Subject: lf"], "one\ntwo\n", "\n"));
    await expectSameAsSimpleParser(message([FROM, "Subject: no end"], "no line break at the end"));
    await expectSameAsSimpleParser(Buffer.concat([message([FROM, "Content-Type: text/plain; charset=us-ascii"], ""), Buffer.from([0xff, 0xfe, 0x41, 0x0d, 0x0a])]));
    await expectSameAsSimpleParser(Buffer.from(`From ann@customer.test Mon Nov 23 06:35:16 2026\r\n${FROM}\r\nSubject: mbox\r\n\r\nbody\r\n`));
  });

  it("leaves out the text of an empty body, as simpleParser does", async () => {
    const { plain, simple } = await bothReadings(message([FROM, "Subject: empty"], ""));
    expect(plain?.text).toBeUndefined();
    expect(comparable(plain!)).toEqual(comparable(simple));
  });

  it("keeps a body line that looks like a MIME delimiter as text: a text/plain message has no parts", async () => {
    await expectSameAsSimpleParser(message([FROM, "Content-Type: text/plain"], "--zz\r\nContent-Type: text/html\r\n\r\n<b>not a part</b>\r\n--zz--\r\n"));
  });

  it("reads a large body across mailparser's 64 KB chunks as simpleParser does", async () => {
    const body = Array.from({ length: 4000 }, (_, i) => `${i} Grüße aus 東京 — `.repeat(3)).join("\r\n");
    await expectSameAsSimpleParser(message([FROM, "Subject: large"], body));
  });

  it("leaves every other message to simpleParser", () => {
    const others = [
      ["Content-Type: text/html; charset=utf-8"],
      ["Content-Type: multipart/alternative; boundary=zz"],
      ["Content-Type: text/plain; boundary=zz"],
      ["Content-Type: text/plain; charset=iso-8859-1"],
      ["Content-Type: text/plain; charset=utf-8; format=flowed"],
      ["Content-Transfer-Encoding: base64"],
      ["Content-Transfer-Encoding: quoted-printable"],
      ["Content-Disposition: attachment"],
      ["Content-Disposition: attachment; filename=notes.txt"],
      ["Content-Type:"],
    ];
    for (const headers of others) expect(readPlainTextMessage(message([FROM, ...headers], "body\r\n")), headers[0]).toBeUndefined();
    // No empty line: mailparser reads the whole message as its header block.
    expect(readPlainTextMessage(Buffer.from(`${FROM}\r\nSubject: no body`))).toBeUndefined();
  });

  it("reads every single-part text/plain fixture as simpleParser does", async () => {
    const dir = new URL("../fixtures/eml/", import.meta.url);
    let read = 0;
    for (const file of readdirSync(dir)) {
      const raw = repairCharsets(readFileSync(new URL(file, dir)));
      const { plain, simple } = await bothReadings(raw);
      if (!plain) continue;
      read++;
      expect(comparable(plain), file).toEqual(comparable(simple));
    }
    expect(read).toBeGreaterThan(5);
  });

  it("gives parseMessage the same message either way", async () => {
    const headers = [FROM, "To: reply+abc@example.test", "Subject: Re: plans", "Message-ID: <m1@customer.test>", "In-Reply-To: <p1@example.test>"];
    const body = "Sounds good, Grüße.\r\n\r\nOn Mon, Bob wrote:\r\n> plans\r\n";
    expect(readPlainTextMessage(message(headers, body))).toBeDefined();
    const viaPlain = await parseMessage(message(headers, body));
    // The same bytes in base64: only simpleParser reads that.
    const viaSimple = await parseMessage(message([...headers, "Content-Transfer-Encoding: base64"], Buffer.from(body).toString("base64")));
    expect({ ...viaPlain, headers: undefined }).toEqual({ ...viaSimple, headers: undefined });
    expect(viaPlain.text).toBe("Sounds good, Grüße.\n\nOn Mon, Bob wrote:\n> plans\n");
  });
});
