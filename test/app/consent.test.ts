// Consent for direct conversations (SPEC §5), end to end over real SMTP: mail to a member's alias
// starts a pending conversation; the member answers by replying, by accept+ or decline+; posts
// written meanwhile are held; an unanswered invitation expires through the gateway's scheduler.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findConversation, participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import type { Conversation } from "../../src/domain/records.js";
import { addUser } from "../../src/domain/users.service.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";
import { smtpError, startTestGateway, tokenOf, type TestGateway } from "../helpers/gateway.js";

const DAY = 86_400_000;
const ALIAS = "alice@example.test";
const PRIVATE = "alice@home.test";

let t: TestGateway;
/** How far the gateway's clock runs ahead of the wall clock. */
let offset = 0;

beforeEach(async () => {
  offset = 0;
  // Threading headers alone may answer a conversation here, so the decline test can show that they no longer do.
  t = await startTestGateway({ auth: { thread_without_token: "participant" } }, { now: () => Date.now() + offset });
  await t.write((ctx) => addUser(ctx, { email: PRIVATE, name: "Alice", username: "alice" }));
});
afterEach(() => t.dispose());

const text = (message: SinkMessage | undefined) => message?.parsed.text ?? "";
const to = (address: string) => t.sink.messages.filter((m) => m.envelope.rcptTo.includes(address));
/** Lets the delivery worker run: nothing more may arrive in that time. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 800));

/** Bob, a stranger, writes to Alice's alias; resolves with Alice's invitation and the conversation. */
async function bobWritesToAlice(): Promise<{ invitation: SinkMessage; conversation: Conversation; response: string; messageId: string }> {
  const { response, messageId } = await t.send({ from: '"Bob" <bob@else.test>', to: ALIAS, subject: "Coffee?", text: "Free on Friday?" });
  const [invitation] = await t.sink.waitFor(1);
  const [conversation] = await t.read(({ tx }) => tx.db.query.conversations.findMany());
  return { invitation: invitation!, conversation: conversation!, response, messageId };
}

async function stateOf(conversation: Conversation): Promise<{ conversation: string; alice: string }> {
  return t.read(async ({ tx }) => {
    const current = await findConversation(tx, conversation.id);
    const alice = (await participantsWithUsers(tx, conversation.id)).find((row) => row.user.email === PRIVATE);
    return { conversation: current!.state, alice: alice!.participant.state };
  });
}

async function bobsReplyAddress(conversation: Conversation): Promise<string> {
  const rows = await t.read(({ tx }) => participantsWithUsers(tx, conversation.id));
  const bob = rows.find((row) => row.user.email === "bob@else.test");
  return `reply+${bob!.participant.replyToken}@example.test`;
}

describe("mail to a member's alias starts a pending direct conversation", () => {
  it("sends the member one invitation showing the sender, the subject and the first message, marked auto-generated", async () => {
    const { invitation, conversation, response } = await bobWritesToAlice();
    expect(response).toMatch(/^250 .*waiting for alice@example\.test to accept the invitation/);
    expect(response).not.toContain("home.test");
    expect(await stateOf(conversation)).toEqual({ conversation: "pending", alice: "invited" });

    expect(invitation.envelope.rcptTo).toEqual([PRIVATE]);
    expect(invitation.parsed.from?.value[0]).toEqual({ address: "conversations@example.test", name: "Bob via Acme" });
    expect(invitation.parsed.subject).toBe("Coffee?");
    expect(invitation.parsed.headers.get("auto-submitted")).toBe("auto-generated");
    const replyTo = invitation.parsed.replyTo?.value[0]?.address;
    const token = tokenOf(replyTo, "reply");
    expect(text(invitation)).toContain("Bob would like to start a conversation with you");
    expect(text(invitation)).toContain("Free on Friday?");
    expect(text(invitation)).toContain(`accept+${token}@example.test`);
    expect(text(invitation)).toContain(`decline+${token}@example.test`);

    // Nothing else: no copy of the first message, nothing to Bob.
    await settle();
    expect(t.sink.messages).toHaveLength(1);
  });

  it("a reply to the invitation accepts it, and the reply reaches the initiator as the member's first post", async () => {
    const { invitation, conversation } = await bobWritesToAlice();
    const replyTo = invitation.parsed.replyTo!.value[0]!.address!;
    const { response } = await t.send({ from: PRIVATE, to: replyTo, subject: "Re: Coffee?", text: "Friday works.\n\n> Free on Friday?" });
    expect(response).toMatch(/invitation accepted; reply posted/);
    expect(await stateOf(conversation)).toEqual({ conversation: "open", alice: "active" });

    await t.sink.waitFor(2);
    const [toBob] = to("bob@else.test");
    expect(text(toBob).trim()).toMatch(/^Friday works\./);
    expect(toBob!.raw.toString()).not.toContain(PRIVATE);
    // The reply told Bob: no separate "accepted" notice.
    await settle();
    expect(to("bob@else.test")).toHaveLength(1);
  });

  it("accept+ accepts without a post: the posts held meanwhile arrive in order, and the initiator is told", async () => {
    const { invitation, conversation } = await bobWritesToAlice();
    const bobAddress = await bobsReplyAddress(conversation);
    const first = await t.send({ from: "bob@else.test", to: bobAddress, subject: "Re: Coffee?", text: "Or Saturday?" });
    expect(first.response).toMatch(/held until alice@example\.test accepts the invitation/);
    expect(first.response).not.toContain("home.test");
    await t.send({ from: "bob@else.test", to: bobAddress, subject: "Re: Coffee?", text: "Either is fine." });
    await settle();
    expect(to(PRIVATE)).toHaveLength(1);

    const token = tokenOf(invitation.parsed.replyTo?.value[0]?.address, "reply");
    const { response } = await t.send({ from: PRIVATE, to: `accept+${token}@example.test`, subject: "accept", text: "This text is ignored." });
    expect(response).toMatch(/invitation to conversation \d+ accepted; 2 held posts delivered/);
    expect(await stateOf(conversation)).toEqual({ conversation: "open", alice: "active" });

    await t.sink.waitFor(4);
    // Queued in order; the worker may send two copies at once, so the order shows in what the copies
    // say (the second answers the first, which answers the invitation), as mail clients thread them.
    const copy = (body: string) => to(PRIVATE).find((m) => text(m).startsWith(body));
    const [saturday, either] = [copy("Or Saturday?"), copy("Either is fine.")];
    expect(to(PRIVATE)).toHaveLength(3);
    expect(saturday?.parsed.inReplyTo).toBe(invitation.parsed.messageId);
    expect(either?.parsed.inReplyTo).toBe(saturday?.parsed.messageId);
    expect(either!.parsed.date!.getTime()).toBeGreaterThanOrEqual(saturday!.parsed.date!.getTime());
    const [accepted] = to("bob@else.test");
    expect(accepted!.parsed.headers.get("auto-submitted")).toBe("auto-generated");
    expect(text(accepted)).toContain("Alice accepted your invitation");
    // The accept+ message itself posted nothing.
    const posts = await t.read(({ tx }) => tx.db.query.posts.findMany({ where: (p, { eq }) => eq(p.conversationId, conversation.id) }));
    expect(posts.map((p) => p.body.trim())).toEqual(["Free on Friday?", "Or Saturday?", "Either is fine."]);
  });

  it("decline+ tells the initiator once; their later mail to the conversation is refused and what they wrote is never delivered", async () => {
    const { invitation, conversation, messageId } = await bobWritesToAlice();
    const bobAddress = await bobsReplyAddress(conversation);
    await t.send({ from: "bob@else.test", to: bobAddress, subject: "Re: Coffee?", text: "Held and never delivered." });
    const token = tokenOf(invitation.parsed.replyTo?.value[0]?.address, "reply");
    await t.send({ from: PRIVATE, to: `decline+${token}@example.test`, subject: "no", text: "No thanks." });
    expect(await stateOf(conversation)).toEqual({ conversation: "declined", alice: "invited" });

    await t.sink.waitFor(2);
    const [declined] = to("bob@else.test");
    expect(declined!.parsed.from?.value[0]?.address).toBe("noreply@example.test");
    expect(text(declined)).toContain("Alice declined your invitation");
    expect(text(declined)).not.toContain(PRIVATE);

    const viaToken = await smtpError(t.send({ from: "bob@else.test", to: bobAddress, subject: "Re: Coffee?", text: "Why?" }));
    expect(viaToken?.responseCode).toBe(550);
    expect(viaToken?.response).toContain('The invitation to the conversation "Coffee?" was declined');
    // Answering his own first message through the alias, by threading headers: the same refusal, not a new invitation.
    const viaHeaders = await smtpError(t.send({ from: "bob@else.test", to: ALIAS, subject: "Re: Coffee?", text: "Please?", inReplyTo: messageId, references: [messageId] }));
    expect(viaHeaders?.responseCode).toBe(550);
    expect(viaHeaders?.response).toContain("was declined");
    expect(viaHeaders?.response).not.toContain("home.test");
    const againDecline = await smtpError(t.send({ from: PRIVATE, to: `decline+${token}@example.test`, subject: "no", text: "No." }));
    expect(againDecline?.responseCode).toBe(550);

    await settle();
    expect(to(PRIVATE)).toHaveLength(1);
    expect(to("bob@else.test")).toHaveLength(1);
    expect(await t.read(({ tx }) => tx.db.query.conversations.findMany())).toHaveLength(1);
  });

  it("refuses an answer from another address than the invitee's, on every invitation address", async () => {
    const { invitation, conversation } = await bobWritesToAlice();
    const token = tokenOf(invitation.parsed.replyTo?.value[0]?.address, "reply");
    for (const kind of ["accept", "decline", "reply"]) {
      const error = await smtpError(t.send({ from: "mallory@else.test", to: `${kind}+${token}@example.test`, subject: "Re: Coffee?", text: "Yes!" }));
      expect(error?.responseCode, kind).toBe(550);
      expect(error?.response, kind).toMatch(/5\.7\.1 .*cannot be posted through it/);
    }
    // Bob cannot accept on Alice's behalf either.
    expect((await smtpError(t.send({ from: "bob@else.test", to: `accept+${token}@example.test`, subject: "x", text: "x" })))?.responseCode).toBe(550);
    expect(await stateOf(conversation)).toEqual({ conversation: "pending", alice: "invited" });
  });

  it("an automatic reply (out of office) to the invitation neither accepts nor declines it", async () => {
    const { invitation, conversation } = await bobWritesToAlice();
    const replyTo = invitation.parsed.replyTo!.value[0]!.address!;
    const token = tokenOf(replyTo, "reply");
    for (const address of [replyTo, `accept+${token}@example.test`, `decline+${token}@example.test`]) {
      const { response } = await t.send({
        from: PRIVATE,
        to: address,
        subject: "Automatic reply: Coffee?",
        text: "I am out of the office until Monday.",
        headers: { "Auto-Submitted": "auto-replied" },
      });
      expect(response).toMatch(/^250 /);
    }
    expect(await stateOf(conversation)).toEqual({ conversation: "pending", alice: "invited" });
    const log = await t.read(({ tx }) => listMailLog(tx));
    expect(log.filter((entry) => entry.outcome === "ignored")).toHaveLength(3);
    await settle();
    expect(to("bob@else.test")).toEqual([]);
  });

  it("an invitation left unanswered expires through the scheduler: closed, and the initiator told once", async () => {
    const { invitation, conversation } = await bobWritesToAlice();
    await t.gateway.scheduler.runNow();
    expect(await stateOf(conversation)).toEqual({ conversation: "pending", alice: "invited" });

    offset = t.config.consent.expire_after + DAY;
    await t.gateway.scheduler.runNow();
    await t.gateway.scheduler.runNow();
    expect(await stateOf(conversation)).toEqual({ conversation: "closed", alice: "invited" });
    await t.sink.waitFor(2);
    await settle();
    const told = to("bob@else.test");
    expect(told).toHaveLength(1);
    expect(text(told[0])).toContain("did not answer your invitation");

    const token = tokenOf(invitation.parsed.replyTo?.value[0]?.address, "reply");
    const late = await smtpError(t.send({ from: PRIVATE, to: `accept+${token}@example.test`, subject: "yes", text: "Sorry, yes!" }));
    expect(late?.responseCode).toBe(550);
    expect(late?.response).toMatch(/expired/);
  });
});

describe("CC while an invitation waits", () => {
  it("brings nobody in: people CC'd on the first message or on a held post neither join nor receive anything", async () => {
    const { response } = await t.send({
      from: '"Bob" <bob@else.test>',
      to: ALIAS,
      cc: "carol@else.test",
      subject: "Coffee?",
      text: "Free on Friday?",
    });
    expect(response).toMatch(/^250 .*not added: carol@else\.test \(the conversation waits for its invitation to be answered\)/);
    await t.sink.waitFor(1);
    const [conversation] = await t.read(({ tx }) => tx.db.query.conversations.findMany());
    const held = await t.send({ from: "bob@else.test", to: await bobsReplyAddress(conversation!), cc: "dave@else.test", subject: "Re: Coffee?", text: "Or Saturday?" });
    expect(held.response).toMatch(/not added: dave@else\.test/);
    const people = (await t.read(({ tx }) => participantsWithUsers(tx, conversation!.id))).map((row) => row.user.email).sort();
    expect(people).toEqual(["alice@home.test", "bob@else.test"]);
    await settle();
    expect(to("carol@else.test")).toEqual([]);
    expect(to("dave@else.test")).toEqual([]);
  });
});
