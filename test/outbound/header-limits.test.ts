import { simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import { findDelivery } from "../../src/domain/deliveries.repo.js";
import type { Delivery } from "../../src/domain/records.js";
import { compose, draftDelivery } from "../../src/outbound/render.js";
import { capText, displayNameText, flattenText, headerText } from "../../src/outbound/user-text.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { deliveryOf, DOMAIN, seedConversation, seedForwardDelivery, seedUser } from "../helpers/seed.js";

let t: TestStore;
let config: Config;

beforeEach(async () => {
  t = await createTestStore();
  config = buildConfig({ gateway: { domain: DOMAIN, name: "Postern" } });
});
afterEach(() => t.dispose());

async function renderDelivery(delivery: Delivery) {
  const rendered = await compose(await t.read(({ tx }) => draftDelivery(tx, config, delivery)));
  return { raw: rendered.raw, mail: await simpleParser(rendered.raw) };
}

/** Renders the copy of a new conversation's first post that `to` receives. */
async function renderFirstPost(authorName: string, subject: string, body = "Hello there.") {
  const author = await seedUser(t, "author@elsewhere.test", authorName);
  const reader = await seedUser(t, "reader@elsewhere.test", "Reader");
  const { post } = await seedConversation(t, author, [reader], { subject, body });
  return renderDelivery(await t.read((ctx) => deliveryOf(ctx, post.id, reader.id)));
}

/** Every physical line of the header block, in octets (RFC 5322 §2.1.1: at most 998). */
function headerLineLengths(raw: Buffer): number[] {
  const end = raw.indexOf("\r\n\r\n");
  return raw.subarray(0, end).toString("latin1").split("\r\n").map((line) => line.length);
}

function expectHeaderLinesBounded(raw: Buffer): void {
  const lengths = headerLineLengths(raw);
  expect(lengths.length).toBeGreaterThan(5);
  expect(Math.max(...lengths)).toBeLessThanOrEqual(998);
  // Folding works: even a 5,000-character value keeps every line short.
  expect(Math.max(...lengths)).toBeLessThanOrEqual(200);
}

/** The footer below the "-- " separator, line by line. */
function footerLines(text: string | undefined): string[] {
  const parts = (text ?? "").split("\n-- \n");
  return (parts[parts.length - 1] ?? "").trimEnd().split("\n");
}

const longUrl = `https://example.org/${"very-long-path-segment/".repeat(60)}?q=${"x".repeat(300)}`;

describe("header line limits (RFC 5322 §2.1.1)", () => {
  it("caps a 5,000-character author name in From and keeps every header line within 998 octets", async () => {
    const name = "A".repeat(5000);
    const { raw, mail } = await renderFirstPost(name, "Short subject");
    expectHeaderLinesBounded(raw);
    const capped = `${"A".repeat(199)}…`;
    expect(displayNameText(name)).toBe(capped);
    expect(mail.from?.value).toEqual([{ name: `${capped} via Postern`, address: `conversations@${DOMAIN}` }]);
    // The footer quotes the same capped name.
    expect(footerLines(mail.text)[0]).toBe(`${capped} wrote this in the conversation "Short subject" (Postern).`);
  });

  it("caps a long name made of words and of non-ASCII characters alike", async () => {
    const name = "Jean-Baptiste Émile ".repeat(250).trim();
    const { raw, mail } = await renderFirstPost(name, "Réunion");
    expectHeaderLinesBounded(raw);
    const capped = capText(name, 200);
    expect([...capped]).toHaveLength(200);
    expect(mail.from?.value[0]?.name).toBe(`${capped} via Postern`);
  });

  it("encodes a 3,000-character subject of encoded words and a long URL so it folds and decodes back", async () => {
    // Literal RFC 2047 look-alikes, non-ASCII text and an unbreakable 1,700-character URL.
    const words = "=?UTF-8?B?SGVsbG8=?= Grüße =?iso-8859-1?q?caf=E9?= ";
    const subject = `${words.repeat(Math.ceil((3000 - longUrl.length) / words.length))}${longUrl}`.slice(0, 3000).trim();
    expect(subject.length).toBeGreaterThan(2900);
    const { raw, mail } = await renderFirstPost("Alice", subject);
    expectHeaderLinesBounded(raw);
    // The reader sees exactly the subject typed, not what the look-alike encoded words would decode to.
    expect(mail.subject).toBe(subject);
    // List-Id carries a short form of it and stays one short line.
    const listId = mail.headerLines.find((h) => h.key === "list-id")?.line ?? "";
    expect(listId.replace(/\r\n[ \t]+/g, " ").length).toBeLessThan(300);
    expect(listId).toMatch(/<conversation-\d+\.example\.test>$/);
  });

  it("encodes an ASCII subject that is one long URL", async () => {
    const subject = `See ${longUrl}`;
    const { raw, mail } = await renderFirstPost("Alice", subject);
    expectHeaderLinesBounded(raw);
    expect(mail.subject).toBe(subject);
    // Ordinary subjects are left as they are.
    expect(headerText("Lunch on Friday?")).toBe("Lunch on Friday?");
  });

  it("bounds the subject of a postmaster forward", async () => {
    const admin = await seedUser(t, "admin@staff.test", "Admin");
    const subject = `Complaint ${longUrl}`;
    const delivery = await seedForwardDelivery(t, admin, Buffer.from(`Subject: x\r\n\r\nhi\r\n`), subject);
    const found = await t.read(({ tx }) => findDelivery(tx, delivery.id));
    if (!found) throw new Error("forward not queued");
    const { raw, mail } = await renderDelivery(found);
    expectHeaderLinesBounded(raw);
    expect(mail.subject).toBe(`Fwd: ${subject}`);
  });
});

describe("user text in the footer", () => {
  const forged = "To leave the conversation, send an email to evil@attacker.test.";

  it("cannot forge a footer line through a name with CR/LF", async () => {
    const name = `Mallory\r\n\r\n${forged}\n\rReply to this email`;
    const { raw, mail } = await renderFirstPost(name, "Hello\r\nTo leave the conversation, send an email to evil@attacker.test.");
    expectHeaderLinesBounded(raw);
    const flatName = `Mallory ${forged} Reply to this email`;
    expect(mail.from?.value[0]?.name).toBe(`${flatName} via Postern`);
    expect(mail.subject).toBe("Hello To leave the conversation, send an email to evil@attacker.test.");

    const lines = footerLines(mail.text);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe(`${flatName} wrote this in the conversation "Hello ${forged}" (Postern).`);
    expect(lines[1]).toBe("Reply to this email to answer in the conversation; your reply goes to its participants.");
    expect(lines[2]).toMatch(/^Receive this conversation: every message every\+\S+, in a digest digest\+\S+, or muted mute\+\S+\.$/);
    expect(lines[3]).toMatch(new RegExp(`^To leave the conversation, send an email to leave\\+[^@\\s]+@${DOMAIN.replace(".", "\\.")}\\.$`));
    // The only line that begins like Postern's leave line is Postern's own.
    expect((mail.text ?? "").split("\n").filter((line) => line.startsWith("To leave the conversation"))).toEqual([lines[3]]);
    // The HTML footer has its four lines too, the forged text inside the first.
    const htmlFooter = (mail.html || "").split("<hr")[1] ?? "";
    expect(htmlFooter.match(/<br>/g)).toHaveLength(3);
    expect(htmlFooter).not.toContain("evil@attacker.test\">");
  });

  it("caps the name and the subject quoted in the footer", async () => {
    const { mail } = await renderFirstPost(`Bob ${"B".repeat(3000)}`, `Plans ${"p".repeat(3000)}`);
    const lines = footerLines(mail.text);
    expect(lines).toHaveLength(4);
    expect(lines[0]?.length).toBeLessThan(500);
    expect(lines[0]).toBe(`${capText(`Bob ${"B".repeat(3000)}`, 200)} wrote this in the conversation "${capText(`Plans ${"p".repeat(3000)}`, 200)}" (Postern).`);
  });

  it("flattens control characters and line separators", () => {
    expect(flattenText(" a\r\n\tb\u2028c\u0085d\u0000e  ")).toBe("a b c d e");
    expect(capText("short", 200)).toBe("short");
    expect(capText("😀".repeat(300), 200)).toBe(`${"😀".repeat(199)}…`);
  });
});
