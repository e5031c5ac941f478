// Unread digests (SPEC §6) in the domain: one digest per user and window whichever store makes it,
// nothing unread nothing made, the visibility rules of fan-out, muted and per-conversation modes,
// and posts the daily limit held back.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/db/store.js";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { countUnread, findParticipant } from "../../src/domain/conversations.repo.js";
import type { DomainContext } from "../../src/domain/context.js";
import { claimDue, markSkipped } from "../../src/domain/deliveries.repo.js";
import { setConversationDelivery } from "../../src/domain/delivery-modes.service.js";
import { digestPosts } from "../../src/domain/digests.repo.js";
import { digestCandidates, HELD_BACK_REASON, makeDigest } from "../../src/domain/digests.service.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import type { Conversation, ConversationDelivery, Delivery, Digest, User } from "../../src/domain/records.js";
import { setUserSettings } from "../../src/domain/users.service.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { allDeliveries, seedConversation, seedGroup, seedPost, seedUser, T0 } from "../helpers/seed.js";

const INTERVAL = 5 * 60_000;
let t: TestStore;

beforeEach(async () => {
  t = await createTestStore();
});
afterEach(() => t.dispose());

const asDigestReader = (user: User) => t.write(({ tx }) => setUserSettings(tx, user.email, { delivery: "digest" }));
const digestFor = (user: User, now: number, store?: Store) =>
  store
    ? store.transaction((tx) => makeDigest({ tx, config: t.config, now }, user.id))
    : t.write((ctx) => makeDigest(ctx, user.id), now);
const postIdsOf = (digest: Digest) => t.read(({ tx }) => digestPosts(tx, digest.id)).then((posts) => posts.map((p) => p.id));
const copiesTo = async (user: User, kind: Delivery["kind"]) => (await allDeliveries(t)).filter((d) => d.recipientId === user.id && d.kind === kind);

async function setMode(conversation: Conversation, user: User, mode: ConversationDelivery): Promise<void> {
  await t.write(async (ctx) => {
    const participant = await findParticipant(ctx.tx, conversation.id, user.id);
    await setConversationDelivery(ctx, conversation, participant!, user, mode);
  }, T0);
}

describe("a digest per user and window", () => {
  it("is made once per window, whichever store asks, and marks its posts read", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test", "Alice");
    const bob = await seedUser(t, "bob@elsewhere.test", "Bob");
    await asDigestReader(bob);
    const { conversation, post } = await seedConversation(t, alice, [bob], { subject: "Plans" });
    // A digest reader gets no copy of the post itself.
    expect(await copiesTo(bob, "post")).toEqual([]);
    expect(await t.read(({ tx }) => digestCandidates({ tx }))).toEqual([bob.id]);

    const digest = await digestFor(bob, T0 + 1000);
    expect(digest).toMatchObject({ userId: bob.id, windowStart: Math.floor((T0 + 1000) / INTERVAL) * INTERVAL });
    expect(await postIdsOf(digest!)).toEqual([post.id]);
    expect(await copiesTo(bob, "digest")).toMatchObject([{ digestId: digest!.id, toAddress: bob.email, status: "queued" }]);
    expect(await t.read(({ tx }) => countUnread(tx, conversation.id, bob.id))).toBe(0);

    // Something new in the same window: another run, here or on another node, makes nothing.
    await seedPost(t, conversation, alice, { body: "More", now: T0 + 2000 });
    const other = await t.openAnother();
    expect(await digestFor(bob, T0 + 3000)).toBeUndefined();
    expect(await digestFor(bob, T0 + 3000, other)).toBeUndefined();
    expect(await copiesTo(bob, "digest")).toHaveLength(1);

    // The next window carries it, once.
    const next = await digestFor(bob, T0 + INTERVAL + 1000, other);
    expect(next).toBeDefined();
    expect(await postIdsOf(next!)).toHaveLength(1);
    expect(await digestFor(bob, T0 + 2 * INTERVAL + 1000)).toBeUndefined();
  });

  it("sends nothing when nothing is unread, and nothing to people who read every message", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test", "Alice");
    const bob = await seedUser(t, "bob@elsewhere.test", "Bob");
    await seedConversation(t, alice, [bob]);
    expect(await digestFor(bob, T0)).toBeUndefined();
    await asDigestReader(alice);
    // Alice wrote the only post: nothing of hers is unread.
    expect(await digestFor(alice, T0)).toBeUndefined();
    expect((await allDeliveries(t)).filter((d) => d.kind === "digest")).toEqual([]);
  });

  it("catches up missed windows in one digest", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test", "Alice");
    const bob = await seedUser(t, "bob@elsewhere.test", "Bob");
    await asDigestReader(bob);
    const { conversation, post } = await seedConversation(t, alice, [bob]);
    const later = await seedPost(t, conversation, alice, { now: T0 + 3 * INTERVAL });
    const digest = await digestFor(bob, T0 + 10 * INTERVAL);
    expect(await postIdsOf(digest!)).toEqual([post.id, later.id]);
    expect(await digestFor(bob, T0 + 11 * INTERVAL)).toBeUndefined();
  });
});

describe("what a digest may carry", () => {
  it("internal notes only for the members of the group", async () => {
    const alice = await seedUser(t, "alice@team.test", "Alice");
    const bob = await seedUser(t, "bob@team.test", "Bob");
    const carol = await seedUser(t, "carol@customer.test", "Carol");
    const group = await seedGroup(t, "Support", "support@example.test", [alice, bob]);
    await asDigestReader(bob);
    await asDigestReader(carol);
    const { conversation, post: first } = await seedConversation(t, carol, [], { group });
    const note = await t.write(async (ctx) => {
      const created = await createPost(ctx, conversation, { author: alice, body: "Internal", rawBody: "Internal", note: true });
      return publishPost(ctx, conversation, created);
    }, T0);
    expect(await digestFor(carol, T0)).toBeUndefined();
    const answer = await seedPost(t, conversation, alice, { body: "Public answer" });

    expect(await postIdsOf((await digestFor(carol, T0))!)).toEqual([answer.id]);
    expect(await postIdsOf((await digestFor(bob, T0))!)).toEqual([first.id, note.id, answer.id]);
  });

  it("under the owners-only policy, an ordinary participant's post only for the owners", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test", "Alice");
    const bob = await seedUser(t, "bob@elsewhere.test", "Bob");
    const carol = await seedUser(t, "carol@elsewhere.test", "Carol");
    await asDigestReader(alice);
    await asDigestReader(carol);
    const { conversation, post: first } = await t.write(
      (ctx: DomainContext) =>
        createConversation(
          { ...ctx, config: { ...ctx.config, consent: { ...ctx.config.consent, kinds: [] } } },
          { from: alice.email, to: [bob.email, carol.email], subject: "Announcement", body: "News.", replies: "owners" },
        ),
      T0,
    );
    const fromBob = await seedPost(t, conversation, bob, { body: "Thanks!" });

    expect(await postIdsOf((await digestFor(carol, T0))!)).toEqual([first.id]);
    expect(await postIdsOf((await digestFor(alice, T0))!)).toEqual([fromBob.id]);
  });

  it("a muted conversation sends nothing, not even a digest; digest+ turns an every reader's conversation into a digest one", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test", "Alice");
    const bob = await seedUser(t, "bob@elsewhere.test", "Bob");
    const carol = await seedUser(t, "carol@elsewhere.test", "Carol");
    await asDigestReader(bob);
    const { conversation } = await seedConversation(t, alice, [bob, carol]);
    await t.write((ctx) => makeDigest(ctx, bob.id), T0 - INTERVAL);
    await setMode(conversation, bob, "mute");
    await setMode(conversation, carol, "digest");
    // Each change is confirmed by a notice to the one who made it.
    expect(await copiesTo(bob, "notice")).toHaveLength(1);

    const post = await seedPost(t, conversation, alice, { body: "Anyone?" });
    expect(await copiesTo(bob, "post")).toEqual([]);
    expect(await copiesTo(carol, "post")).toHaveLength(1);
    expect(await digestFor(bob, T0)).toBeUndefined();
    expect(await t.read(({ tx }) => countUnread(tx, conversation.id, bob.id))).toBe(1);
    expect(await postIdsOf((await digestFor(carol, T0))!)).toEqual([post.id]);
  });
});

describe("copies held back by the daily limit", () => {
  it("reach an every reader in their next digest, once", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test", "Alice");
    const bob = await seedUser(t, "bob@elsewhere.test", "Bob");
    const { conversation } = await seedConversation(t, alice, [bob]);
    const held = await seedPost(t, conversation, alice, { body: "Held back" });
    await t.write(async ({ tx }) => {
      for (const row of await claimDue(tx, { now: T0, owner: "w", leaseMs: 60_000, limit: 10 })) {
        if (row.postId === held.id) await markSkipped(tx, row.id, "w", HELD_BACK_REASON);
      }
    }, T0);
    expect(await t.read(({ tx }) => digestCandidates({ tx }))).toEqual([bob.id]);

    const digest = await digestFor(bob, T0);
    expect(await postIdsOf(digest!)).toEqual([held.id]);
    expect(await digestFor(bob, T0 + INTERVAL)).toBeUndefined();
    expect(await t.read(({ tx }) => digestCandidates({ tx }))).toEqual([]);
  });
});
