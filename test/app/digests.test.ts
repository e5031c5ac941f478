// Delivery modes and unread digests (SPEC §6), end to end over real SMTP with the gateway's clock
// under the test's control: a digest reader gets one digest per window listing each conversation
// with its own reply address; answering there posts, answering the digest itself is refused;
// every+/digest+/mute+ by email confirm in one line and change what arrives from the next post on.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { findConversation } from "../../src/domain/conversations.repo.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import { addUser, setUserSettings } from "../../src/domain/users.service.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";
import { smtpError, startTestGateway, tokenOf, type TestGateway } from "../helpers/gateway.js";

const ALICE = "alice@elsewhere.test";
const BOB = "bob@elsewhere.test";
const WINDOW = 5 * 60_000;

let t: TestGateway;
let clock: number;

beforeEach(async () => {
  clock = Date.UTC(2025, 0, 15, 9, 0, 0);
  t = await startTestGateway({ consent: { kinds: [] } }, { now: () => clock });
  await t.write(async (ctx) => {
    await addUser(ctx, { email: ALICE, name: "Alice" });
    await addUser(ctx, { email: BOB, name: "Bob" });
  });
});
afterEach(() => t.dispose());

const to = (address: string) => t.sink.messages.filter((m) => m.envelope.rcptTo.includes(address));
const text = (message: SinkMessage | undefined) => message?.parsed.text ?? "";
/** Lets the delivery worker run: nothing more may arrive in that time. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 800));

async function aliceStarts(subject: string, body: string): Promise<number> {
  const { conversation } = await t.write((ctx) => createConversation(ctx, { from: ALICE, to: [BOB], subject, body }));
  return conversation.id;
}

async function alicePosts(conversationId: number, body: string): Promise<void> {
  await t.write(async (ctx) => {
    const conversation = (await findConversation(ctx.tx, conversationId))!;
    const alice = (await ctx.tx.db.query.users.findFirst({ where: (u, { eq }) => eq(u.email, ALICE) }))!;
    const post = await createPost(ctx, conversation, { author: alice, body, rawBody: body });
    await publishPost(ctx, conversation, post);
  });
  t.gateway.worker.wake();
}

describe("unread digests", () => {
  it("a digest reader gets one digest listing each conversation with its reply address; answering there posts, answering the digest is refused", async () => {
    await t.write(({ tx }) => setUserSettings(tx, BOB, { delivery: "digest" }));
    await aliceStarts("Budget", "Numbers for Q3.");
    clock += 1000;
    await aliceStarts("Offsite", "Where shall we go?");
    await settle();
    expect(to(BOB)).toEqual([]);

    await t.gateway.scheduler.runNow();
    const [digest] = await t.sink.waitFor(1);
    expect(digest!.envelope.rcptTo).toEqual([BOB]);
    expect(digest!.parsed.subject).toBe("Unread: 2 conversations (Acme)");
    expect(digest!.parsed.from?.value[0]).toEqual({ address: "conversations@example.test", name: "Acme" });
    expect(digest!.parsed.headers.get("auto-submitted")).toBe("auto-generated");
    expect(digest!.parsed.messageId).toMatch(/^<postern\.digest\.[a-z2-7]+@example\.test>$/);
    const body = text(digest);
    expect(body.indexOf('"Budget"')).toBeLessThan(body.indexOf('"Offsite"'));
    expect(body).toContain("Numbers for Q3.");
    expect(body).toContain("Where shall we go?");
    expect(body).toMatch(/----- Alice, .*GMT -----/);
    expect(body).not.toContain(ALICE);
    const replyAddresses = [...body.matchAll(/reply\+[a-z2-7]+@example\.test/g)].map((m) => m[0]);
    expect(new Set(replyAddresses).size).toBe(2);
    expect(digest!.parsed.html).toContain(`href="mailto:${replyAddresses[0]}"`);

    // Same window again: nothing. Nothing unread in the next window: nothing either.
    await t.gateway.scheduler.runNow();
    clock += WINDOW;
    await t.gateway.scheduler.runNow();
    await settle();
    expect(to(BOB)).toHaveLength(1);

    // Answering a conversation from the digest: its listed address posts there.
    await t.send({ from: BOB, to: replyAddresses[0], subject: "Re: Budget", text: "Looks fine." });
    const [, copy] = await t.sink.waitFor(2);
    expect(copy!.envelope.rcptTo).toEqual([ALICE]);
    expect(text(copy)).toContain("Looks fine.");

    // Answering the digest itself (to conversations@, threaded on it) is refused with where to write.
    const refused = await smtpError(
      t.send({ from: BOB, to: "conversations@example.test", subject: "Re: Unread", text: "Thanks", inReplyTo: digest!.parsed.messageId!, references: digest!.parsed.messageId! }),
    );
    expect(refused?.responseCode).toBe(550);
    expect(refused?.response).toContain("write to the address listed under that conversation in the digest");
  });
});

describe("delivery modes by email", () => {
  it("every copy lists the three addresses; digest+, mute+ and every+ confirm in one line and change what arrives", async () => {
    const id = await aliceStarts("Garden", "The roses are out.");
    const [first] = await t.sink.waitFor(1);
    const token = tokenOf(first!.parsed.replyTo?.value[0]?.address, "reply");
    expect(text(first)).toContain(`every message every+${token}@example.test, in a digest digest+${token}@example.test, or muted mute+${token}@example.test.`);

    // Only Bob's own address may change Bob's mode.
    const mismatch = await smtpError(t.send({ from: "mallory@else.test", to: `mute+${token}@example.test`, subject: "x", text: "x" }));
    expect(mismatch?.responseCode).toBe(550);

    await t.send({ from: BOB, to: `digest+${token}@example.test`, subject: "digest please", text: "" });
    const [, confirmation] = await t.sink.waitFor(2);
    expect(confirmation!.envelope.rcptTo).toEqual([BOB]);
    expect(confirmation!.parsed.from?.value[0]?.address).toBe("noreply@example.test");
    expect(text(confirmation).trim()).toBe('From now on you receive conversation "Garden" as part of your digest of unread messages.');

    clock += 1000;
    await alicePosts(id, "And the tulips.");
    await settle();
    expect(to(BOB)).toHaveLength(2);
    await t.gateway.scheduler.runNow();
    const [, , digest] = await t.sink.waitFor(3);
    expect(digest!.parsed.subject).toBe("Unread: 1 conversation (Acme)");
    expect(text(digest)).toContain("And the tulips.");

    await t.send({ from: BOB, to: `mute+${token}@example.test`, subject: "quiet", text: "" });
    const [, , , muted] = await t.sink.waitFor(4);
    expect(text(muted)).toContain('From now on you receive conversation "Garden" as nothing: it is muted');
    clock += WINDOW;
    await alicePosts(id, "Muted news.");
    await t.gateway.scheduler.runNow();
    await settle();
    expect(to(BOB)).toHaveLength(4);

    await t.send({ from: BOB, to: `every+${token}@example.test`, subject: "all", text: "" });
    const [, , , , every] = await t.sink.waitFor(5);
    expect(text(every).trim()).toBe('From now on you receive conversation "Garden" as one email per message.');
    await alicePosts(id, "Back to normal.");
    const [, , , , , copy] = await t.sink.waitFor(6);
    expect(copy!.envelope.rcptTo).toEqual([BOB]);
    expect(text(copy)).toContain("Back to normal.");
  });
});
