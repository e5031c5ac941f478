// InboundPipeline without SMTP: parse → classify → trim, then one transaction that deduplicates on
// the mail-log entry (sender + Message-ID), routes and applies. What a client would be answered is
// the verdict (250) or the SmtpReply it rejects with.

import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tokenAddress } from "../../src/domain/addresses.js";
import { claimDue, markSent } from "../../src/domain/deliveries.repo.js";
import { participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { SmtpReply } from "../../src/errors/smtp-reply.js";
import { silentLogger } from "../../src/log.js";
import { InboundPipeline, type InboundEnvelope } from "../../src/inbound/pipeline.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { dmarcPassDns } from "../helpers/dns.js";
import {
  allDeliveries,
  buildMime,
  DOMAIN,
  getDelivery,
  seedDirectConversation,
  seedLeave,
  seedParticipant,
  seedUser,
  T0,
  type DirectConversation,
} from "../helpers/seed.js";

const FIXTURES = new URL("../fixtures/eml/", import.meta.url);
/**
 * A fake DNS (never the real one) in which elsewhere.test authorizes 192.0.2.1, the client address
 * of envelope() below: its mail passes DMARC, so mail without a token may thread (SPEC §3).
 */
const CLIENT_IP = "192.0.2.1";
const PASSING_DNS = dmarcPassDns(["elsewhere.test"], CLIENT_IP);

let t: TestStore;
let clock: number;
let pipeline: InboundPipeline;
let w: DirectConversation;
let bobReply: string;
let aliceReply: string;

beforeEach(async () => {
  t = await createTestStore();
  clock = T0 + 60_000;
  pipeline = new InboundPipeline({ store: t.store, config: t.config, logger: silentLogger(), now: () => clock, resolver: PASSING_DNS });
  w = await seedDirectConversation(t);
  bobReply = tokenAddress("reply", w.bobParticipant.replyToken, DOMAIN);
  aliceReply = tokenAddress("reply", w.aliceParticipant.replyToken, DOMAIN);
});

afterEach(async () => {
  await t.dispose();
});

const envelope = (mailFrom: string, ...rcptTo: string[]): InboundEnvelope => ({ mailFrom, rcptTo, sessionId: "test-session", remoteAddress: CLIENT_IP });

function bobAnswers(extra: Partial<Parameters<typeof buildMime>[0]> = {}): Buffer {
  return buildMime({ from: "Bob Builder <bob@elsewhere.test>", to: bobReply, subject: "Re: Lunch on Friday?", body: "Noon is fine.", messageId: "<bob-answer-1@elsewhere.test>", ...extra });
}

const posts = () => t.read(({ tx }) => listPosts(tx, w.conversation.id));
const mailLog = () => t.read(({ tx }) => listMailLog(tx));

/** The SmtpReply a promise rejects with. */
async function replyOf(promise: Promise<unknown>): Promise<SmtpReply> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SmtpReply) return error;
    throw error;
  }
  throw new Error("expected an SmtpReply");
}

describe("deduplication on the mail-log entry", () => {
  it("the same message processed twice makes one post; the second is a duplicate that says it was already received", async () => {
    const raw = bobAnswers();
    const first = await pipeline.process(raw, envelope("bob@elsewhere.test", bobReply));
    clock += 1000;
    const second = await pipeline.process(raw, envelope("bob@elsewhere.test", bobReply));

    expect(first).toMatchObject({ outcome: "accepted", conversationId: w.conversation.id });
    expect(second.outcome).toBe("duplicate");
    expect(second.reason).toBe(`already received as post ${first.postId} (mail log entry ${first.inboundId})`);
    expect(second.message).toMatch(/^2\.0\.0 Already received: already received as post/);
    expect(second).toMatchObject({ conversationId: w.conversation.id, postId: first.postId });
    expect(second.inboundId).not.toBe(first.inboundId);
    expect(await posts()).toHaveLength(2);
    // Alice gets Bob's answer once.
    const copies = (await allDeliveries(t)).filter((d) => d.postId === first.postId);
    expect(copies.map((d) => d.toAddress)).toEqual(["alice@elsewhere.test"]);

    const [repeat, original] = await mailLog();
    expect(original).toMatchObject({ id: first.inboundId, outcome: "accepted", postId: first.postId, dedupeKey: "bob@elsewhere.test <bob-answer-1@elsewhere.test>" });
    expect(repeat).toMatchObject({ id: second.inboundId, outcome: "duplicate", smtpCode: 250, postId: first.postId, dedupeKey: null, receivedAt: clock });
  });

  it("two copies processed concurrently (one group-commit batch) make one post and one duplicate", async () => {
    const raw = bobAnswers();
    const verdicts = await Promise.all([
      pipeline.process(raw, envelope("bob@elsewhere.test", bobReply)),
      pipeline.process(raw, envelope("bob@elsewhere.test", bobReply)),
    ]);
    expect(verdicts.map((v) => v.outcome).sort()).toEqual(["accepted", "duplicate"]);
    const accepted = verdicts.find((v) => v.outcome === "accepted")!;
    const duplicate = verdicts.find((v) => v.outcome === "duplicate")!;
    expect(duplicate.reason).toContain("already received");
    expect(duplicate.postId).toBe(accepted.postId);
    expect(await posts()).toHaveLength(2);
    expect((await allDeliveries(t)).filter((d) => d.postId === accepted.postId)).toHaveLength(1);
  });

  it("a message without a Message-ID is recognised by its bytes", async () => {
    const raw = bobAnswers({ messageId: null });
    const first = await pipeline.process(raw, envelope("bob@elsewhere.test", bobReply));
    const second = await pipeline.process(raw, envelope("bob@elsewhere.test", bobReply));
    expect([first.outcome, second.outcome]).toEqual(["accepted", "duplicate"]);
    expect(await posts()).toHaveLength(2);
  });

  it("the same message sent to two gateway addresses, in two SMTP transactions, makes one post", async () => {
    // Bob's client sent one message to his reply address and to conversations@ (Reply-All).
    const raw = bobAnswers({ to: [bobReply, t.config.fromAddress], inReplyTo: w.post.messageId });
    const first = await pipeline.process(raw, envelope("bob@elsewhere.test", bobReply));
    const second = await pipeline.process(raw, envelope("bob@elsewhere.test", t.config.fromAddress));
    expect(first.outcome).toBe("accepted");
    expect(second).toMatchObject({ outcome: "duplicate", postId: first.postId });
    expect(await posts()).toHaveLength(2);
  });

  it("the same message to two gateway addresses in one SMTP transaction makes one post too", async () => {
    const raw = bobAnswers({ to: [bobReply, t.config.fromAddress], inReplyTo: w.post.messageId });
    const verdict = await pipeline.process(raw, envelope("bob@elsewhere.test", t.config.fromAddress, bobReply));
    expect(verdict.outcome).toBe("accepted");
    expect(await posts()).toHaveLength(2);
  });

  it("a refused message releases its key: sent again once the cause is fixed, it is judged afresh", async () => {
    // Carol answers a conversation she does not take part in: refused, and nothing is kept.
    const carol = await seedUser(t, "carol@elsewhere.test", "Carol");
    const raw = buildMime({ from: "carol@elsewhere.test", to: t.config.fromAddress, subject: "Re: Lunch on Friday?", body: "Count me in.", messageId: "<carol-1@elsewhere.test>", inReplyTo: w.post.messageId });
    const refused = await replyOf(pipeline.process(raw, envelope("carol@elsewhere.test", t.config.fromAddress)));
    expect(refused).toMatchObject({ code: 550, enhancedStatus: "5.7.1", reason: "not_a_participant" });
    const [rejected] = await mailLog();
    expect(rejected).toMatchObject({ outcome: "rejected", smtpCode: 550, dedupeKey: null, postId: null });
    expect(rejected!.reason).toMatch(/^not_a_participant: /);

    // Alice adds her; the sending server retries the very same message.
    await seedParticipant(t, w.conversation, carol);
    clock += 60_000;
    const accepted = await pipeline.process(raw, envelope("carol@elsewhere.test", t.config.fromAddress));
    expect(accepted).toMatchObject({ outcome: "accepted", conversationId: w.conversation.id });
    expect((await posts()).map((p) => p.body)).toEqual(["Shall we meet at noon?", "Count me in."]);
    // And now it is a duplicate.
    expect((await pipeline.process(raw, envelope("carol@elsewhere.test", t.config.fromAddress))).outcome).toBe("duplicate");
  });

  it("the same Message-ID from a different sender is not a duplicate: the key is sender and Message-ID", async () => {
    const bob = await pipeline.process(bobAnswers({ messageId: "<shared@mail.test>" }), envelope("bob@elsewhere.test", bobReply));
    const alice = await pipeline.process(
      buildMime({ from: "alice@elsewhere.test", to: aliceReply, subject: "Re: Lunch on Friday?", body: "Great.", messageId: "<shared@mail.test>" }),
      envelope("alice@elsewhere.test", aliceReply),
    );
    expect([bob.outcome, alice.outcome]).toEqual(["accepted", "accepted"]);
    expect(alice.postId).not.toBe(bob.postId);
    expect(await posts()).toHaveLength(3);
  });

  it("a repeated message to postmaster@ is forwarded once", async () => {
    const admin = await seedUser(t, "ada@team.test", "Ada Admin", "admin");
    const raw = buildMime({ from: "admin@remote.test", to: `postmaster@${DOMAIN}`, subject: "Spam from you", body: "Look into it.", messageId: "<complaint-1@remote.test>" });
    const first = await pipeline.process(raw, envelope("admin@remote.test", `postmaster@${DOMAIN}`));
    const second = await pipeline.process(raw, envelope("admin@remote.test", `postmaster@${DOMAIN}`));
    expect(first).toMatchObject({ outcome: "accepted", reason: `mail to postmaster@${DOMAIN} forwarded to Ada Admin` });
    expect(second.outcome).toBe("duplicate");
    expect(second.reason).toBe(`already received as mail log entry ${first.inboundId} (accepted)`);
    const forwards = (await allDeliveries(t)).filter((d) => d.kind === "forward");
    expect(forwards.map((d) => [d.recipientId, d.inboundId])).toEqual([[admin.id, first.inboundId]]);
  });

  it("a repeated DSN is recorded once", async () => {
    await t.write(async ({ tx }) => {
      for (const row of await claimDue(tx, { now: clock, owner: "w", leaseMs: 60_000, limit: 10 })) await markSent(tx, row.id, "w", clock);
    });
    const address = tokenAddress("bounce", w.delivery.bounceToken, DOMAIN);
    const raw = Buffer.from(readFileSync(new URL("bounce_postfix_user_unknown.eml", FIXTURES)).toString("utf8").replace(/bounce\+[a-z0-9]+@example\.test/g, address));

    clock = T0 + 120_000;
    const first = await pipeline.process(raw, envelope("", address));
    clock = T0 + 180_000;
    const second = await pipeline.process(raw, envelope("", address));

    expect(first).toMatchObject({ outcome: "bounce", postId: w.post.id, message: "2.0.0 Delivery report recorded" });
    expect(second).toMatchObject({ outcome: "duplicate", postId: w.post.id });
    expect(second.reason).toMatch(/^already received/);
    expect(await getDelivery(t, w.delivery.id)).toMatchObject({ status: "bounced", bouncedAt: T0 + 120_000, errorCategory: "recipient" });
    expect((await mailLog()).map((e) => e.outcome)).toEqual(["duplicate", "bounce"]);
  });
});

describe("CC addresses as written in real headers", () => {
  it("normalises an internationalised domain and a trailing dot, and names an unusable address in the mail log", async () => {
    const raw = Buffer.from(
      [
        "From: Bob Builder <bob@elsewhere.test>",
        `To: ${bobReply}`,
        "Cc: Bob Bücher <bob@bücher.example>,",
        " d@, Foo <foo@bar.com.>",
        "Subject: Re: Lunch on Friday?",
        "Message-ID: <bob-cc-1@elsewhere.test>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        "Bringing two friends.",
        "",
      ].join("\r\n"),
      "utf8",
    );
    const verdict = await pipeline.process(raw, envelope("bob@elsewhere.test", bobReply));

    expect(verdict.outcome).toBe("accepted");
    const people = await t.read(({ tx }) => participantsWithUsers(tx, w.conversation.id));
    expect(people.map((p) => p.user.email).sort()).toEqual(["alice@elsewhere.test", "bob@elsewhere.test", "bob@xn--bcher-kva.example", "foo@bar.com"]);
    expect(await t.read(({ tx }) => findUserByEmail(tx, "bob@xn--bcher-kva.example"))).toMatchObject({ status: "staged", name: "Bob Bücher" });

    const [entry] = await mailLog();
    expect(entry).toMatchObject({ id: verdict.inboundId, outcome: "accepted" });
    expect(entry!.reason).toContain("added bob@xn--bcher-kva.example, foo@bar.com");
    expect(entry!.reason).toMatch(/not added: "d@" \(.*d@.*has no domain\)/);
    // Neither newcomer gets a copy of the message they were sent directly.
    const copies = (await allDeliveries(t)).filter((d) => d.postId === verdict.postId);
    expect(copies.map((d) => d.toAddress)).toEqual(["alice@elsewhere.test"]);
  });
});

describe("checkRecipient", () => {
  const session = { mailFrom: "someone@elsewhere.test", sessionId: "s-1", remoteAddress: "192.0.2.9" };

  it("accepts an address that routes somewhere, and logs nothing", async () => {
    await pipeline.checkRecipient(bobReply, session);
    await pipeline.checkRecipient(t.config.fromAddress, session);
    await pipeline.checkRecipient(`postmaster@${DOMAIN}`, session);
    expect(await mailLog()).toEqual([]);
  });

  it("refuses an unknown address with 550 5.1.1, and logs the refusal in the mail log", async () => {
    const reply = await replyOf(pipeline.checkRecipient(`nobody@${DOMAIN}`, session));
    expect(reply).toMatchObject({ code: 550, responseCode: 550, enhancedStatus: "5.1.1", reason: "unknown_recipient" });
    expect(reply.sentence).toBe(`There is no mailbox nobody@${DOMAIN} here.`);

    const [entry, ...rest] = await mailLog();
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({
      outcome: "rejected",
      smtpCode: 550,
      reason: `unknown_recipient: There is no mailbox nobody@${DOMAIN} here.`,
      rcptTo: [`nobody@${DOMAIN}`],
      mailFrom: "someone@elsewhere.test",
      sessionId: "s-1",
      remoteAddress: "192.0.2.9",
      receivedAt: clock,
      size: 0,
      dedupeKey: null,
    });
  });

  it("refuses another domain (never a relay) with 550 5.7.1, logged too", async () => {
    const reply = await replyOf(pipeline.checkRecipient("someone@elsewhere.test", session));
    expect(reply).toMatchObject({ code: 550, enhancedStatus: "5.7.1", reason: "relaying_denied" });
    expect((await mailLog()).map((e) => e.reason)).toEqual([expect.stringMatching(/^relaying_denied: /)]);
  });

  it("refuses a dead token, the reply address of a participant who left, with a sentence", async () => {
    await seedLeave(t, w.conversation, w.bob);
    const reply = await replyOf(pipeline.checkRecipient(bobReply, session));
    expect(reply).toMatchObject({ code: 550, enhancedStatus: "5.1.1", reason: "participant_gone" });
    expect(reply.sentence).toContain("you left it");
  });
});
