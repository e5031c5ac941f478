import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import type { Tx } from "../../src/db/store.js";
import { createPost, publishPost, type PostInput } from "../../src/domain/posts.service.js";
import { offersPrivateReply } from "../../src/domain/private-replies.service.js";
import type { Conversation, Delivery, Group, Post, User } from "../../src/domain/records.js";
import { setUserName, updateUser } from "../../src/domain/users.repo.js";
import { compose, draftDelivery, PostCopies } from "../../src/outbound/render.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { DOMAIN, seedDeskConversation, seedLeave, seedParticipant, seedUser, T0 } from "../helpers/seed.js";

/**
 * The copies of a post claimed together share what they read about it (PostCopies): each copy
 * must come out exactly as it would have alone, whoever reads it.
 */
let t: TestStore;
let config: Config;
let alice: User;
let bob: User;
let carol: User;
let dave: User;
let group: Group;
let conversation: Conversation;
let first: Post;
let at = T0;

beforeEach(async () => {
  t = await createTestStore();
  config = buildConfig({ gateway: { domain: DOMAIN, name: "Postern" } });
  ({ alice, bob, carol, group, conversation, first } = await seedDeskConversation(t));
  dave = await seedUser(t, "dave@customer.test", "Dave Customer");
  await seedParticipant(t, conversation, dave);
  at = T0;
});
afterEach(() => t.dispose());

function write(author: User, input: Partial<PostInput> = {}): Promise<Post> {
  at += 60_000;
  return t.write(async (ctx) => {
    const body = input.body ?? `A post by ${author.name ?? "someone"}.`;
    const post = await createPost(ctx, conversation, { author, body, rawBody: body, ...input });
    return publishPost(ctx, conversation, post);
  }, at);
}

const copiesOf = (post: Post): Promise<Delivery[]> =>
  t.read(({ tx }) => tx.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.postId, post.id), orderBy: (d, { asc }) => asc(d.id) }));

/** The copy's bytes with its random MIME boundaries made alike, or its rendering error. */
async function rendered(work: (tx: Tx) => ReturnType<typeof draftDelivery>): Promise<string> {
  try {
    const raw = (await compose(await t.read(({ tx }) => work(tx)))).raw.toString("latin1");
    return raw.replace(/=_postern_[A-Za-z0-9_-]+_/g, "=_boundary_");
  } catch (error) {
    return `error: ${(error as Error).message}`;
  }
}

/** `tx`, counting the queries that reach the database. */
function counting(tx: Tx): { tx: Tx; queries: () => number } {
  let queries = 0;
  return {
    tx: { ...tx, one: (query, values) => (queries++, tx.one(query, values)), all: (query, values) => (queries++, tx.all(query, values)) },
    queries: () => queries,
  };
}

describe("PostCopies: the copies of a post claimed together", () => {
  it("come out byte for byte as each would alone, for members, the outside people and the authors of earlier posts", async () => {
    const png = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");
    const posts = [
      await write(carol, { sourceMessageId: "<carol-1@customer.test>" }),
      await write(alice, { sourceMessageId: "<alice-1@team.test>", body: "Looking into it." }),
      await write(bob, { note: true, sourceMessageId: "<bob-note@team.test>", body: "Refund?" }),
      await write(dave, { sourceMessageId: "<dave-1@customer.test>", body: "Same here." }),
      await write(alice, {
        parentId: first.id,
        sourceMessageId: "<alice-2@team.test>",
        html: '<p>See <img src="cid:shot@team.test"></p>',
        attachments: [{ filename: "shot.png", contentType: "image/png", contentId: "<shot@team.test>", inline: true, content: png }],
      }),
      await write(bob, { note: true, body: "Done." }),
    ];
    // Dave's address starts bouncing before the last public post: the others are told once.
    await t.write(({ tx }) => updateUser(tx, dave.id, { bouncingSince: at + 30_000 }));
    posts.push(await write(carol, { sourceMessageId: "<carol-2@customer.test>", body: "Thanks!" }));

    const disclosing = buildConfig({ gateway: { domain: DOMAIN, name: "Postern", disclose_participants: true } });
    for (const cfg of [config, disclosing]) {
      for (const post of [first, ...posts]) {
        const rows = await copiesOf(post);
        const copies = new PostCopies(rows);
        for (const row of rows) {
          const alone = await rendered((tx) => draftDelivery(tx, cfg, row));
          const together = await rendered((tx) => draftDelivery(tx, cfg, row, copies));
          expect(together).toBe(alone);
          copies.release(row);
        }
      }
    }
  });

  it("come out as each would alone when a burst of posts to one conversation is claimed together, whole or in part", async () => {
    // References of 2: threading reads the 4 latest earlier posts, so the burst is longer than that.
    const short = buildConfig({ gateway: { domain: DOMAIN, name: "Postern" }, conversations: { references_limit: 2 } });
    const people = [carol, alice, dave, bob];
    const posts: Post[] = [];
    for (let i = 0; i < 14; i++) {
      const author = people[i % people.length]!;
      const input: Partial<PostInput> = {
        sourceMessageId: `<burst-${i}@example.test>`,
        ...(i === 9 ? { parentId: posts[2]!.id } : {}),
        ...(author === bob && i % 3 === 0 ? { note: true } : {}),
      };
      posts.push(await write(author, input));
    }
    const claims = [posts.slice(6), posts.filter((_, i) => i % 3 === 1), [posts[4]!, posts[13]!]];
    for (const claimed of claims) {
      const rows = (await Promise.all(claimed.map(copiesOf))).flat();
      const copies = new PostCopies(rows);
      for (const row of rows) {
        const alone = await rendered((tx) => draftDelivery(tx, short, row));
        expect(await rendered((tx) => draftDelivery(tx, short, row, copies))).toBe(alone);
        copies.release(row);
      }
    }
  });

  it("skip the copy of someone who left before the claim's copies were drafted, as the copy alone would", async () => {
    const post = await write(alice);
    const rows = await copiesOf(post);
    await seedLeave(t, conversation, dave);
    const copies = new PostCopies(rows);
    const outcomes = [];
    for (const row of rows) {
      const alone = await rendered((tx) => draftDelivery(tx, config, row));
      expect(await rendered((tx) => draftDelivery(tx, config, row, copies))).toBe(alone);
      outcomes.push(alone.startsWith("error:") ? alone : "rendered");
    }
    expect(outcomes.filter((outcome) => outcome.includes("left conversation"))).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === "rendered")).toHaveLength(rows.length - 1);
  });

  it("offers a private reply exactly where offersPrivateReply does", async () => {
    const posts = [await write(alice), await write(carol), await write(bob, { note: true })];
    for (const post of posts) {
      const rows = await copiesOf(post);
      const copies = new PostCopies(rows);
      for (const row of rows) {
        const draft = await t.read(({ tx }) => draftDelivery(tx, config, row, copies));
        const offered = await t.read(({ tx }) => offersPrivateReply(tx, conversation, post, row.recipientId));
        expect(draft.mail.text?.includes(`private+${row.bounceToken}@`)).toBe(offered);
      }
    }
  });

  it("read the post, its conversation, desk, thread and recipients once: each further copy reads nothing", async () => {
    const post = await write(alice);
    const rows = await copiesOf(post);
    expect(rows.length).toBe(3);
    const copies = new PostCopies(rows);
    const queries: number[] = [];
    for (const row of rows) {
      queries.push(
        await t.read(async ({ tx }) => {
          const db = counting(tx);
          await draftDelivery(db.tx, config, row, copies);
          return db.queries();
        }),
      );
    }
    expect(queries[0]).toBeGreaterThan(5);
    expect(queries.slice(1)).toEqual([0, 0]);
  });

  it("read again once the claim's last copy of the post is drafted: an author renamed meanwhile shows in the next claim", async () => {
    const post = await write(alice);
    const [row] = await copiesOf(post);
    if (!row) throw new Error("no copy");
    const fromName = async (copies: PostCopies) => {
      const from = (await t.read(({ tx }) => draftDelivery(tx, config, row, copies))).mail.from;
      return typeof from === "object" && !Array.isArray(from) ? (from as { name?: string }).name : undefined;
    };
    const claim = new PostCopies([row]);
    expect(await fromName(claim)).toBe("Alice Agent via support");
    await t.write(({ tx }) => setUserName(tx, alice.id, "Alice Renamed"));
    // Still the same claim: the copy reads what its post's first copy read.
    expect(await fromName(claim)).toBe("Alice Agent via support");
    claim.release(row);
    expect(await fromName(claim)).toBe("Alice Renamed via support");
    expect(await fromName(new PostCopies([row]))).toBe("Alice Renamed via support");
  });

  it("do not keep a read that failed: the next copy reads again", async () => {
    const post = await write(alice);
    const copies = new PostCopies(await copiesOf(post));
    const failing = (tx: Tx): Tx => ({ ...tx, one: () => Promise.reject(new Error("database is busy")), all: () => Promise.reject(new Error("database is busy")) });
    await expect(t.read(({ tx }) => copies.of(failing(tx), config, post.id))).rejects.toThrow("database is busy");
    expect((await t.read(({ tx }) => copies.of(tx, config, post.id))).post?.id).toBe(post.id);
  });
});
