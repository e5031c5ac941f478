import { simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import type { Conversation, Delivery, Post, User } from "../../src/domain/records.js";
import { compose, quotedPrintable, textPart } from "../../src/outbound/compose.js";
import { sharedPartBytes } from "../../src/outbound/mime/shared-parts.js";
import { draftDelivery } from "../../src/outbound/render.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { deliveryOf, DOMAIN, seedConversation, seedPost, seedUser, T0 } from "../helpers/seed.js";

/**
 * Each post's text is encoded once for all its copies (issue 11): only the footer, which names
 * the reader's own addresses, is encoded per copy. What is remembered is keyed by the text itself.
 */
const paragraph = (n: number) => `Paragraph ${n}: the widget arrived broken — Grüße, see https://example.test/orders/${n}. `.repeat(4);
const longBody = Array.from({ length: 12 }, (_, i) => paragraph(i).trimEnd()).join("\n\n");

function bodyOf(raw: Buffer, type: "text/plain" | "text/html"): string {
  const text = raw.toString("latin1");
  const start = text.indexOf(`Content-Type: ${type}; charset=utf-8\r\n`);
  const from = text.indexOf("\r\n\r\n", start) + 4;
  return text.slice(from, text.indexOf("\r\n--=_postern_", from));
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i;
}

describe("compose: text parts", () => {
  it("encodes text so that it decodes back exactly, whatever its characters and lines", async () => {
    const samples = [
      "plain ASCII\nshort lines\n",
      "trailing spaces   \nand tabs\t\nand = signs == \r\nCRLF too\r\n",
      `${"x".repeat(300)}\n${"é".repeat(200)}\n${"😀".repeat(100)} \n`,
      "日本語のテキストがほとんどです。".repeat(40),
      "no final newline, ends in a space ",
      "\u0000control\u0007characters\u001f\n",
    ];
    for (const text of samples) {
      const raw = (await compose({ envelope: { from: "b@x.test", to: ["r@x.test"] }, messageId: "<m@x.test>", mail: { from: "f@x.test", to: "r@x.test", subject: "S", text, html: "<p>Hi</p>" } })).raw;
      // Line ends travel as CRLF, whichever the text had.
      expect((await simpleParser(raw)).text).toBe(text.replace(/\r\n/g, "\n"));
      for (const line of raw.toString("latin1").split("\r\n")) expect(line.length).toBeLessThanOrEqual(998);
    }
  });

  it("writes quoted-printable lines of at most 76 characters, breaking softly", () => {
    const encoded = quotedPrintable(Buffer.from(`${"word ".repeat(40)}\n${"ü".repeat(60)}\n`)).toString("latin1");
    for (const line of encoded.split("\r\n")) expect(line.length).toBeLessThanOrEqual(76);
    expect(encoded).toContain("=\r\n");
    expect(encoded.endsWith("\r\n")).toBe(true);
  });

  it("gives two texts with the same beginning the same encoded bytes up to where they differ, and never another text's", () => {
    const footerA = "\n-- \nReply to reply+aaaa@example.test.\n";
    const footerB = "\n-- \nReply to reply+bbbb@example.test.\n";
    const a = textPart("text/plain", longBody + footerA, false).toString("latin1");
    const b = textPart("text/plain", longBody + footerB, false).toString("latin1");
    const shared = quotedPrintable(Buffer.from(longBody.slice(0, longBody.lastIndexOf("\n", longBody.length - 600) + 1))).toString("latin1");
    expect(commonPrefix(a, b)).toBeGreaterThan(shared.length);
    // One character changed in the middle of text encoded before: its encoding is not reused.
    const changed = longBody.replace("Paragraph 5:", "Paragraph 6:");
    const c = textPart("text/plain", changed + footerA, false);
    expect(c.toString("latin1")).not.toBe(a);
    expect(c.toString("latin1")).toContain("Paragraph 6: the widget");
  });
});

describe("compose: copies of one post", () => {
  let t: TestStore;
  let config: Config;
  let alice: User;
  let bob: User;
  let carol: User;
  let conversation: Conversation;

  beforeEach(async () => {
    t = await createTestStore();
    config = buildConfig({ gateway: { domain: DOMAIN, name: "Postern" } });
    alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
    bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
    carol = await seedUser(t, "carol@elsewhere.test", "Carol Jones");
    ({ conversation } = await seedConversation(t, alice, [bob, carol], { subject: "Widgets" }));
  });
  afterEach(() => t.dispose());

  const copyOf = (post: Post, user: User): Promise<Delivery> => t.read((ctx) => deliveryOf(ctx, post.id, user.id));
  const render = async (delivery: Delivery) => (await compose(await t.read(({ tx }) => draftDelivery(tx, config, delivery)))).raw;

  it("share the post's encoded text and HTML, and differ only in the footer", async () => {
    const post = await seedPost(t, conversation, alice, { body: longBody, now: T0 + 1000 });
    const toBob = await render(await copyOf(post, bob));
    const toCarol = await render(await copyOf(post, carol));
    for (const type of ["text/plain", "text/html"] as const) {
      const [mine, theirs] = [bodyOf(toBob, type), bodyOf(toCarol, type)];
      const same = commonPrefix(mine, theirs);
      // Everything up to the footer is the same bytes; what differs is the footer's addresses.
      const footer = mine.indexOf(type === "text/plain" ? "--=20\r\n" : "<hr ");
      expect(footer).toBeGreaterThan(0);
      expect(same).toBeGreaterThan(footer);
      expect(mine).not.toBe(theirs);
    }
    const [bobMail, carolMail] = [await simpleParser(toBob), await simpleParser(toCarol)];
    expect(bobMail.text).toContain(longBody);
    expect(carolMail.text).toContain(longBody);
  });

  it("never give one post's text to another post's copy", async () => {
    const first = await seedPost(t, conversation, alice, { body: longBody, now: T0 + 1000 });
    const edited = longBody.replaceAll("Paragraph 7:", "Paragraph seven:");
    const second = await seedPost(t, conversation, alice, { body: edited, now: T0 + 2000 });
    await render(await copyOf(first, bob));
    const mail = await simpleParser(await render(await copyOf(second, bob)));
    expect(mail.text).toContain(edited);
    expect(mail.text).not.toContain("Paragraph 7:");
    expect(mail.html).toContain("Paragraph seven:");
  });

  it("encodes each file once for all the copies, and each copy carries the same bytes", async () => {
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 255;
    const post = await seedPost(t, conversation, alice, {
      body: "The plans.",
      now: T0 + 1000,
      attachments: [{ filename: "plans.bin", contentType: "application/octet-stream", contentId: null, inline: false, content: big }],
    });
    const before = sharedPartBytes();
    const toBob = await render(await copyOf(post, bob));
    const afterFirst = sharedPartBytes();
    expect(afterFirst - before).toBeGreaterThan(big.length);
    const toCarol = await render(await copyOf(post, carol));
    // The second copy found the first one's encoding.
    expect(sharedPartBytes()).toBe(afterFirst);

    const part = (raw: Buffer) => {
      const text = raw.toString("latin1");
      const start = text.indexOf("Content-Type: application/octet-stream");
      return text.slice(start, text.indexOf("\r\n--", start));
    };
    expect(part(toBob).length).toBeGreaterThan(big.length);
    expect(part(toBob)).toBe(part(toCarol));
    for (const raw of [toBob, toCarol]) {
      const [file] = (await simpleParser(raw)).attachments;
      expect(file?.filename).toBe("plans.bin");
      expect(file?.content.equals(big)).toBe(true);
    }
  });
});
