// handleReply and handleThreadedReply, called directly: no SMTP, no routing. Each test builds the
// InboundContext the pipeline would (parse → classify → trim, a mail-log entry, one transaction)
// and checks both the outcome and what the transaction left in the database.

import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../../src/config/config.js";
import { tokenAddress } from "../../../src/domain/addresses.js";
import { findConversation, findParticipant, participantsWithUsers } from "../../../src/domain/conversations.repo.js";
import { attachmentsOfPost, listPosts } from "../../../src/domain/posts.repo.js";
import type { Conversation, Participant, Post, User } from "../../../src/domain/records.js";
import { findUserByEmail } from "../../../src/domain/users.repo.js";
import { handleReply, handleThreadedReply } from "../../../src/inbound/handlers/reply.js";
import { conversations } from "../../../schema/schema.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import {
  buildMime,
  DOMAIN,
  dmarcPass,
  prepareInbound,
  refusalOf,
  runInbound,
  seedConversation,
  seedLeave,
  seedUser,
  T0,
} from "../../helpers/seed.js";

const FIXTURE_DIR = new URL("../../fixtures/eml/", import.meta.url);
const T1 = T0 + 60_000;

let t: TestStore;

interface World {
  readonly alice: User;
  readonly bob: User;
  readonly conversation: Conversation;
  readonly first: Post;
  readonly bobParticipant: Participant;
  readonly bobReply: string;
}

/** Alice writes "Contract renewal" to Bob (bob@customer.test, the author of the reply fixtures). */
async function world(store = t): Promise<World> {
  const alice = await seedUser(store, "alice@elsewhere.test", "Alice Example");
  const bob = await seedUser(store, "bob@customer.test", "Bob Customer");
  const { conversation, post } = await seedConversation(store, alice, [bob], { subject: "Contract renewal", body: "Please find the draft renewal terms below." });
  const bobParticipant = await store.read(({ tx }) => findParticipant(tx, conversation.id, bob.id));
  if (!bobParticipant) throw new Error("bob is not a participant");
  return { alice, bob, conversation, first: post, bobParticipant, bobReply: tokenAddress("reply", bobParticipant.replyToken, DOMAIN) };
}

/** A fixture as it would arrive at this participant's reply address. */
function fixtureTo(file: string, address: string): Buffer {
  const raw = readFileSync(new URL(file, FIXTURE_DIR)).toString("utf8");
  return Buffer.from(raw.replace(/reply\+[a-z0-9]+@example\.test/g, address), "utf8");
}

function posts(conversationId: number, store = t): Promise<Post[]> {
  return store.read(({ tx }) => listPosts(tx, conversationId));
}

function deliveriesOfPost(postId: number, store = t) {
  return store.read(({ tx }) => tx.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.postId, postId) }));
}

beforeEach(async () => {
  t = await createTestStore();
});

afterEach(async () => {
  await t.dispose();
});

describe("handleReply", () => {
  it("posts the trimmed reply, keeps the untrimmed text, and queues a copy for the other participant only", async () => {
    const w = await world();
    const inbound = await prepareInbound(t.config, fixtureTo("reply_gmail_web.eml", w.bobReply), w.bobReply);
    const { outcome, inboundId } = await runInbound(t, inbound, async (ctx) => ({
      outcome: await handleReply(ctx, w.conversation, w.bobParticipant),
      inboundId: ctx.inboundId,
    }), T1);

    expect(outcome).toMatchObject({ outcome: "accepted", reason: `reply posted to conversation ${w.conversation.id}`, conversationId: w.conversation.id });
    const all = await posts(w.conversation.id);
    expect(all).toHaveLength(2);
    const reply = all[1]!;
    expect(outcome.postId).toBe(reply.id);
    expect(reply).toMatchObject({
      authorId: w.bob.id,
      state: "sent",
      parentId: w.first.id,
      inboundId,
      sourceMessageId: "<CAF7d9+Wn3kzQ2x0Lr8hJv5pYtB6mXkA1cN4sE=fQ_Tz9uRw@mail.customer.test>",
      body: inbound.content.reply.text,
      sentAt: T1,
    });
    expect(reply.body).toContain("could we move the renewal date to the first of April?");
    expect(reply.body).not.toContain("Please find the draft renewal terms below.");
    expect(reply.body).not.toContain("wrote:");
    // The untrimmed text is kept with the post.
    expect(reply.rawBody).toBe(inbound.message.text);
    expect(reply.rawBody).toContain("> Please find the draft renewal terms below.");

    const copies = await deliveriesOfPost(reply.id);
    expect(copies.map((d) => [d.recipientId, d.toAddress, d.kind, d.status])).toEqual([[w.alice.id, w.alice.email, "post", "queued"]]);
  });

  it("refuses a reply that is empty once the quoted message is removed (empty_reply), and posts nothing", async () => {
    const w = await world();
    const raw = buildMime({
      from: "Bob Customer <bob@customer.test>",
      to: w.bobReply,
      subject: "Re: Contract renewal",
      body: "On Wed, 15 Jan 2025 at 09:30, Alice via Acme <conversations@example.test> wrote:\n> Please find the draft renewal terms below.\n",
    });
    const inbound = await prepareInbound(t.config, raw, w.bobReply);
    expect(inbound.content.reply.text).toBe("");

    const refusal = await refusalOf(runInbound(t, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant)));
    expect(refusal.reason).toBe("empty_reply");
    expect(refusal.sentence).toMatch(/empty once the quoted earlier messages were removed/);
    expect(await posts(w.conversation.id)).toHaveLength(1);
  });

  it("posts a reply with no text but an attachment", async () => {
    const w = await world();
    const raw = buildMime({
      from: "Bob Customer <bob@customer.test>",
      to: w.bobReply,
      subject: "Re: Contract renewal",
      body: "",
      attachments: [{ filename: "signed.pdf", contentType: "application/pdf", content: Buffer.from("%PDF-1.4 signed") }],
    });
    const inbound = await prepareInbound(t.config, raw, w.bobReply);
    const outcome = await runInbound(t, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant));
    expect(outcome.outcome).toBe("accepted");
    const stored = await t.read(({ tx }) => attachmentsOfPost(tx, outcome.postId!));
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ filename: "signed.pdf", contentType: "application/pdf", inline: false, size: 15 });
    expect(stored[0]!.content.toString()).toBe("%PDF-1.4 signed");
  });

  it("refuses a reply through Bob's token From another address (sender_mismatch), naming the sender but not Bob", async () => {
    const w = await world();
    const raw = buildMime({ from: "Mallory <mallory@elsewhere.test>", to: w.bobReply, subject: "Re: Contract renewal", body: "Let me in." });
    const inbound = await prepareInbound(t.config, raw, w.bobReply);
    const refusal = await refusalOf(runInbound(t, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant)));
    expect(refusal.reason).toBe("sender_mismatch");
    expect(refusal.sentence).toContain("mallory@elsewhere.test");
    expect(refusal.sentence).not.toContain("bob@customer.test");
    expect(await posts(w.conversation.id)).toHaveLength(1);
    // Refused mail stages nobody.
    expect(await t.read(({ tx }) => findUserByEmail(tx, "mallory@elsewhere.test"))).toBeUndefined();
  });

  it("refuses another participant's address too: Alice cannot post through Bob's token", async () => {
    const w = await world();
    const raw = buildMime({ from: "Alice Example <alice@elsewhere.test>", to: w.bobReply, subject: "Re: Contract renewal", body: "Posing as Bob." });
    const inbound = await prepareInbound(t.config, raw, w.bobReply);
    const refusal = await refusalOf(runInbound(t, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant)));
    expect(refusal.reason).toBe("sender_mismatch");
  });

  it("matches the sender case-insensitively (MTAs and clients change the case of addresses)", async () => {
    const w = await world();
    const raw = buildMime({ from: "Bob Customer <Bob@Customer.TEST>", to: w.bobReply, subject: "Re: Contract renewal", body: "Fine by me." });
    const inbound = await prepareInbound(t.config, raw, w.bobReply);
    const outcome = await runInbound(t, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant));
    expect(outcome.outcome).toBe("accepted");
  });

  it.each(["closed", "declined"] as const)("refuses a reply to a %s conversation (conversation_closed)", async (state) => {
    const w = await world();
    await t.write(async ({ tx }) => {
      await tx.db.update(conversations).set({ state }).where(eq(conversations.id, w.conversation.id));
    });
    const current = await t.read(({ tx }) => findConversation(tx, w.conversation.id));
    const raw = buildMime({ from: "Bob Customer <bob@customer.test>", to: w.bobReply, subject: "Re: Contract renewal", body: "Too late?" });
    const inbound = await prepareInbound(t.config, raw, w.bobReply);
    const refusal = await refusalOf(runInbound(t, inbound, (ctx) => handleReply(ctx, current!, w.bobParticipant)));
    expect(refusal.reason).toBe("conversation_closed");
    expect(refusal.sentence).toContain(state === "declined" ? `invitation to the conversation "Contract renewal" was declined` : `"Contract renewal" is ${state}`);
    expect(await posts(w.conversation.id)).toHaveLength(1);
  });

  it("adds a CC'd stranger as a staged participant with their name, and queues them no copy of the message they already have", async () => {
    const w = await world();
    const raw = buildMime({
      from: "Bob Customer <bob@customer.test>",
      to: w.bobReply,
      cc: ["Carol Counsel <carol@lawfirm.test>", "Alice Example <alice@elsewhere.test>"],
      subject: "Re: Contract renewal",
      body: "Adding our lawyer.",
    });
    const inbound = await prepareInbound(t.config, raw, w.bobReply);
    const outcome = await runInbound(t, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant), T1);

    expect(outcome.outcome).toBe("accepted");
    expect(outcome.reason).toBe(`reply posted to conversation ${w.conversation.id}; added carol@lawfirm.test`);
    const carol = await t.read(({ tx }) => findUserByEmail(tx, "carol@lawfirm.test"));
    expect(carol).toMatchObject({ status: "staged", name: "Carol Counsel", invitedById: w.bob.id });

    const people = await t.read(({ tx }) => participantsWithUsers(tx, w.conversation.id));
    const carolRow = people.find((p) => p.user.email === "carol@lawfirm.test");
    expect(carolRow?.participant).toMatchObject({ state: "active", role: "member", addedById: w.bob.id, joinedAt: T1 });
    // She has this post already (it was sent to her directly): it counts as read.
    expect(carolRow?.participant.lastReadPostId).toBe(outcome.postId);

    // Nobody who got the message directly gets a copy: not Carol (CC'd), not Alice (CC'd too).
    expect(await deliveriesOfPost(outcome.postId!)).toEqual([]);
  });

  it("queues a copy for a participant who was not CC'd, and none for the CC'd newcomer", async () => {
    const w = await world();
    const raw = buildMime({ from: "bob@customer.test", to: w.bobReply, cc: "carol@lawfirm.test", subject: "Re: Contract renewal", body: "Adding our lawyer." });
    const inbound = await prepareInbound(t.config, raw, w.bobReply);
    const outcome = await runInbound(t, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant));
    const copies = await deliveriesOfPost(outcome.postId!);
    expect(copies.map((d) => d.toAddress)).toEqual(["alice@elsewhere.test"]);
  });

  it("does not add CC'd addresses when the author's role may not invite by CC, and says so", async () => {
    const strict = await createTestStore(buildConfig({ gateway: { domain: DOMAIN, name: "Acme" }, abilities: { invite_by_cc: ["staff", "admin"] } }, "test"));
    try {
      const w = await world(strict);
      const raw = buildMime({ from: "bob@customer.test", to: w.bobReply, cc: "carol@lawfirm.test", subject: "Re: Contract renewal", body: "Adding our lawyer." });
      const inbound = await prepareInbound(strict.config, raw, w.bobReply);
      const outcome = await runInbound(strict, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant));
      expect(outcome.reason).toContain("not added: carol@lawfirm.test (the author may not invite by CC)");
      const people = await strict.read(({ tx }) => participantsWithUsers(tx, w.conversation.id));
      expect(people.map((p) => p.user.email).sort()).toEqual(["alice@elsewhere.test", "bob@customer.test"]);
      expect(await strict.read(({ tx }) => findUserByEmail(tx, "carol@lawfirm.test"))).toBeUndefined();
    } finally {
      await strict.dispose();
    }
  });

  describe("attachment limits", () => {
    const pdf = (n: number, size = 10) => ({ filename: `part-${n}.pdf`, contentType: "application/pdf", content: Buffer.alloc(size, 65 + n) });

    async function withLimits(attachments: { max_count?: number; max_total_size?: number }) {
      const limited = await createTestStore(buildConfig({ gateway: { domain: DOMAIN, name: "Acme" }, attachments }, "test"));
      return { limited, w: await world(limited) };
    }

    it("refuses more attachments than attachments.max_count (too_many_attachments)", async () => {
      const { limited, w } = await withLimits({ max_count: 2 });
      try {
        const raw = buildMime({ from: "bob@customer.test", to: w.bobReply, subject: "Re: Contract renewal", body: "Three files.", attachments: [pdf(1), pdf(2), pdf(3)] });
        const inbound = await prepareInbound(limited.config, raw, w.bobReply);
        const refusal = await refusalOf(runInbound(limited, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant)));
        expect(refusal.reason).toBe("too_many_attachments");
        expect(refusal.sentence).toBe("The message has 3 attachments; at most 2 are accepted.");
        expect(await posts(w.conversation.id, limited)).toHaveLength(1);
      } finally {
        await limited.dispose();
      }
    });

    it("accepts exactly attachments.max_count attachments", async () => {
      const { limited, w } = await withLimits({ max_count: 2 });
      try {
        const raw = buildMime({ from: "bob@customer.test", to: w.bobReply, subject: "Re: Contract renewal", body: "Two files.", attachments: [pdf(1), pdf(2)] });
        const inbound = await prepareInbound(limited.config, raw, w.bobReply);
        const outcome = await runInbound(limited, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant));
        expect(await limited.read(({ tx }) => attachmentsOfPost(tx, outcome.postId!))).toHaveLength(2);
      } finally {
        await limited.dispose();
      }
    });

    it("refuses attachments larger in total than attachments.max_total_size (attachments_too_large)", async () => {
      const { limited, w } = await withLimits({ max_total_size: 1000 });
      try {
        const raw = buildMime({ from: "bob@customer.test", to: w.bobReply, subject: "Re: Contract renewal", body: "Big files.", attachments: [pdf(1, 600), pdf(2, 401)] });
        const inbound = await prepareInbound(limited.config, raw, w.bobReply);
        const refusal = await refusalOf(runInbound(limited, inbound, (ctx) => handleReply(ctx, w.conversation, w.bobParticipant)));
        expect(refusal.reason).toBe("attachments_too_large");
        expect(refusal.sentence).toBe("The attachments add up to 1001 bytes; at most 1000 are accepted.");
        expect(await posts(w.conversation.id, limited)).toHaveLength(1);
      } finally {
        await limited.dispose();
      }
    });
  });
});

describe("handleThreadedReply", () => {
  // The messages below pass DMARC ("dmarc-pass"): by default ([auth] thread_without_token =
  // "authenticated") mail without a token joins a conversation only then. The rule itself is tested last.
  /** A message without a token that answers `inReplyTo`, from `from`. */
  function threaded(from: string, inReplyTo: string, extra: { references?: string } = {}) {
    return buildMime({ from, to: `conversations@${DOMAIN}`, subject: "Re: Contract renewal", body: "Answering without the token.", inReplyTo, ...extra });
  }

  it("posts a participant's reply found through In-Reply-To (a Message-ID Postern sent)", async () => {
    const w = await world();
    const inbound = await prepareInbound(t.config, threaded("Bob Customer <bob@customer.test>", w.first.messageId), `conversations@${DOMAIN}`, undefined, "dmarc-pass");
    const outcome = await runInbound(t, inbound, (ctx) => handleThreadedReply(ctx));
    expect(outcome).toMatchObject({ outcome: "accepted", conversationId: w.conversation.id });
    const all = await posts(w.conversation.id);
    expect(all.map((p) => [p.authorId, p.body])).toEqual([
      [w.alice.id, "Please find the draft renewal terms below."],
      [w.bob.id, "Answering without the token."],
    ]);
  });

  it("finds the conversation through References when In-Reply-To names nothing Postern knows", async () => {
    const w = await world();
    const raw = threaded("bob@customer.test", "<unknown@customer.test>", { references: `${w.first.messageId} <other@customer.test>` });
    const inbound = await prepareInbound(t.config, raw, `conversations@${DOMAIN}`, undefined, "dmarc-pass");
    const outcome = await runInbound(t, inbound, (ctx) => handleThreadedReply(ctx));
    expect(outcome?.conversationId).toBe(w.conversation.id);
  });

  it("finds the conversation through a Message-ID Postern received (the source of a post)", async () => {
    const w = await world();
    // Bob's first reply came in with his client's Message-ID; Alice's client answers that one.
    const first = buildMime({ from: "bob@customer.test", to: w.bobReply, subject: "Re: Contract renewal", body: "Mine.", messageId: "<bob-1@customer.test>" });
    await runInbound(t, await prepareInbound(t.config, first, w.bobReply), (ctx) => handleReply(ctx, w.conversation, w.bobParticipant));
    const inbound = await prepareInbound(t.config, threaded("alice@elsewhere.test", "<bob-1@customer.test>"), `conversations@${DOMAIN}`, undefined, "dmarc-pass");
    const outcome = await runInbound(t, inbound, (ctx) => handleThreadedReply(ctx));
    expect(outcome).toMatchObject({ outcome: "accepted", conversationId: w.conversation.id });
    expect(await posts(w.conversation.id)).toHaveLength(3);
  });

  it("returns nothing for a sender who is not a participant, a known user or not, and posts nothing", async () => {
    const w = await world();
    await seedUser(t, "carol@elsewhere.test", "Carol");
    for (const from of ["carol@elsewhere.test", "stranger@elsewhere.test"]) {
      const inbound = await prepareInbound(t.config, threaded(from, w.first.messageId), `conversations@${DOMAIN}`, undefined, "dmarc-pass");
      expect(await runInbound(t, inbound, (ctx) => handleThreadedReply(ctx))).toBeUndefined();
    }
    expect(await posts(w.conversation.id)).toHaveLength(1);
    expect(await t.read(({ tx }) => findUserByEmail(tx, "stranger@elsewhere.test"))).toBeUndefined();
  });

  it("returns nothing for a participant who left the conversation", async () => {
    const w = await world();
    await seedLeave(t, w.conversation, w.bob);
    const inbound = await prepareInbound(t.config, threaded("bob@customer.test", w.first.messageId), `conversations@${DOMAIN}`, undefined, "dmarc-pass");
    expect(await runInbound(t, inbound, (ctx) => handleThreadedReply(ctx))).toBeUndefined();
    expect(await posts(w.conversation.id)).toHaveLength(1);
  });

  it("returns nothing without threading headers", async () => {
    await world();
    const raw = buildMime({ from: "bob@customer.test", to: `conversations@${DOMAIN}`, subject: "Re: Contract renewal", body: "No headers." });
    const inbound = await prepareInbound(t.config, raw, `conversations@${DOMAIN}`, undefined, "dmarc-pass");
    expect(await runInbound(t, inbound, (ctx) => handleThreadedReply(ctx))).toBeUndefined();
  });

  it("keeps to the given group: a conversation outside it is not answered", async () => {
    const w = await world();
    const inbound = await prepareInbound(t.config, threaded("bob@customer.test", w.first.messageId), `conversations@${DOMAIN}`, undefined, "dmarc-pass");
    // The direct conversation has no group, so a scope of any group excludes it.
    expect(await runInbound(t, inbound, (ctx) => handleThreadedReply(ctx, { groupId: 9999 }))).toBeUndefined();
  });

  it("applies the sender check and the other reply rules to what it finds (empty after trimming is refused)", async () => {
    const w = await world();
    const raw = buildMime({
      from: "bob@customer.test",
      to: `conversations@${DOMAIN}`,
      subject: "Re: Contract renewal",
      inReplyTo: w.first.messageId,
      body: "On Wed, 15 Jan 2025 at 09:30, Alice via Acme <conversations@example.test> wrote:\n> Please find the draft renewal terms below.\n",
    });
    const inbound = await prepareInbound(t.config, raw, `conversations@${DOMAIN}`, undefined, "dmarc-pass");
    const refusal = await refusalOf(runInbound(t, inbound, (ctx) => handleThreadedReply(ctx)));
    expect(refusal.reason).toBe("empty_reply");
  });

  describe("[auth] thread_without_token (SPEC §3: a Message-ID is no secret)", () => {
    it("refuses a participant's unauthenticated reply by default, telling them to reply to their own copy", async () => {
      const w = await world();
      for (const auth of [undefined, { ...dmarcPass("customer.test"), dmarc: "fail" as const, aligned: false }]) {
        const inbound = await prepareInbound(t.config, threaded("bob@customer.test", w.first.messageId), `conversations@${DOMAIN}`, undefined, auth);
        const refusal = await refusalOf(runInbound(t, inbound, (ctx) => handleThreadedReply(ctx)));
        expect(refusal.reason).toBe("sender_unauthenticated");
        expect(refusal.sentence).toContain('answers the conversation "Contract renewal"');
        expect(refusal.sentence).toContain("reply to the copy of the conversation you received, whose reply address is your own");
      }
      expect(await posts(w.conversation.id)).toHaveLength(1);
    });

    it("still returns nothing for an unauthenticated sender who is not a participant", async () => {
      const w = await world();
      const inbound = await prepareInbound(t.config, threaded("stranger@elsewhere.test", w.first.messageId), `conversations@${DOMAIN}`);
      expect(await runInbound(t, inbound, (ctx) => handleThreadedReply(ctx))).toBeUndefined();
    });

    it('"participant" keeps the old rule: any participant\'s From address joins, authenticated or not', async () => {
      const loose = await createTestStore(buildConfig({ gateway: { domain: DOMAIN, name: "Acme" }, auth: { thread_without_token: "participant" } }, "test"));
      try {
        const w = await world(loose);
        const inbound = await prepareInbound(loose.config, threaded("bob@customer.test", w.first.messageId), `conversations@${DOMAIN}`);
        const outcome = await runInbound(loose, inbound, (ctx) => handleThreadedReply(ctx));
        expect(outcome).toMatchObject({ outcome: "accepted", conversationId: w.conversation.id });
      } finally {
        await loose.dispose();
      }
    });
  });
});
