import { simpleParser, type ParsedMail } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import { findDelivery } from "../../src/domain/deliveries.repo.js";
import type { Delivery } from "../../src/domain/records.js";
import { compose, draftDelivery, RenderError } from "../../src/outbound/render.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import {
  deliveryOf, DOMAIN, seedConversation, seedDirectConversation, seedForwardDelivery, seedGroup, seedLeave, seedParticipant, seedPost,
  seedPostCopy, seedUser, T0,
  queueAndRead,
} from "../helpers/seed.js";

let t: TestStore;
let config: Config;

beforeEach(async () => {
  t = await createTestStore();
  config = buildConfig({ gateway: { domain: DOMAIN, name: "Postern" } });
});
afterEach(() => t.dispose());

/** A header exactly as written (unfolded), before mailparser interprets it. */
function rawHeader(mail: ParsedMail, name: string): string | undefined {
  const line = mail.headerLines.find((h) => h.key === name.toLowerCase())?.line;
  return line?.slice(line.indexOf(":") + 1).replace(/\r?\n[ \t]+/g, " ").trim();
}

/** mailparser leaves encoded words in List-Id's phrase alone; join their bytes and decode. */
function decodeBase64Words(value: string): string {
  const words = [...value.matchAll(/=\?UTF-8\?B\?([^?]*)\?=/gi)].map((m) => Buffer.from(m[1] ?? "", "base64"));
  return Buffer.concat(words).toString("utf8");
}

/** The copy of a post fan-out queued for this user. */
function deliveryTo(postId: number, recipientId: number): Promise<Delivery> {
  return t.read((ctx) => deliveryOf(ctx, postId, recipientId));
}

/** Drafts a row as the worker does (in a read), then composes its bytes. */
async function renderRow(delivery: Delivery, cfg = config) {
  return compose(await t.read(({ tx }) => draftDelivery(tx, cfg, delivery)));
}

async function render(deliveryId: number, cfg = config) {
  const delivery = await t.read(({ tx }) => findDelivery(tx, deliveryId));
  if (!delivery) throw new Error(`delivery ${deliveryId} not found`);
  const rendered = await renderRow(delivery, cfg);
  // skipImageLinks: keep cid: links as written instead of inlining them as data: URIs.
  return { ...rendered, mail: await simpleParser(rendered.raw, { skipImageLinks: true }) };
}

describe("draftDelivery + compose: a post", () => {
  it("writes every header SPEC §4 asks for", async () => {
    const { delivery, post, bobParticipant, conversation } = await seedDirectConversation(t);
    const { envelope, messageId, mail } = await render(delivery.id);

    expect(envelope).toEqual({ from: `bounce+${delivery.bounceToken}@${DOMAIN}`, to: ["bob@elsewhere.test"] });
    expect(messageId).toBe(post.messageId);
    expect(mail.from?.value).toEqual([{ name: "Alice Example via Postern", address: `conversations@${DOMAIN}` }]);
    expect(mail.replyTo?.value).toEqual([{ name: "", address: `reply+${bobParticipant.replyToken}@${DOMAIN}` }]);
    expect(mail.to && !Array.isArray(mail.to) && mail.to.value).toEqual([{ name: "Bob Builder", address: "bob@elsewhere.test" }]);
    expect(mail.subject).toBe("Lunch on Friday?");
    expect(mail.messageId).toBe(post.messageId);
    expect(mail.inReplyTo).toBeUndefined();
    expect(mail.references).toBeUndefined();
    expect(mail.date?.getTime()).toBe(T0);
    expect(rawHeader(mail, "List-Id")).toBe(`"Lunch on Friday?" <conversation-${conversation.id}.${DOMAIN}>`);
    expect(rawHeader(mail, "List-Unsubscribe")).toBe(`<mailto:leave+${bobParticipant.leaveToken}@${DOMAIN}>`);
    expect(rawHeader(mail, "List-Post")).toBe(`<mailto:reply+${bobParticipant.replyToken}@${DOMAIN}>`);
    expect(rawHeader(mail, "Precedence")).toBe("list");
    expect(rawHeader(mail, "X-Auto-Response-Suppress")).toBe("All");
    // Human posts are not automatic mail: auto-responders may answer them (RFC 3834).
    expect(rawHeader(mail, "Auto-Submitted")).toBeUndefined();
  });

  it("never puts the author's address or a token in From, nor internal ids anywhere", async () => {
    const { delivery, bobParticipant } = await seedDirectConversation(t);
    const { raw, mail } = await render(delivery.id);
    const from = rawHeader(mail, "From") ?? "";
    expect(from).not.toContain("alice@elsewhere.test");
    expect(from).not.toContain(bobParticipant.replyToken);
    expect(raw.toString("latin1")).not.toMatch(/^X-Postern/im);
    expect(raw.toString("latin1")).not.toContain("alice@elsewhere.test");
  });

  it("offers plain text and a simple HTML alternative with a personal footer", async () => {
    const { delivery, bobParticipant } = await seedDirectConversation(t, { body: "  Shall we meet <at> noon?\n\nBring & share.  \n" });
    const { mail } = await render(delivery.id);
    expect(mail.text).toContain("Shall we meet <at> noon?\n\nBring & share.\n\n-- \n");
    expect(mail.text).toContain('Alice Example wrote this in the conversation "Lunch on Friday?" (Postern).');
    expect(mail.text).toContain("Reply to this email to answer in the conversation");
    expect(mail.text).toContain(`leave+${bobParticipant.leaveToken}@${DOMAIN}`);
    expect(mail.html).toContain("<p>Shall we meet &#60;at&#62; noon?</p>");
    expect(mail.html).toContain("<p>Bring &#38; share.</p>");
    expect(mail.html).toContain(`href="mailto:leave+${bobParticipant.leaveToken}@${DOMAIN}"`);
    // No remote resources: nothing fetched when the mail is opened.
    expect(mail.html).not.toMatch(/(src|href)="https?:/i);
  });

  it("uses the local part when the author has no name", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test");
    const bob = await seedUser(t, "bob@elsewhere.test");
    const { post } = await seedConversation(t, alice, [bob], { subject: "Hi", body: "hello" });
    const { mail } = await render((await deliveryTo(post.id, bob.id)).id);
    expect(mail.from?.value[0]?.name).toBe("alice via Postern");
  });

  it("sends inbox conversations from the group's inbox address under the group's name", async () => {
    const customer = await seedUser(t, "carol@elsewhere.test", "Carol");
    const agent = await seedUser(t, "dave@staff.test", "Dave");
    const group = await seedGroup(t, "Support", `support@${DOMAIN}`, [agent]);
    const { conversation, post: first } = await seedConversation(t, customer, [], { subject: "Broken widget", body: "It broke.", group });
    const { delivery } = await seedPostCopy(t, conversation, agent, customer, { body: "Try turning it off and on." });
    const { mail } = await render(delivery.id);
    expect(mail.from?.value).toEqual([{ name: "Dave via Support", address: `support@${DOMAIN}` }]);
    expect(mail.subject).toBe("Re: Broken widget");
    expect(mail.inReplyTo).toBe(first.messageId);
    expect(mail.text).toContain("(Support)");
  });

  it("threads later posts: Re:, In-Reply-To the parent, References from the first post", async () => {
    const { alice, bob, conversation, post: first } = await seedDirectConversation(t);
    const second = await seedPost(t, conversation, bob, { body: "Yes", parentId: first.id });
    const { delivery: third } = await seedPostCopy(t, conversation, alice, bob, { body: "Great" });
    const { mail } = await render(third.id);
    expect(mail.subject).toBe("Re: Lunch on Friday?");
    expect(mail.inReplyTo).toBe(second.messageId);
    expect(mail.references).toEqual([first.messageId, second.messageId]);

    const { delivery: answerToFirst } = await seedPostCopy(t, conversation, bob, alice, { body: "Also", parentId: first.id });
    const parsed = (await render(answerToFirst.id)).mail;
    expect(parsed.inReplyTo).toBe(first.messageId);
    expect(parsed.references).toBe(first.messageId);
  });

  it("does not stack Re: on a subject that already has one", async () => {
    const { bob, conversation, alice } = await seedDirectConversation(t, { subject: "Re: old thread" });
    const { delivery: later } = await seedPostCopy(t, conversation, alice, bob, { body: "again" });
    const { mail } = await render(later.id);
    expect(mail.subject).toBe("Re: old thread");
  });

  it("bounds References, keeping the first post and the newest ones", async () => {
    const { alice, bob, conversation, post: first } = await seedDirectConversation(t);
    const chain = [first];
    for (let i = 0; i < 8; i++) {
      const author = i % 2 === 0 ? bob : alice;
      chain.push(await seedPost(t, conversation, author, { body: `post ${i}` }));
    }
    const { delivery: last } = await seedPostCopy(t, conversation, alice, bob, { body: "last" });
    const limited = buildConfig({ gateway: { domain: DOMAIN }, conversations: { references_limit: 4 } });
    const { mail } = await render(last.id, limited);
    const ids = chain.map((p) => p.messageId);
    expect(mail.references).toEqual([ids[0], ...ids.slice(-3)]);
    expect(mail.inReplyTo).toBe(ids[ids.length - 1]);
  });

  it("round-trips a Japanese subject, body, names and List-Id intact", async () => {
    const taro = await seedUser(t, "taro@elsewhere.test", "山田 太郎");
    const hanako = await seedUser(t, "hanako@elsewhere.test", "佐藤 花子");
    const subject = "来週の打ち合わせについて（資料を添付します）とても長い件名が折り返されても壊れないこと";
    const body = "佐藤さん\n\nお疲れ様です。来週の打ち合わせの件、火曜日の午後はいかがでしょうか。\n絵文字も😀大丈夫です。";
    const { conversation, post } = await seedConversation(t, taro, [hanako], { subject, body });
    const { raw, mail } = await render((await deliveryTo(post.id, hanako.id)).id);

    // RFC 2047 / transfer encodings: the bytes on the wire are 7-bit clean headers.
    const headerBlock = raw.toString("latin1").split("\r\n\r\n")[0] ?? "";
    expect(headerBlock).toMatch(/^[\x00-\x7f]*$/);
    expect(mail.subject).toBe(subject);
    expect(mail.from?.value[0]?.name).toBe("山田 太郎 via Postern");
    expect(mail.text).toContain(body);
    expect(mail.html).toContain("絵文字も😀大丈夫です。");
    const listId = rawHeader(mail, "List-Id") ?? "";
    expect(listId).toMatch(new RegExp(`^(=\\?UTF-8\\?B\\?[^?]+\\?= ?)+ <conversation-${conversation.id}\\.${DOMAIN}>$`));
    expect(decodeBase64Words(listId)).toBe(subject);
  });

  it("re-attaches attachments, inline ones with their Content-ID", async () => {
    const { conversation, alice, bob } = await seedDirectConversation(t);
    const pdf = Buffer.from("%PDF-1.4 fake");
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    // A sent post never changes, so the attachments come with a post of their own.
    const { delivery } = await seedPostCopy(t, conversation, alice, bob, {
      body: "The agenda and the map.",
      attachments: [
        { filename: "agenda.pdf", contentType: "application/pdf", contentId: null, inline: false, content: pdf },
        { filename: "map.png", contentType: "image/png", contentId: "<map@phone>", inline: true, content: png },
        { filename: "メモ.txt", contentType: "text/plain", contentId: null, inline: false, content: Buffer.from("メモ") },
      ],
    });
    const { mail } = await render(delivery.id);

    const byName = new Map(mail.attachments.map((a) => [a.filename, a]));
    expect(byName.get("agenda.pdf")?.content.equals(pdf)).toBe(true);
    expect(byName.get("agenda.pdf")?.contentDisposition).toBe("attachment");
    expect(byName.get("map.png")?.content.equals(png)).toBe(true);
    expect(byName.get("map.png")?.cid).toBe("map@phone");
    expect(byName.get("メモ.txt")?.content.toString("utf8")).toBe("メモ");
    // Our HTML is rebuilt from text, so it must show the inline image itself.
    expect(mail.html).toContain('src="cid:map@phone"');
  });

  it("lists every active participant in To only when disclose_participants is on", async () => {
    const { delivery, conversation } = await seedDirectConversation(t);
    const carol = await seedUser(t, "carol@elsewhere.test", "Carol");
    await seedParticipant(t, conversation, carol);
    const gone = await seedUser(t, "gone@elsewhere.test");
    await seedParticipant(t, conversation, gone);
    await seedLeave(t, conversation, gone);

    const privateCopy = (await render(delivery.id)).mail;
    expect(privateCopy.to && !Array.isArray(privateCopy.to) && privateCopy.to.value.map((a) => a.address)).toEqual(["bob@elsewhere.test"]);

    const disclosing = buildConfig({ gateway: { domain: DOMAIN, disclose_participants: true } });
    const open = await render(delivery.id, disclosing);
    expect(open.mail.to && !Array.isArray(open.mail.to) && open.mail.to.value.map((a) => a.address)).toEqual([
      "alice@elsewhere.test", "bob@elsewhere.test", "carol@elsewhere.test",
    ]);
    expect(open.envelope.to).toEqual(["bob@elsewhere.test"]);
  });

  it("refuses, as a RenderError, copies that can never be sent", async () => {
    const { delivery, conversation, alice } = await seedDirectConversation(t);
    const leaver = await seedUser(t, "leaver@elsewhere.test");
    await seedParticipant(t, conversation, leaver);
    // Queued while they took part; they left before it went out.
    const { delivery: toLeaver } = await seedPostCopy(t, conversation, alice, leaver, { body: "after they left" });
    await seedLeave(t, conversation, leaver);
    // Nobody's error: skipped, not failed.
    await expect(renderRow(toLeaver)).rejects.toThrow(/left conversation/);
    await expect(renderRow(toLeaver)).rejects.toMatchObject({ name: "RenderError", outcome: "skipped" });

    // A copy of a post that was never published (fan-out queues none; the outbox still refuses one).
    const draft = await seedPost(t, conversation, alice, { body: "draft", publish: false });
    const [toDraft] = await t.write(({ tx }) =>
      queueAndRead(tx, [{ kind: "post", postId: draft.id, conversationId: conversation.id, recipientId: leaver.id, toAddress: leaver.email }], T0),
    );
    if (!toDraft) throw new Error("draft copy not queued");
    await expect(renderRow(toDraft)).rejects.toThrow(RenderError);
    await expect(renderRow(toDraft)).rejects.toMatchObject({ outcome: "failed" });
    // A row whose post no longer exists (the renderer is handed the row: there is no id to miss).
    const orphan = { ...delivery, postId: (delivery.postId ?? 0) + 1000 };
    await expect(renderRow(orphan)).rejects.toThrow(RenderError);
    await expect(renderRow(orphan)).rejects.toMatchObject({ outcome: "failed" });
  });
});

describe("draftDelivery + compose: a postmaster forward", () => {
  it("forwards the original as message/rfc822, marked as automatic mail", async () => {
    const admin = await seedUser(t, "admin@staff.test", "Admin");
    const original = Buffer.from("From: someone@elsewhere.test\r\nTo: postmaster@example.test\r\nSubject: Your server\r\nMessage-ID: <abc@elsewhere.test>\r\n\r\nYour server is misconfigured.\r\n");
    const delivery = await seedForwardDelivery(t, admin, original, "Your server");
    const { envelope, messageId, raw, mail } = await render(delivery.id);

    expect(envelope).toEqual({ from: `bounce+${delivery.bounceToken}@${DOMAIN}`, to: ["admin@staff.test"] });
    expect(messageId).toBe(`<postern.forward.${delivery.bounceToken}@${DOMAIN}>`);
    expect(mail.from?.value).toEqual([{ name: "Postern", address: `noreply@${DOMAIN}` }]);
    expect(mail.subject).toBe("Fwd: Your server");
    expect(rawHeader(mail, "Auto-Submitted")).toBe("auto-generated");
    expect(mail.text).toContain(`addressed to postmaster@${DOMAIN} from someone@elsewhere.test`);
    expect(raw.toString("latin1")).toMatch(/Content-Type: message\/rfc822/i);
    const attached = mail.attachments.find((a) => a.contentType === "message/rfc822");
    expect(attached?.content.toString()).toContain("Your server is misconfigured.");
  });

  it("names the address when the original had no subject", async () => {
    const admin = await seedUser(t, "admin@staff.test");
    const delivery = await seedForwardDelivery(t, admin, Buffer.from("Subject:\r\n\r\nhi\r\n"), null);
    const { mail } = await render(delivery.id);
    expect(mail.subject).toBe(`Mail to postmaster@${DOMAIN}`);
  });
});
