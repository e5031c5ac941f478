import { eq } from "drizzle-orm";
import { simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import { findParticipant, setConversationState } from "../../src/domain/conversations.repo.js";
import { notify } from "../../src/domain/notices.service.js";
import type { Conversation, Delivery, NoticeKind, Post, User } from "../../src/domain/records.js";
import { compose, draftDelivery, RenderError } from "../../src/outbound/render.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { allDeliveries, DOMAIN, seedConversation, seedLeave, seedPost, seedUser, T0 } from "../helpers/seed.js";

let t: TestStore;
let config: Config;
let alice: User;
let bob: User;
let carol: User;
let conversation: Conversation;
let first: Post;

beforeEach(async () => {
  t = await createTestStore();
  config = buildConfig({ gateway: { domain: DOMAIN, name: "Postern" } });
  alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  carol = await seedUser(t, "carol@elsewhere.test", "Carol Singer");
  ({ conversation, post: first } = await seedConversation(t, alice, [bob, carol], { subject: "Garden party", body: "Saturday at three?" }));
});
afterEach(() => t.dispose());

async function noticeDelivery(kind: NoticeKind, about: User, recipient: User, extra: { by?: User; postId?: number; history?: number } = {}): Promise<Delivery> {
  const notice = await t.write((ctx) => notify(ctx, { kind, conversation, about, recipients: [recipient], ...extra }), T0 + 60_000);
  const delivery = (await allDeliveries(t)).find((d) => d.noticeId === notice?.id);
  if (!delivery) throw new Error("notice delivery not queued");
  return delivery;
}

async function render(delivery: Delivery) {
  const rendered = await compose(await t.read(({ tx }) => draftDelivery(tx, config, delivery)));
  return { ...rendered, mail: await simpleParser(rendered.raw) };
}

describe("notices: system mail about a conversation", () => {
  it("a joined notice is threaded under the conversation, answerable, and marked auto-generated", async () => {
    const delivery = await noticeDelivery("joined", carol, bob, { by: alice });
    const { mail, envelope } = await render(delivery);
    const bobParticipant = await t.read(({ tx }) => findParticipant(tx, conversation.id, bob.id));
    expect(envelope.from).toBe(`bounce+${delivery.bounceToken}@${DOMAIN}`);
    expect(mail.headers.get("auto-submitted")).toBe("auto-generated");
    expect(mail.subject).toBe("Re: Garden party");
    expect(mail.inReplyTo).toBe(first.messageId);
    expect(mail.replyTo?.value[0]?.address).toBe(`reply+${bobParticipant?.replyToken}@${DOMAIN}`);
    expect(mail.text).toContain("Carol Singer joined the conversation \"Garden party\", added by Alice Example");
    expect(mail.text).not.toContain("carol@elsewhere.test");
  });

  it("a catch-up carries the posts so far, or only the last N, without addresses", async () => {
    await seedPost(t, conversation, bob, { body: "Count me in.", now: T0 + 1000 });
    const last = await seedPost(t, conversation, alice, { body: "Bring a chair.", now: T0 + 2000 });
    const all = await render(await noticeDelivery("catch_up", carol, carol, { by: alice, postId: last.id }));
    expect(all.mail.text).toContain("Here is the conversation so far, 3 messages, oldest first.");
    expect(all.mail.text).toMatch(/Saturday at three\?[\s\S]*Count me in\.[\s\S]*Bring a chair\./);
    expect(all.mail.text).not.toMatch(/bob@|alice@/);
    expect(all.mail.inReplyTo).toBe(last.messageId);

    const two = await render(await noticeDelivery("catch_up", carol, carol, { by: alice, postId: last.id, history: 2 }));
    expect(two.mail.text).toContain("the last 2 of its 3 messages");
    expect(two.mail.text).not.toContain("Saturday at three?");
  });

  it("left and removed notices come from noreply@ and invite no reply", async () => {
    await seedLeave(t, conversation, carol);
    const { mail } = await render(await noticeDelivery("left", carol, carol));
    expect(mail.from?.value[0]?.address).toBe(`noreply@${DOMAIN}`);
    expect(mail.replyTo).toBeUndefined();
    expect(mail.headers.get("list-unsubscribe")).toBeUndefined();
    expect(mail.text).toContain("You have left the conversation \"Garden party\"");
  });

  it("tells an author, from noreply@, that a copy was too large for someone and will not be retried", async () => {
    const post = await seedPost(t, conversation, alice, { body: "Photos attached." });
    const { mail } = await render(await noticeDelivery("undelivered", bob, alice, { postId: post.id }));
    expect(mail.from?.value[0]?.address).toBe(`noreply@${DOMAIN}`);
    expect(mail.headers.get("auto-submitted")).toBe("auto-generated");
    expect(mail.text).toContain('Your message in the conversation "Garden party" could not be delivered to Bob');
    expect(mail.text).toContain("send the large files as a link");
  });

  it("an answerable notice to someone who has since left is skipped, not sent", async () => {
    const delivery = await noticeDelivery("joined", carol, bob, { by: alice });
    await seedLeave(t, conversation, bob);
    const error = await t.read(({ tx }) => draftDelivery(tx, config, delivery)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RenderError);
    expect((error as RenderError).outcome).toBe("skipped");
  });

  it("an invitation names who writes, the subject and the first message, and how to accept or decline", async () => {
    await t.write(async (ctx) => {
      await setConversationState(ctx.tx, conversation.id, "pending", ctx.now);
      await ctx.tx.run((db, tables) => db.update(tables.participants).set({ state: "invited" }).where(eq(tables.participants.userId, bob.id)));
    }, T0);
    const delivery = await noticeDelivery("invitation", bob, bob, { by: alice, postId: first.id });
    const { mail, messageId } = await render(delivery);
    const bobParticipant = await t.read(({ tx }) => findParticipant(tx, conversation.id, bob.id));
    const token = bobParticipant?.replyToken;
    expect(messageId).toBe(first.messageId);
    expect(mail.subject).toBe("Garden party");
    expect(mail.from?.value[0]?.name).toBe("Alice Example via Postern");
    expect(mail.headers.get("auto-submitted")).toBe("auto-generated");
    expect(mail.text).toContain("Alice Example would like to start a conversation with you on Postern: \"Garden party\".");
    expect(mail.text).toContain("Saturday at three?");
    expect(mail.text).toContain(`accept+${token}@${DOMAIN}`);
    expect(mail.text).toContain(`decline+${token}@${DOMAIN}`);
    // In HTML the addresses to answer with are links a reader can click.
    expect(mail.html).toContain(`<a href="mailto:accept+${token}@${DOMAIN}"`);
    expect(mail.replyTo?.value[0]?.address).toBe(`reply+${token}@${DOMAIN}`);
  });
});
