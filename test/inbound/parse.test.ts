import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Refusal } from "../../src/errors/refusal.js";
import { header, parseMessage } from "../../src/inbound/parse.js";

const eml = (headers: string[], body = "Hello.") => Buffer.from(`${headers.join("\r\n")}\r\n\r\n${body}\r\n`, "latin1");

async function refusalOf(promise: Promise<unknown>): Promise<Refusal> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Refusal);
    return error as Refusal;
  }
  throw new Error("expected the message to be refused");
}

describe("parseMessage: addresses", () => {
  it("normalises From, To and Cc and keeps display names", async () => {
    const message = await parseMessage(
      eml([
        'From: "Alice Example" <Alice@Client.TEST>',
        "To: Support <support@example.test>, reply+abc@Example.test",
        "Cc: carol@client.test",
        "Subject: Hello",
        "Message-ID: <m1@client.test>",
      ]),
    );
    expect(message.from).toEqual({ address: "alice@client.test", name: "Alice Example" });
    expect(message.to.map((a) => a.address)).toEqual(["support@example.test", "reply+abc@example.test"]);
    expect(message.cc).toEqual([{ address: "carol@client.test", name: "" }]);
    expect(message.subject).toBe("Hello");
    expect(message.messageId).toBe("<m1@client.test>");
    expect(message.dedupeKey).toBe("<m1@client.test>");
    expect(message.text.trim()).toBe("Hello.");
  });

  it("refuses a message without From as malformed", async () => {
    const refusal = await refusalOf(parseMessage(eml(["To: support@example.test", "Subject: Who am I?", "Message-ID: <nofrom@client.test>"])));
    expect(refusal.reason).toBe("malformed_message");
    expect(refusal.sentence).toMatch(/From/);
  });

  it("refuses a From that holds no address", async () => {
    const refusal = await refusalOf(parseMessage(eml(["From: undisclosed-recipients:;", "To: support@example.test", "Subject: x"])));
    expect(refusal.reason).toBe("malformed_message");
  });

  it("finds addresses inside an RFC 5322 group", async () => {
    const message = await parseMessage(eml(["From: alice@client.test", "To: team: bob@client.test, carol@client.test;", "Subject: x"]));
    expect(message.to.map((a) => a.address)).toEqual(["bob@client.test", "carol@client.test"]);
  });
});

describe("parseMessage: threading", () => {
  it("tries In-Reply-To first, then References newest first, without repeats", async () => {
    const message = await parseMessage(
      eml([
        "From: alice@client.test",
        "To: conversations@example.test",
        "Subject: Re: Plans",
        "Message-ID: <m4@client.test>",
        "In-Reply-To: <m3@example.test>",
        "References: <m1@example.test> <m2@client.test>",
        " <m3@example.test>",
      ]),
    );
    expect(message.threadIds).toEqual(["<m3@example.test>", "<m2@client.test>", "<m1@example.test>"]);
  });

  it("uses References alone when there is no In-Reply-To", async () => {
    const message = await parseMessage(eml(["From: alice@client.test", "Subject: Re: x", "References: <a@x.test> <b@x.test>"]));
    expect(message.threadIds).toEqual(["<b@x.test>", "<a@x.test>"]);
  });

  it("has no thread ids for a new message", async () => {
    const message = await parseMessage(eml(["From: alice@client.test", "Subject: New"]));
    expect(message.threadIds).toEqual([]);
  });
});

describe("parseMessage: deduplication key", () => {
  const raw = eml(["From: alice@client.test", "To: support@example.test", "Subject: No id", "Date: Sun, 22 Nov 2026 03:00:00 +0000"]);

  it("is a sha256 of the raw bytes when there is no Message-ID", async () => {
    const message = await parseMessage(raw);
    expect(message.messageId).toBeUndefined();
    const digest = createHash("sha256").update(raw).digest("hex");
    expect(message.dedupeKey).toBe(`<sha256.${digest}@postern.invalid>`);
  });

  it("is the same for the same bytes and different for different bytes", async () => {
    const [first, second] = await Promise.all([parseMessage(raw), parseMessage(Buffer.from(raw))]);
    expect(first.dedupeKey).toBe(second.dedupeKey);
    const other = await parseMessage(eml(["From: alice@client.test", "To: support@example.test", "Subject: No id"], "Different."));
    expect(other.dedupeKey).not.toBe(first.dedupeKey);
  });
});

describe("parseMessage: charsets", () => {
  // ISO-2022-JP is 7-bit: ESC $ B switches to JIS X 0208 (two bytes per character), ESC ( B back to ASCII.
  // 見積もりのご依頼
  const subjectJis = "\x1b$B8+@Q$b$j$N$40MMj\x1b(B";
  // お世話になっております。 / 来月の打ち合わせについて、ご都合をお知らせください。
  const bodyJis = ["\x1b$B$*@$OC$K$J$C$F$*$j$^$9!#\x1b(B", '\x1b$BMh7n$NBG$A9g$o$;$K$D$$$F!"$4ET9g$r$*CN$i$;$/$@$5$$!#\x1b(B'];

  it("decodes an RFC 2047 ISO-2022-JP subject and an ISO-2022-JP body", async () => {
    const encodedSubject = `=?ISO-2022-JP?B?${Buffer.from(subjectJis, "latin1").toString("base64")}?=`;
    const message = await parseMessage(
      eml(
        [
          "From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@jp.test>",
          "To: support@example.test",
          `Subject: ${encodedSubject}`,
          "Message-ID: <jp-unit-1@jp.test>",
          "MIME-Version: 1.0",
          "Content-Type: text/plain; charset=ISO-2022-JP",
          "Content-Transfer-Encoding: 7bit",
        ],
        bodyJis.join("\r\n"),
      ),
    );
    expect(message.subject).toBe("見積もりのご依頼");
    expect(message.from).toEqual({ address: "yamada@jp.test", name: "山田" });
    expect(message.text.trim().split(/\r?\n/)).toEqual(["お世話になっております。", "来月の打ち合わせについて、ご都合をお知らせください。"]);
  });

  it("decodes a Q-encoded UTF-8 subject and a quoted-printable UTF-8 body", async () => {
    const message = await parseMessage(
      eml(
        [
          "From: zoe@client.test",
          "Subject: =?UTF-8?Q?R=C3=A9union_=C3=A0_Z=C3=BCrich?=",
          "MIME-Version: 1.0",
          "Content-Type: text/plain; charset=UTF-8",
          "Content-Transfer-Encoding: quoted-printable",
        ],
        "Gr=C3=BC=C3=9Fe",
      ),
    );
    expect(message.subject).toBe("Réunion à Zürich");
    expect(message.text.trim()).toBe("Grüße");
  });
});

describe("parseMessage: headers", () => {
  it("reads a header by name in any case, and says when it is absent", async () => {
    const message = await parseMessage(eml(["From: alice@client.test", "Subject: x", "Auto-Submitted: auto-replied", "X-Mailer: Test"]));
    expect(header(message, "Auto-Submitted")).toBe("auto-replied");
    expect(header(message, "auto-submitted")).toBe("auto-replied");
    expect(header(message, "x-mailer")).toBe("Test");
    expect(header(message, "precedence")).toBeUndefined();
    expect(message.contentType).toBe("text/plain");
    expect(message.deliveryStatus).toBeUndefined();
  });
});
