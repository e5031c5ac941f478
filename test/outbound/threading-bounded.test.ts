import { simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import { findConversation } from "../../src/domain/conversations.repo.js";
import { firstSentPosts, latestSentPosts, listPosts } from "../../src/domain/posts.repo.js";
import type { Conversation, Post, User } from "../../src/domain/records.js";
import { compose, draftDelivery } from "../../src/outbound/render.js";
import { ancestorChain, threadingHeaders } from "../../src/outbound/threading.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { deliveryOf, DOMAIN, seedConversation, seedPost, seedUser, T0 } from "../helpers/seed.js";

/**
 * A copy's threading reads a bounded number of earlier posts however long the conversation
 * (issue 11), and says what it said when it read them all: References (the root and the newest
 * ids), In-Reply-To and Thread-Index.
 */
let t: TestStore;
let config: Config;
let alice: User;
let bob: User;
let conversation: Conversation;
const LIMIT = 6;

beforeEach(async () => {
  t = await createTestStore();
  config = buildConfig({ gateway: { domain: DOMAIN, name: "Postern" }, conversations: { references_limit: LIMIT } });
  alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  ({ conversation } = await seedConversation(t, alice, [bob], { subject: "Long one" }));
  // 79 more, alternating authors: deeper than Thread-Index's levels and far past References' limit.
  await t.write(async (ctx) => {
    const { createPost, publishPost } = await import("../../src/domain/posts.service.js");
    for (let i = 1; i < 80; i++) {
      const author = i % 2 ? bob : alice;
      const post = await createPost({ ...ctx, now: T0 + i * 1000 }, conversation, { author, body: `Post ${i}.`, rawBody: `Post ${i}.` });
      await publishPost({ ...ctx, now: T0 + i * 1000 }, conversation, post);
    }
  }, T0);
});
afterEach(() => t.dispose());

/** The threading headers as computed from every earlier post of the conversation. */
async function unbounded(post: Post, reader: User) {
  const all = await t.read(({ tx }) => listPosts(tx, conversation.id));
  const earlier = all.filter((p) => p.state === "sent" && p.id < post.id);
  const fresh = (await t.read(({ tx }) => findConversation(tx, conversation.id)))!;
  return threadingHeaders({
    ancestors: ancestorChain(post, earlier),
    own: post,
    at: post.createdAt,
    reader: { userId: reader.id, seesSourceOf: () => true },
    conversation: fresh,
    firstMessageId: earlier[0]!.messageId,
    referencesLimit: LIMIT,
  });
}

async function copyHeaders(post: Post, reader: User) {
  const delivery = await t.read((ctx) => deliveryOf(ctx, post.id, reader.id));
  const raw = (await compose(await t.read(({ tx }) => draftDelivery(tx, config, delivery)))).raw;
  const mail = await simpleParser(raw);
  const references = mail.references === undefined ? [] : Array.isArray(mail.references) ? mail.references : [mail.references];
  return { inReplyTo: mail.inReplyTo, references, threadIndex: mail.headers.get("thread-index") };
}

describe("threading a long conversation", () => {
  it("reads both ends of the conversation only", async () => {
    const first = await t.read(({ tx }) => firstSentPosts(tx, conversation.id, 1_000_000, 5));
    const latest = await t.read(({ tx }) => latestSentPosts(tx, conversation.id, 1_000_000, 7));
    const all = (await t.read(({ tx }) => listPosts(tx, conversation.id))).map((p) => p.id);
    expect(first.map((l) => l.id)).toEqual(all.slice(0, 5));
    expect(latest.map((l) => l.id).reverse()).toEqual(all.slice(-7));
  });

  it("gives the newest post the headers a reading of every post gives", async () => {
    const post = await seedPost(t, conversation, alice, { body: "The latest.", now: T0 + 100_000 });
    const expected = await unbounded(post, bob);
    const copy = await copyHeaders(post, bob);
    expect(copy.inReplyTo).toBe(expected.inReplyTo);
    expect(copy.references).toEqual(expected.references);
    expect(copy.threadIndex).toBe(expected.headers["Thread-Index"]);
  });

  it.each([30, 66])("follows a reply to an old post (number %i) up its parents", async (index) => {
    const posts = await t.read(({ tx }) => listPosts(tx, conversation.id));
    const old = posts[index]!;
    const post = await seedPost(t, conversation, alice, { body: "Back to this.", parentId: old.id, now: T0 + 100_000 });
    const expected = await unbounded(post, bob);
    const copy = await copyHeaders(post, bob);
    expect(copy.inReplyTo).toBe(old.messageId);
    expect(copy.inReplyTo).toBe(expected.inReplyTo);
    expect(copy.references).toEqual(expected.references);
    expect(copy.threadIndex).toBe(expected.headers["Thread-Index"]);
  });

  it("gives an older post's copies, rendered late, the headers a reading of every post before it gives", async () => {
    // Some far enough down that the conversation's first posts are all older than the newest
    // ones read, some so close to them that they overlap.
    const posts = await t.read(({ tx }) => listPosts(tx, conversation.id));
    for (const index of [3, 13, 40, 62, 70, 79]) {
      const post = posts[index]!;
      const reader = post.authorId === alice.id ? bob : alice;
      const expected = await unbounded(post, reader);
      const copy = await copyHeaders(post, reader);
      expect(copy.inReplyTo).toBe(expected.inReplyTo);
      expect(copy.references).toEqual(expected.references);
      expect(copy.threadIndex).toBe(expected.headers["Thread-Index"]);
    }
  });
});
