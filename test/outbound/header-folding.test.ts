// RFC 5322 §2.1.1: no line of a message over 998 octets (78 recommended). Every kind of outbound
// mail (src/outbound/render.ts draftByKind) is rendered with hostile user text: long URLs, long runs
// without spaces in ASCII and UTF-8, encoded-word look-alikes, CR/LF injection, 10,000-character
// names. Every line stays bounded, and the Subject decodes back to exactly the conversation's.

import { simpleParser, type ParsedMail } from "mailparser";
import { afterEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { scheduleAppointment } from "../../src/domain/appointments.service.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { makeDigest } from "../../src/domain/digests.service.js";
import { notify } from "../../src/domain/notices.service.js";
import type { Delivery, DeliveryKind } from "../../src/domain/records.js";
import { setUserSettings } from "../../src/domain/users.service.js";
import { compose, draftDelivery } from "../../src/outbound/render.js";
import { normalizedSubject, replySubject } from "../../src/outbound/threading.js";
import { addressNameHeader, encodedWords, headerText } from "../../src/outbound/user-text.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { allDeliveries, DOMAIN, seedConversation, seedForwardDelivery, seedGroup, seedPost, seedUser, T0 } from "../helpers/seed.js";
import { headerLines } from "../helpers/mime.js";

const longUrl = `https://example.org/${"very-long-path-segment/".repeat(60)}?q=${"x".repeat(300)}`;

/** Hostile text, each the subject of a conversation and the names of the people in it. */
const HOSTILE: Record<string, string> = {
  "a long URL": `See ${longUrl} now`,
  "an ASCII run without spaces": "x".repeat(3000),
  "a UTF-8 run without spaces": "é".repeat(1200) + "日本語".repeat(400),
  "characters outside the BMP": "𠀀".repeat(300) + "👍🏽".repeat(200) + "👨‍👩‍👧",
  "encoded-word look-alikes": "=?UTF-8?B?SGVsbG8=?=".repeat(80) + " =?iso-8859-1?q?caf=E9?= plain",
  "CR/LF injection": "Hello\r\nBcc: evil@attacker.test\r\n\r\nInjected body\nX-Evil: 1",
  "quotes and backslashes": `"\\`.repeat(2000),
  "10,000 characters with spaces": "Jean-Baptiste Émile ".repeat(500),
  "10,000 characters without spaces": "N".repeat(10_000),
};

/** An unstructured header value as a reader decodes it (mailparser decodes Subject only). */
async function decoded(value: string): Promise<string | undefined> {
  return (await simpleParser(`Subject: ${value}\r\n\r\n`)).subject;
}

function longestLine(raw: Buffer): number {
  return Math.max(...raw.toString("latin1").split("\r\n").map((line) => line.length));
}

interface Rendered {
  readonly delivery: Delivery;
  readonly raw: Buffer;
  readonly mail: ParsedMail;
}

let t: TestStore | undefined;
afterEach(async () => {
  await t?.dispose();
  t = undefined;
});

/**
 * One of each kind of outbound mail, the user text being `text`: a group conversation (post copies,
 * a reply with a hostile attachment, joined, catch-up and delivery-mode notices, an appointment, a
 * digest), a direct one with consent (the invitation), an inbox conversation (copies to members and
 * to the outside person) and a postmaster forward.
 */
async function renderEverything(text: string): Promise<{ rendered: Rendered[]; subjects: Map<number, string> }> {
  const store = await createTestStore(buildConfig({ gateway: { domain: DOMAIN, name: text, disclose_participants: true } }, "test"));
  t = store;
  const alice = await seedUser(store, "alice@elsewhere.test", text, "staff");
  const bob = await seedUser(store, "bob@elsewhere.test", `${text} Bob`);
  const carol = await seedUser(store, "carol@elsewhere.test", `Carol ${text}`);
  const dana = await seedUser(store, "dana@elsewhere.test", text);
  const { conversation } = await seedConversation(store, alice, [bob, carol], { subject: text, body: "Hello." });
  await seedPost(store, conversation, bob, {
    body: "A reply with a file.",
    now: T0 + 1000,
    attachments: [
      { filename: `${text}.pdf`, contentType: `application/${text}`, contentId: null, inline: false, content: Buffer.from("%PDF-1.4") },
      { filename: `${text}.png`, contentType: "image/png", contentId: `<${text}@elsewhere.test>`, inline: true, content: Buffer.from("\x89PNG") },
    ],
  });
  await store.write(async (ctx) => {
    await notify(ctx, { kind: "joined", conversation, about: carol, by: alice, recipients: [bob] });
    await notify(ctx, { kind: "catch_up", conversation, about: carol, by: alice, recipients: [carol], history: 5 });
    await notify(ctx, { kind: "delivery_mode", conversation, about: bob, recipients: [bob] });
    await scheduleAppointment(ctx, conversation.id, { start: "2025-03-10T14:00", end: "2025-03-10T15:00", location: text, by: alice.email });
  }, T0 + 2000);
  await store.write(({ tx }) => setUserSettings(tx, carol.email, { delivery: "digest" }));
  await seedPost(store, conversation, alice, { body: "For the digest.", now: T0 + 3000 });
  await store.write((ctx) => makeDigest(ctx, carol.id), T0 + 4000);

  const { conversation: direct } = await seedConversation(store, alice, [dana], { subject: `${text} direct`, consent: true, now: T0 + 5000 });
  const group = await seedGroup(store, "support", `support@${DOMAIN}`, [alice, bob]);
  const { conversation: inbox } = await seedConversation(store, carol, [], { subject: `${text} inbox`, group, now: T0 + 6000 });
  await seedPost(store, inbox, alice, { body: "We are on it.", now: T0 + 7000 });
  const admin = await seedUser(store, "admin@staff.test", text, "admin");
  await seedForwardDelivery(store, admin, Buffer.from("Subject: x\r\n\r\nhi\r\n"), text, T0 + 8000);

  const subjects = new Map([conversation, direct, inbox].map((c) => [c.id, c.subject]));
  const rendered: Rendered[] = [];
  for (const delivery of await allDeliveries(store)) {
    if (delivery.status !== "queued") continue;
    const composed = await compose(await store.read(({ tx }) => draftDelivery(tx, store.config, delivery)));
    rendered.push({ delivery, raw: composed.raw, mail: await simpleParser(composed.raw) });
  }
  return { rendered, subjects };
}

describe("no line over 998 octets in any outbound message (RFC 5322 §2.1.1)", () => {
  for (const [label, text] of Object.entries(HOSTILE)) {
    it(`with ${label} as subject and names`, async () => {
      const { rendered, subjects } = await renderEverything(text);
      const kinds = new Set<DeliveryKind>(rendered.map((r) => r.delivery.kind));
      expect([...kinds].sort()).toEqual(["appointment", "digest", "forward", "notice", "post"]);
      for (const { delivery, raw, mail } of rendered) {
        const where = `${delivery.kind} ${delivery.id} to ${delivery.toAddress}`;
        expect(longestLine(raw), where).toBeLessThanOrEqual(998);
        // Headers fold within 78 octets, but for ids (Message-ID, Thread-Index) that cannot fold and are shorter than that anyway.
        const long = headerLines(raw).filter((line) => line.length > 78 && !/^(Thread-Index|Message-ID|DKIM-Signature): /i.test(line));
        expect(long, where).toEqual([]);
        // Nothing the user wrote started a header of its own.
        expect(mail.headers.has("bcc") || mail.headers.has("x-evil"), where).toBe(false);
        if (delivery.kind === "post") {
          const post = await t!.read(({ tx }) => tx.db.query.posts.findFirst({ where: (p, { eq }) => eq(p.id, delivery.postId!) }));
          const subject = subjects.get(post!.conversationId)!;
          const first = await t!.read(({ tx }) => tx.db.query.posts.findFirst({ where: (p, { eq }) => eq(p.conversationId, post!.conversationId), orderBy: (p, { asc }) => asc(p.id) }));
          expect(mail.subject, where).toBe(replySubject(subject, first!.id === post!.id));
          expect(await decoded(String(mail.headers.get("thread-topic"))), where).toBe(normalizedSubject(subject));
          expect(mail.from?.value[0]?.name, where).toMatch(/ via /);
        }
      }
    });
  }

  it("the subject stored is the one typed, whitespace collapsed: the copies decode back to it", async () => {
    const { subjects } = await renderEverything(HOSTILE["CR/LF injection"]!);
    expect([...subjects.values()][0]).toBe("Hello Bcc: evil@attacker.test Injected body X-Evil: 1");
  });
});

describe("encoded words built here", () => {
  it("split only between code points, each word under 76 octets", () => {
    for (const text of Object.values(HOSTILE)) {
      const encoded = encodedWords(text.replace(/\s+/g, " ").trim());
      for (const word of encoded.split(" ")) expect(word.length).toBeLessThanOrEqual(75);
      for (const word of encoded.split(" ").filter((w) => w.startsWith("=?UTF-8?B?"))) {
        const bytes = Buffer.from(word.slice(10, -2), "base64");
        expect(bytes.toString("utf8")).not.toContain("\uFFFD");
      }
    }
  });

  it("leave short plain ASCII alone and quote what needs quoting in a name", () => {
    expect(headerText("Lunch on Friday?")).toBe("Lunch on Friday?");
    expect(addressNameHeader("Alice Example")).toBe("Alice Example");
    expect(addressNameHeader('Dr. "Bob" O\'Neil')).toBe('"Dr. \\"Bob\\" O\'Neil"');
    expect(addressNameHeader("Émile")).toBe("=?UTF-8?B?w4ltaWxl?=");
    expect(addressNameHeader("=?UTF-8?B?SGk=?=")).toMatch(/^=\?UTF-8\?Q\?/);
  });
});
