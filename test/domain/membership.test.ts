import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { deliveries, notices } from "../../schema/schema.js";
import { buildConfig, type Config } from "../../src/config/config.js";
import { inboxStarters, mayStartThroughInbox } from "../../src/domain/abilities.js";
import { admit } from "../../src/domain/admission.service.js";
import { addToConversation, assignConversation, createConversation, leaveFromCli, removeFromConversation } from "../../src/domain/conversations.commands.js";
import { addGroupMember } from "../../src/domain/groups.service.js";
import { findConversation, findParticipant, participantsWithUsers, setConversationState } from "../../src/domain/conversations.repo.js";
import { leave } from "../../src/domain/membership.service.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import type { Conversation, Notice, User } from "../../src/domain/records.js";
import { findUserByEmail, findUserById, updateUser } from "../../src/domain/users.repo.js";
import { activateUser, findOrStageUser } from "../../src/domain/users.service.js";
import { Refusal } from "../../src/errors/refusal.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedConversation, seedGroup, seedPost, seedUser, T0 } from "../helpers/seed.js";

const DAY = 86_400_000;

/** Consent is off: these tests are about joining an open conversation, not about invitations. */
function configWith(overrides: Record<string, Record<string, unknown>> = {}): Config {
  return buildConfig({ gateway: { domain: "example.test", name: "Acme" }, consent: { kinds: [] }, ...overrides }, "test");
}

const stores: TestStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((t) => t.dispose()));
});

interface World {
  readonly t: TestStore;
  /** Alice started it with Bob and Carol; Bob answered: two posts. */
  readonly conversation: Conversation;
  readonly alice: User;
  readonly bob: User;
  readonly carol: User;
  /** A member who does not take part. */
  readonly dave: User;
  /** Staff, not taking part. */
  readonly sam: User;
}

async function world(config = configWith()): Promise<World> {
  const t = await createTestStore(config);
  stores.push(t);
  const alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  const bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  const carol = await seedUser(t, "carol@elsewhere.test", "Carol Client");
  const dave = await seedUser(t, "dave@elsewhere.test", "Dave Later");
  const sam = await seedUser(t, "sam@elsewhere.test", "Sam Staff", "staff");
  const { conversation } = await seedConversation(t, alice, [bob, carol], { body: "First." });
  await seedPost(t, conversation, bob, { body: "Second." });
  return { t, conversation, alice, bob, carol, dave, sam };
}

/** Every notice of the conversation, with who each was queued for. */
async function noticesOf(t: TestStore, conversationId: number): Promise<(Notice & { to: string[] })[]> {
  return t.read(async ({ tx }) => {
    const rows = await tx.db.select().from(notices).where(eq(notices.conversationId, conversationId));
    const result = [];
    for (const row of rows) {
      const queued = await tx.db.select().from(deliveries).where(eq(deliveries.noticeId, row.id));
      result.push({ ...row, to: queued.map((d) => d.toAddress).sort() });
    }
    return result;
  });
}

const add = (w: World, email: string, by: User, history?: "all" | "none" | number, now = T0 + 1000) =>
  w.t.write((ctx) => addToConversation(ctx, w.conversation.id, email, by.email, history), now);

describe("someone added later", () => {
  it("gets one catch-up up to the last post, and the others but the adder get one joined notice", async () => {
    const w = await world();
    await add(w, w.dave.email, w.alice);
    const posts = await w.t.read(({ tx }) => listPosts(tx, w.conversation.id));
    const found = await noticesOf(w.t, w.conversation.id);
    expect(found.map(({ kind, userId, byId, postId, history, to }) => ({ kind, userId, byId, postId, history, to }))).toEqual([
      { kind: "catch_up", userId: w.dave.id, byId: w.alice.id, postId: posts[1]!.id, history: null, to: ["dave@elsewhere.test"] },
      { kind: "joined", userId: w.dave.id, byId: w.alice.id, postId: null, history: null, to: ["bob@elsewhere.test", "carol@elsewhere.test"] },
    ]);
    // The posts before joining count as read: they come in the catch-up, not as copies.
    const dave = await w.t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.dave.id));
    expect(dave?.lastReadPostId).toBe(posts[1]!.id);
  });

  it.each([
    ["none", undefined, []],
    [1, undefined, [1]],
    [undefined, 3, [3]],
    [undefined, "all", [null]],
    [undefined, "none", []],
    ["all", 1, [null]],
  ] as const)("--history %s with conversations.history %s: catch-up histories %j", async (history, configured, expected) => {
    const w = await world(configWith(configured === undefined ? {} : { conversations: { history: configured } }));
    await add(w, w.dave.email, w.alice, history);
    const found = await noticesOf(w.t, w.conversation.id);
    expect(found.filter((n) => n.kind === "catch_up").map((n) => n.history)).toEqual(expected);
    // Whatever the history, the others are told who joined.
    expect(found.filter((n) => n.kind === "joined")).toHaveLength(1);
  });

  it("staff adding someone to a conversation they are not in are not told, and the others are", async () => {
    const w = await world();
    await add(w, w.dave.email, w.sam);
    const joined = (await noticesOf(w.t, w.conversation.id)).find((n) => n.kind === "joined");
    expect(joined?.to).toEqual(["alice@elsewhere.test", "bob@elsewhere.test", "carol@elsewhere.test"]);
  });

  it("in an announcement-style conversation (replies: owners), only the owners hear who joined", async () => {
    const t = await createTestStore(configWith());
    stores.push(t);
    const alice = await seedUser(t, "alice@elsewhere.test");
    const bob = await seedUser(t, "bob@elsewhere.test");
    const carol = await seedUser(t, "carol@elsewhere.test");
    const dave = await seedUser(t, "dave@elsewhere.test");
    const sam = await seedUser(t, "sam@elsewhere.test", null, "staff");
    const { conversation } = await t.write((ctx) =>
      createConversation(ctx, { from: alice.email, to: [bob.email, carol.email], subject: "News", body: "Hello all.", replies: "owners" }),
    );
    await t.write((ctx) => addToConversation(ctx, conversation.id, dave.email, sam.email));
    const joined = (await noticesOf(t, conversation.id)).find((n) => n.kind === "joined");
    expect(joined?.to).toEqual(["alice@elsewhere.test"]);
  });

  it("nobody is told about anyone added to a draft: it reached nobody yet", async () => {
    const w = await world();
    await w.t.write(({ tx }) => setConversationState(tx, w.conversation.id, "draft", T0));
    await add(w, w.dave.email, w.alice);
    expect(await noticesOf(w.t, w.conversation.id)).toEqual([]);
  });

  it("refuses adding to a closed or declined conversation, saying so", async () => {
    const w = await world();
    await w.t.write(({ tx }) => setConversationState(tx, w.conversation.id, "closed", T0));
    await expect(add(w, w.dave.email, w.alice)).rejects.toMatchObject({
      reason: "conversation_closed",
      sentence: `Conversation ${w.conversation.id} is closed, so nobody can be added to it.`,
    });
    expect(await w.t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.dave.id))).toBeUndefined();
  });

  it("someone who left and is added again comes back with fresh tokens and a catch-up", async () => {
    const w = await world();
    const before = await w.t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.carol.id));
    await w.t.write((ctx) => leaveFromCli(ctx, w.conversation.id, w.carol.email), T0 + 10);
    await add(w, w.carol.email, w.alice, undefined, T0 + 20);
    const after = await w.t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.carol.id));
    expect(after).toMatchObject({ id: before!.id, state: "active", joinedAt: T0 + 20 });
    expect(after!.replyToken).not.toBe(before!.replyToken);
    expect(after!.leaveToken).not.toBe(before!.leaveToken);
    const found = await noticesOf(w.t, w.conversation.id);
    expect(found.map((n) => `${n.kind} ${n.to.join(",")}`)).toEqual(["catch_up carol@elsewhere.test", "joined bob@elsewhere.test"]);
  });

  it("a colleague who joined the group later and is assigned the conversation gets a catch-up; the others are told", async () => {
    const t = await createTestStore(configWith());
    stores.push(t);
    const sam = await seedUser(t, "sam@team.test", "Sam");
    const mia = await seedUser(t, "mia@team.test", "Mia");
    const support = await seedGroup(t, "support", "support@example.test", [sam]);
    const carla = await t.write((ctx) => findOrStageUser(ctx, { email: "carla@customer.test" }));
    const { conversation } = await seedConversation(t, carla, [], { group: support, body: "Help." });
    await t.write((ctx) => addGroupMember(ctx, "support", mia.email));
    await t.write((ctx) => assignConversation(ctx, conversation.id, mia.email));
    const found = await noticesOf(t, conversation.id);
    expect(found.map(({ kind, byId, to }) => ({ kind, byId, to }))).toEqual([
      { kind: "catch_up", byId: null, to: ["mia@team.test"] },
      { kind: "joined", byId: null, to: ["carla@customer.test", "sam@team.test"] },
    ]);
    // Assigning someone already taking part tells nobody anything.
    await t.write((ctx) => assignConversation(ctx, conversation.id, sam.email));
    expect(await noticesOf(t, conversation.id)).toHaveLength(2);
  });

  it("adding counts as the adder's activity", async () => {
    const w = await world();
    await add(w, w.dave.email, w.bob, undefined, T0 + 5 * DAY);
    expect((await w.t.read(({ tx }) => findUserById(tx, w.bob.id)))?.lastActiveAt).toBe(T0 + 5 * DAY);
  });
});

describe("removing and leaving", () => {
  it("the person removed gets one removed notice, nobody else hears of it", async () => {
    const w = await world();
    const removed = await w.t.write((ctx) => removeFromConversation(ctx, w.conversation.id, w.carol.email, w.alice.email));
    expect(removed.state).toBe("removed");
    const found = await noticesOf(w.t, w.conversation.id);
    expect(found.map(({ kind, userId, byId, to }) => ({ kind, userId, byId, to }))).toEqual([
      { kind: "removed", userId: w.carol.id, byId: w.alice.id, to: ["carol@elsewhere.test"] },
    ]);
  });

  it("leaving from the CLI (or removing oneself) sends no mail; leaving by mail confirms it in one notice", async () => {
    const w = await world();
    expect(await w.t.write((ctx) => leaveFromCli(ctx, w.conversation.id, w.carol.email))).toMatchObject({ state: "left" });
    expect(await w.t.write((ctx) => removeFromConversation(ctx, w.conversation.id, w.bob.email, w.bob.email))).toMatchObject({ state: "left" });
    expect(await noticesOf(w.t, w.conversation.id)).toEqual([]);

    await w.t.write((ctx) => leave(ctx, w.conversation, w.alice, { confirm: true }));
    const found = await noticesOf(w.t, w.conversation.id);
    expect(found.map(({ kind, userId, byId, to }) => ({ kind, userId, byId, to }))).toEqual([
      { kind: "left", userId: w.alice.id, byId: null, to: ["alice@elsewhere.test"] },
    ]);
  });

  it("leaving twice, or after being removed, is refused with a sentence saying which", async () => {
    const w = await world();
    await w.t.write((ctx) => leaveFromCli(ctx, w.conversation.id, w.carol.email));
    await w.t.write((ctx) => removeFromConversation(ctx, w.conversation.id, w.bob.email, w.alice.email));
    const refusal = (email: string) => w.t.write((ctx) => leaveFromCli(ctx, w.conversation.id, email)).then(() => undefined, (error: Refusal) => error);
    expect(await refusal(w.carol.email)).toMatchObject({
      reason: "not_found",
      sentence: `You are not taking part in conversation ${w.conversation.id} ("Hello") any more: you left it already.`,
    });
    expect((await refusal(w.bob.email))?.sentence).toMatch(/any more: you were removed from it\.$/);
    expect((await refusal(w.dave.email))?.sentence).toBe(`dave@elsewhere.test is not taking part in conversation ${w.conversation.id} ("Hello").`);
    // Removing someone who already left says so too.
    await expect(w.t.write((ctx) => removeFromConversation(ctx, w.conversation.id, w.carol.email, w.sam.email))).rejects.toMatchObject({
      sentence: expect.stringMatching(/^carol@elsewhere\.test is not taking part .* any more: they left it already\.$/),
    });
  });

  it("an owner withdraws an invitation not yet answered without telling the invitee; the invitee cannot leave it, only decline", async () => {
    const t = await createTestStore(configWith({ consent: { kinds: ["direct"] } }));
    stores.push(t);
    const alice = await seedUser(t, "alice@elsewhere.test");
    const bob = await seedUser(t, "bob@elsewhere.test");
    const carol = await seedUser(t, "carol@elsewhere.test");
    const { conversation } = await t.write((ctx) => createConversation(ctx, { from: alice.email, to: [bob.email], subject: "Hi", body: "Hello." }));
    const bobBefore = await t.read(({ tx }) => findParticipant(tx, conversation.id, bob.id));
    expect(bobBefore?.state).toBe("invited");
    await expect(t.write((ctx) => leaveFromCli(ctx, conversation.id, bob.email))).rejects.toMatchObject({
      sentence: expect.stringMatching(/You have not accepted the invitation .* yet; to say no, decline it instead\./),
    });
    const before = (await noticesOf(t, conversation.id)).length;
    await expect(t.write((ctx) => removeFromConversation(ctx, conversation.id, bob.email, carol.email))).rejects.toMatchObject({ reason: "not_allowed" });
    expect(await t.write((ctx) => removeFromConversation(ctx, conversation.id, bob.email, alice.email))).toMatchObject({ state: "removed" });
    expect(await noticesOf(t, conversation.id)).toHaveLength(before);
    // Nobody is left to accept: the conversation closes instead of waiting forever.
    expect(await t.read(({ tx }) => findConversation(tx, conversation.id))).toMatchObject({ state: "closed" });
  });
});

describe("caps on conversations create", () => {
  it("refuses more --to recipients than conversations.max_recipients, naming the key", async () => {
    const t = await createTestStore(configWith({ conversations: { max_recipients: 2 } }));
    stores.push(t);
    const sam = await seedUser(t, "sam@elsewhere.test", null, "staff");
    await expect(
      t.write((ctx) => createConversation(ctx, { from: sam.email, to: ["a@x.test", "b@x.test", "c@x.test"], subject: "S", body: "B" })),
    ).rejects.toMatchObject({ reason: "invalid_input", sentence: "3 recipients were given, but a conversation may start with at most 2 (conversations.max_recipients)." });
    // Duplicates and the author do not count.
    await t.write((ctx) => createConversation(ctx, { from: sam.email, to: ["a@x.test", "A@x.test", "sam@elsewhere.test", "b@x.test"], subject: "S", body: "B" }));
  });

  it("refuses creating more staged users than staged_users.max_per_message; known users do not count", async () => {
    const t = await createTestStore(configWith({ staged_users: { max_per_message: 1 } }));
    stores.push(t);
    const sam = await seedUser(t, "sam@elsewhere.test", null, "staff");
    const known = await seedUser(t, "known@elsewhere.test");
    await expect(
      t.write((ctx) => createConversation(ctx, { from: sam.email, to: ["a@x.test", "b@x.test"], subject: "S", body: "B" })),
    ).rejects.toMatchObject({
      sentence: "2 of the recipients have no account and would become staged users, but one command may create at most 1 (staged_users.max_per_message).",
    });
    expect(await t.read(({ tx }) => findUserByEmail(tx, "a@x.test"))).toBeUndefined();
    await t.write((ctx) => createConversation(ctx, { from: sam.email, to: ["a@x.test", known.email], subject: "S", body: "B" }));
  });
});

describe("reachability: reachability.inactive_days", () => {
  const INACTIVE = configWith({ reachability: { inactive_days: 15 } });

  async function quietWorld(lastActive: number | null, config = INACTIVE) {
    const w = await world(config);
    const dave = await w.t.write(({ tx }) => updateUser(tx, w.dave.id, { lastActiveAt: lastActive }));
    return { ...w, dave };
  }

  it("refuses adding someone inactive for longer, naming them as shown and the rule", async () => {
    const w = await quietWorld(T0 - 16 * DAY);
    const admission = await w.t.write((ctx) => admit(ctx, { conversation: w.conversation, candidate: w.dave, by: w.alice, way: "start", shownAs: "dave-alias@example.test" }), T0);
    expect(admission).toMatchObject({
      kind: "refused",
      refusal: { reason: "user_unreachable", sentence: "dave-alias@example.test cannot be brought into new conversations: they have not been active for more than 15 days." },
    });
    if (admission.kind === "refused") expect(admission.refusal.sentence).not.toContain("dave@elsewhere.test");
    await expect(add(w, w.dave.email, w.alice, undefined, T0)).rejects.toMatchObject({ reason: "user_unreachable" });
  });

  it("skips an inactive address CC'd on mail, with the reason for the mail log", async () => {
    const w = await quietWorld(T0 - 16 * DAY);
    const admission = await w.t.write((ctx) => admit(ctx, { conversation: w.conversation, candidate: w.dave, by: w.alice, way: "cc" }), T0);
    expect(admission).toMatchObject({ kind: "skipped", reason: "inactive for more than 15 days (reachability.inactive_days)" });
  });

  it.each([
    ["active 14 days ago", T0 - 14 * DAY, INACTIVE, "admitted"],
    ["active exactly 15 days ago", T0 - 15 * DAY, INACTIVE, "admitted"],
    ["inactive 16 days with the rule off (0)", T0 - 16 * DAY, configWith(), "admitted"],
    ["never active, created 16 days before", null, INACTIVE, "refused"],
  ] as const)("%s", async (_name, lastActive, config, expected) => {
    const w = await quietWorld(lastActive, config);
    // Dave was created at T0: without activity, his creation date counts.
    const now = lastActive === null ? T0 + 16 * DAY + 1 : T0;
    const admission = await w.t.write((ctx) => admit(ctx, { conversation: w.conversation, candidate: w.dave, by: w.alice, way: "add" }), now);
    expect(admission.kind).toBe(expected);
  });

  it("activity (here, starting a conversation) makes them reachable again", async () => {
    const w = await quietWorld(T0 - 16 * DAY);
    await expect(add(w, w.dave.email, w.alice, undefined, T0)).rejects.toMatchObject({ reason: "user_unreachable" });
    await seedConversation(w.t, w.dave, [w.sam], { now: T0 });
    await add(w, w.dave.email, w.alice, undefined, T0 + 1);
    expect((await w.t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.dave.id)))?.state).toBe("active");
  });

  it("does not apply to people already taking part: they stay and receive posts", async () => {
    const w = await quietWorld(null);
    await w.t.write(({ tx }) => updateUser(tx, w.carol.id, { lastActiveAt: T0 - 100 * DAY }));
    const post = await seedPost(w.t, w.conversation, w.alice, { body: "Still there?", now: T0 + DAY });
    const copies = await w.t.read(({ tx }) => tx.db.select().from(deliveries).where(eq(deliveries.postId, post.id)));
    expect(copies.map((d) => d.toAddress).sort()).toEqual(["bob@elsewhere.test", "carol@elsewhere.test"]);
  });
});

describe("abilities.inboxes", () => {
  const user = (status: User["status"], role: User["role"]) => ({ status, role }) as User;
  const config = configWith({ abilities: { inboxes: { sales: ["staff", "admin"], "*": ["staged", "member", "staff", "admin"] } } });

  it.each([
    ["sales", "staged", "member", false],
    ["sales", "active", "member", false],
    ["sales", "active", "staff", true],
    ["support", "staged", "member", true],
    ["support", "suspended", "admin", false],
  ] as const)("%s: a %s %s may start: %s", (group, status, role, expected) => {
    expect(mayStartThroughInbox(config, user(status, role), { name: group })).toBe(expected);
  });

  it("an inbox neither named nor covered by * is open to everyone, as by default", () => {
    const only = configWith({ abilities: { inboxes: { sales: ["admin"] } } });
    expect(inboxStarters(only, { name: "support" })).toBeUndefined();
    expect(mayStartThroughInbox(only, user("staged", "member"), { name: "support" })).toBe(true);
    expect(mayStartThroughInbox(only, user("staged", "member"), { name: "sales" })).toBe(false);
  });
});

describe("staged sign-up", () => {
  it("activation keeps the same user, every conversation and post, and who first brought them in", async () => {
    const w = await world();
    // Sam (staff, write_to_email) writes to a stranger, who answers; later Alice CCs the same address elsewhere.
    const { conversation } = await w.t.write((ctx) =>
      createConversation(ctx, { from: w.sam.email, to: ["Erin@Client.test"], subject: "Quote", body: "Here is our quote." }),
    );
    const erin = (await w.t.read(({ tx }) => findUserByEmail(tx, "erin@client.test")))!;
    await seedPost(w.t, conversation, erin, { body: "Thanks, accepted." });
    await w.t.write((ctx) => admit(ctx, { conversation: w.conversation, candidate: { address: erin.email }, by: w.alice, way: "cc" }));
    const postsBefore = await w.t.read(({ tx }) => listPosts(tx, conversation.id));

    const active = await w.t.write((ctx) => activateUser(ctx, erin.email, "erin"));
    expect(active).toMatchObject({ id: erin.id, status: "active", username: "erin", invitedById: w.sam.id });
    expect(await w.t.read(({ tx }) => listPosts(tx, conversation.id))).toEqual(postsBefore);
    for (const id of [conversation.id, w.conversation.id]) {
      const rows = await w.t.read(({ tx }) => participantsWithUsers(tx, id));
      expect(rows.find((r) => r.user.id === erin.id)?.participant.state).toBe("active");
    }
  });
});
