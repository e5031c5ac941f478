// handleInbox, called directly: GROUP@ starts an inbox conversation between the sender (staged if
// unknown) and the group, whose members are its owners; a reply with threading headers goes back
// into one of that group's conversations, never another group's.

import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../../src/config/config.js";
import { findConversation, participantsWithUsers } from "../../../src/domain/conversations.repo.js";
import { listPosts } from "../../../src/domain/posts.repo.js";
import type { Group, User } from "../../../src/domain/records.js";
import { findUserByEmail, listUsers, updateUser } from "../../../src/domain/users.repo.js";
import { findOrStageUser } from "../../../src/domain/users.service.js";
import type { AppliedOutcome } from "../../../src/inbound/inbound.js";
import { handleInbox } from "../../../src/inbound/handlers/inbox.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import { buildMime, DOMAIN, prepareInbound, refusalOf, runInbound, seedGroup, seedPost, seedUser, T0 } from "../../helpers/seed.js";

const FIXTURE_DIR = new URL("../../fixtures/eml/", import.meta.url);
const SUPPORT = `support@${DOMAIN}`;
const SALES = `sales@${DOMAIN}`;
const T1 = T0 + 60_000;

let t: TestStore;
let sam: User;
let tia: User;
let support: Group;

beforeEach(async () => {
  t = await createTestStore();
  sam = await seedUser(t, "sam@team.test", "Sam Staff", "staff");
  tia = await seedUser(t, "tia@team.test", "Tia Team");
  support = await seedGroup(t, "support", SUPPORT, [sam, tia]);
});

afterEach(async () => {
  await t.dispose();
});

async function send(group: Group, raw: Buffer, now = T1, store = t): Promise<AppliedOutcome> {
  const inbound = await prepareInbound(store.config, raw, group.inboxAddress, undefined, "dmarc-pass");
  return runInbound(store, inbound, (ctx) => handleInbox(ctx, group), now);
}

function deliveriesOfPost(postId: number) {
  return t.read(({ tx }) => tx.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.postId, postId), orderBy: (d, { asc }) => asc(d.id) }));
}

const fromDana = (extra: Partial<Parameters<typeof buildMime>[0]> = {}) =>
  buildMime({ from: "Dana Customer <dana@customer.test>", to: `Acme Support <${SUPPORT}>`, subject: "Printer on fire", body: "Our printer is on fire.\n\n-- \nDana Customer\nCustomer Inc.", ...extra });

describe("handleInbox: a new message", () => {
  it("starts an inbox conversation: the stranger is staged with their display name, every member is an owner with a queued copy", async () => {
    const outcome = await send(support, fromDana());

    expect(outcome).toMatchObject({ outcome: "accepted", reason: "new inbox conversation for support" });
    const conversation = await t.read(({ tx }) => findConversation(tx, outcome.conversationId!));
    const dana = await t.read(({ tx }) => findUserByEmail(tx, "dana@customer.test"));
    expect(dana).toMatchObject({ status: "staged", name: "Dana Customer", role: "member", createdAt: T1 });
    expect(conversation).toMatchObject({ kind: "inbox", state: "open", groupId: support.id, subject: "Printer on fire", createdById: dana!.id });

    const people = await t.read(({ tx }) => participantsWithUsers(tx, conversation!.id));
    expect(people.map((p) => [p.user.email, p.participant.role, p.participant.state]).sort()).toEqual([
      ["dana@customer.test", "member", "active"],
      ["sam@team.test", "owner", "active"],
      ["tia@team.test", "owner", "active"],
    ]);

    const [post, ...more] = await t.read(({ tx }) => listPosts(tx, conversation!.id));
    expect(more).toEqual([]);
    expect(post).toMatchObject({ id: outcome.postId, authorId: dana!.id, state: "sent" });
    // The signature is trimmed from the first post too; the raw text is kept.
    expect(post!.body).toBe("Our printer is on fire.");
    expect(post!.rawBody).toContain("Customer Inc.");

    const copies = await deliveriesOfPost(post!.id);
    expect(copies.map((d) => [d.toAddress, d.kind, d.status, d.conversationId])).toEqual([
      ["sam@team.test", "post", "queued", conversation!.id],
      ["tia@team.test", "post", "queued", conversation!.id],
    ]);
  });

  it("gives a known staged user without a name the display name of their mail", async () => {
    await t.write((ctx) => findOrStageUser(ctx, { email: "dana@customer.test" }), T0);
    await send(support, fromDana());
    expect(await t.read(({ tx }) => findUserByEmail(tx, "dana@customer.test"))).toMatchObject({ status: "staged", name: "Dana Customer" });
  });

  it("keeps the whole text of a pure forward, which trimming would empty", async () => {
    const raw = readFileSync(new URL("forward_gmail_nothing_typed.eml", FIXTURE_DIR));
    const outcome = await send(support, raw);
    const [post] = await t.read(({ tx }) => listPosts(tx, outcome.conversationId!));
    expect(post!.body).toContain("The electricity meter reading for unit 4 on 28 February was 48213 kWh.");
  });

  it("refuses a message with no subject, no text and no attachment (empty_reply), staging nobody", async () => {
    const refusal = await refusalOf(send(support, buildMime({ from: "dana@customer.test", to: SUPPORT, subject: "", body: "" })));
    expect(refusal.reason).toBe("empty_reply");
    expect((await t.read(({ tx }) => listUsers(tx))).map((u) => u.email)).not.toContain("dana@customer.test");
  });

  it("refuses a stranger when staged users are disabled (staged_users_disabled)", async () => {
    const closed = await createTestStore(buildConfig({ gateway: { domain: DOMAIN, name: "Acme" }, staged_users: { enabled: false } }, "test"));
    try {
      const group = await seedGroup(closed, "support", SUPPORT, [await seedUser(closed, "sam@team.test", "Sam Staff", "staff")]);
      const refusal = await refusalOf(send(group, fromDana(), T1, closed));
      expect(refusal.reason).toBe("staged_users_disabled");
      expect(refusal.sentence).toContain("dana@customer.test has no account here");
    } finally {
      await closed.dispose();
    }
  });

  it("refuses a suspended sender (not_allowed)", async () => {
    const dana = await seedUser(t, "dana@customer.test", "Dana Customer");
    await t.write(({ tx }) => updateUser(tx, dana.id, { status: "suspended" }));
    const refusal = await refusalOf(send(support, fromDana()));
    expect(refusal.reason).toBe("not_allowed");
    expect(refusal.sentence).toBe("The account of dana@customer.test is suspended.");
  });

  it("does not let the people a stranger CC'd join by default, naming them in the reason (staged_users.invite_by_cc)", async () => {
    const outcome = await send(support, fromDana({ cc: "Eve Customer <eve@customer.test>" }));
    expect(outcome.reason).toBe(
      "new inbox conversation for support; not added: eve@customer.test (the author is not a member, and staged users may not invite by CC (staged_users.invite_by_cc))",
    );
    const people = await t.read(({ tx }) => participantsWithUsers(tx, outcome.conversationId!));
    expect(people.map((p) => p.user.email)).not.toContain("eve@customer.test");
    expect((await deliveriesOfPost(outcome.postId!)).map((d) => d.toAddress)).toEqual(["sam@team.test", "tia@team.test"]);
  });

  it("with staged_users.invite_by_cc, lets the people the stranger CC'd join without a copy of the message they already have", async () => {
    const open = await createTestStore(buildConfig({ gateway: { domain: DOMAIN, name: "Acme" }, staged_users: { invite_by_cc: true } }, "test"));
    try {
      const openSupport = await seedGroup(open, "support", SUPPORT, [await seedUser(open, "sam@team.test", "Sam Staff", "staff"), await seedUser(open, "tia@team.test", "Tia Team")]);
      const outcome = await send(openSupport, fromDana({ cc: "Eve Customer <eve@customer.test>" }), T1, open);
      expect(outcome.reason).toBe("new inbox conversation for support; added eve@customer.test");
      const people = await open.read(({ tx }) => participantsWithUsers(tx, outcome.conversationId!));
      expect(people.find((p) => p.user.email === "eve@customer.test")?.participant).toMatchObject({ state: "active", role: "member" });
      const copies = await open.read(({ tx }) => tx.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.postId, outcome.postId!), orderBy: (d, { asc }) => asc(d.id) }));
      expect(copies.map((d) => d.toAddress)).toEqual(["sam@team.test", "tia@team.test"]);
    } finally {
      await open.dispose();
    }
  });
});

describe("handleInbox: a reply with threading headers", () => {
  it("goes into that group's conversation when the sender takes part in it", async () => {
    const first = await send(support, fromDana());
    const conversation = (await t.read(({ tx }) => findConversation(tx, first.conversationId!)))!;
    const answer = await seedPost(t, conversation, sam, { body: "Please unplug it." });

    const outcome = await send(support, fromDana({ subject: "Re: Printer on fire", body: "Done, thanks.", inReplyTo: answer.messageId }), T1 + 1000);
    expect(outcome).toMatchObject({ outcome: "accepted", conversationId: conversation.id, reason: `reply posted to conversation ${conversation.id}` });
    const posts = await t.read(({ tx }) => listPosts(tx, conversation.id));
    expect(posts.map((p) => p.body)).toEqual(["Our printer is on fire.", "Please unplug it.", "Done, thanks."]);
    // Still one conversation in the group: nothing new was started.
    const all = await t.read(({ tx }) => tx.db.query.conversations.findMany());
    expect(all).toHaveLength(1);
    // Both owners get the customer's reply.
    expect((await deliveriesOfPost(outcome.postId!)).map((d) => d.toAddress)).toEqual(["sam@team.test", "tia@team.test"]);
  });

  it("does not go into another group's conversation: it starts a new one in this group", async () => {
    const sales = await seedGroup(t, "sales", SALES, [tia]);
    const salesFirst = await send(sales, fromDana({ subject: "Quote please", body: "How much for a new printer?" }));

    const salesPost = (await t.read(({ tx }) => listPosts(tx, salesFirst.conversationId!)))[0]!;
    const crossed = await send(support, fromDana({ subject: "Re: Quote please", body: "And who repairs the old one?", inReplyTo: salesPost.messageId }), T1 + 2000);

    expect(crossed.outcome).toBe("accepted");
    expect(crossed.conversationId).not.toBe(salesFirst.conversationId);
    expect(crossed.reason).toBe("new inbox conversation for support");
    const started = await t.read(({ tx }) => findConversation(tx, crossed.conversationId!));
    expect(started).toMatchObject({ kind: "inbox", groupId: support.id });
    // The sales conversation is untouched.
    expect(await t.read(({ tx }) => listPosts(tx, salesFirst.conversationId!))).toHaveLength(1);
  });

  it("from a stranger who does not take part, starts a new conversation rather than joining", async () => {
    const first = await send(support, fromDana());
    const [post] = await t.read(({ tx }) => listPosts(tx, first.conversationId!));
    const outcome = await send(
      support,
      buildMime({ from: "Olga Other <olga@elsewhere.test>", to: SUPPORT, subject: "Re: Printer on fire", body: "Mine too.", inReplyTo: post!.messageId }),
      T1 + 1000,
    );
    expect(outcome.conversationId).not.toBe(first.conversationId);
    const people = await t.read(({ tx }) => participantsWithUsers(tx, first.conversationId!));
    expect(people.map((p) => p.user.email)).not.toContain("olga@elsewhere.test");
  });

  it("from a group member answering the inbox with threading headers, posts into the conversation", async () => {
    const first = await send(support, fromDana());
    const [post] = await t.read(({ tx }) => listPosts(tx, first.conversationId!));
    const outcome = await send(
      support,
      buildMime({ from: "Tia Team <tia@team.test>", to: SUPPORT, subject: "Re: Printer on fire", body: "On my way.", inReplyTo: post!.messageId }),
      T1 + 1000,
    );
    expect(outcome).toMatchObject({ conversationId: first.conversationId });
    // Dana and Sam get Tia's answer.
    expect((await deliveriesOfPost(outcome.postId!)).map((d) => d.toAddress).sort()).toEqual(["dana@customer.test", "sam@team.test"]);
  });
});
