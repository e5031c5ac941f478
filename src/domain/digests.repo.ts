import { and, asc, eq, inArray, ne, sql } from "drizzle-orm";
import { setParam, type Db, type Tables, type Tx } from "../db/store.js";
import type { Conversation, Digest, Participant, Post, User } from "./records.js";

/**
 * Digests' queries (SPEC §6). A digest is keyed by (user, window start): the unique index makes a
 * second node, or a restart within the window, insert nothing, and only the inserter goes on.
 */

/** The reason a "post" copy over the daily limit is skipped with; the digest finds those copies by it. */
export const HELD_BACK_REASON = "held back by the daily limit";

export interface Participation {
  readonly participant: Participant;
  readonly user: User;
  readonly conversation: Conversation;
}

const p = sql.placeholder;

// Correlated subqueries name the outer rows by hand, as conversations.repo.ts does.
const hasUnread = sql.raw(`EXISTS (SELECT 1 FROM posts q WHERE q.conversation_id = "participants"."conversation_id" AND q.state = 'sent'
  AND q.id > "participants"."last_read_post_id" AND q.author_id <> "participants"."user_id")`);
const notYetDigested = sql.raw(`NOT EXISTS (SELECT 1 FROM digest_posts dp INNER JOIN digests g ON g.id = dp.digest_id
  WHERE dp.post_id = "deliveries"."post_id" AND g.user_id = "deliveries"."recipient_id")`);
// Posting after a post reads it (SPEC §6), held back or not.
const notAnsweredSince = sql.raw(`NOT EXISTS (SELECT 1 FROM posts r WHERE r.conversation_id = "posts"."conversation_id"
  AND r.author_id = "deliveries"."recipient_id" AND r.state = 'sent' AND r.id > "posts"."id")`);

/** The recipient still takes part in the post's conversation. */
const heldBackParticipant = (t: Tables) =>
  and(eq(t.participants.conversationId, t.posts.conversationId), eq(t.participants.userId, t.deliveries.recipientId), eq(t.participants.state, "active"));
/** A post copy the daily limit held back, not yet in a digest of its recipient nor answered by them since. */
const heldBack = (t: Tables) =>
  and(eq(t.deliveries.kind, "post"), eq(t.deliveries.status, "skipped"), eq(t.deliveries.lastError, HELD_BACK_REASON), notYetDigested, notAnsweredSince);

const digestReaderIds = (db: Db, t: Tables) =>
  db
    .selectDistinct({ userId: t.participants.userId })
    .from(t.participants)
    .innerJoin(t.users, eq(t.users.id, t.participants.userId))
    .where(
      and(
        eq(t.participants.state, "active"),
        ne(t.users.status, "suspended"),
        sql`coalesce(${t.participants.delivery}, ${t.users.delivery}) = 'digest'`,
        hasUnread,
      ),
    );
const heldBackRecipientIds = (db: Db, t: Tables) =>
  db
    .selectDistinct({ userId: t.deliveries.recipientId })
    .from(t.deliveries)
    .innerJoin(t.posts, eq(t.posts.id, t.deliveries.postId))
    .innerJoin(t.participants, heldBackParticipant(t))
    .where(heldBack(t));
const participationsOf = (db: Db, t: Tables) =>
  db
    .select({ participant: t.participants, user: t.users, conversation: t.conversations })
    .from(t.participants)
    .innerJoin(t.users, eq(t.users.id, t.participants.userId))
    .innerJoin(t.conversations, eq(t.conversations.id, t.participants.conversationId))
    .where(and(eq(t.participants.userId, p("userId")), eq(t.participants.state, "active"), ne(t.conversations.state, "draft")))
    .orderBy(asc(t.conversations.id));
const unreadPosts = (db: Db, t: Tables) =>
  db
    .select()
    .from(t.posts)
    .where(
      and(
        eq(t.posts.conversationId, p("conversationId")),
        eq(t.posts.state, "sent"),
        sql`${t.posts.id} > ${p("afterId")}`,
        ne(t.posts.authorId, p("userId")),
      ),
    )
    .orderBy(asc(t.posts.id));
const heldBackPosts = (db: Db, t: Tables) =>
  db
    .select({ post: t.posts })
    .from(t.deliveries)
    .innerJoin(t.posts, eq(t.posts.id, t.deliveries.postId))
    .innerJoin(t.participants, heldBackParticipant(t))
    .where(and(eq(t.deliveries.recipientId, p("userId")), heldBack(t)))
    .orderBy(asc(t.posts.id));
const insertDigestQuery = (db: Db, t: Tables) =>
  db
    .insert(t.digests)
    .values({ userId: p("userId"), windowStart: p("windowStart"), createdAt: p("now") })
    .onConflictDoNothing({ target: [t.digests.userId, t.digests.windowStart] })
    .returning();
const insertDigestPost = (db: Db, t: Tables) => db.insert(t.digestPosts).values({ digestId: p("digestId"), postId: p("postId") });
const digestById = (db: Db, t: Tables) => db.select().from(t.digests).where(eq(t.digests.id, p("id")));
const postsOfDigest = (db: Db, t: Tables) =>
  db
    .select({ post: t.posts })
    .from(t.digestPosts)
    .innerJoin(t.posts, eq(t.posts.id, t.digestPosts.postId))
    .where(eq(t.digestPosts.digestId, p("digestId")))
    .orderBy(asc(t.posts.conversationId), asc(t.posts.id));
const setDelivery = (db: Db, t: Tables) =>
  db
    .update(t.participants)
    .set({ delivery: setParam("delivery") })
    .where(and(eq(t.participants.id, p("id")), inArray(t.participants.state, ["active", "invited"])));

/** Users who may be owed a digest: digest readers with something unread, and anyone with copies held back. */
export async function digestCandidateIds(tx: Tx): Promise<number[]> {
  const readers = (await tx.all(digestReaderIds)).map((row) => row.userId);
  const held = (await tx.all(heldBackRecipientIds)).map((row) => row.userId);
  return [...new Set([...readers, ...held])].sort((a, b) => a - b);
}

/** The conversations this user takes part in now, with their participation. */
export async function activeParticipations(tx: Tx, userId: number): Promise<Participation[]> {
  return tx.all(participationsOf, { userId });
}

/** Sent posts after the participant's read marker, not their own, oldest first (visibility is the caller's). */
export async function postsAfterMarker(tx: Tx, participant: Participant): Promise<Post[]> {
  return tx.all(unreadPosts, { conversationId: participant.conversationId, afterId: participant.lastReadPostId, userId: participant.userId });
}

/** Posts whose copy to this user the daily limit held back, not yet in a digest of theirs nor answered since. */
export async function heldBackPostsOf(tx: Tx, userId: number): Promise<Post[]> {
  return (await tx.all(heldBackPosts, { userId })).map((row) => row.post);
}

/** Undefined when this user's digest of this window exists already (another node, an earlier run). */
export async function insertDigest(tx: Tx, userId: number, windowStart: number, now: number): Promise<Digest | undefined> {
  return tx.one(insertDigestQuery, { userId, windowStart, now });
}

export async function insertDigestPosts(tx: Tx, digestId: number, postIds: readonly number[]): Promise<void> {
  for (const postId of postIds) await tx.run(insertDigestPost, { digestId, postId });
}

export async function findDigest(tx: Tx, id: number): Promise<Digest | undefined> {
  return tx.one(digestById, { id });
}

/** The posts a digest carries, by conversation, oldest first. */
export async function digestPosts(tx: Tx, digestId: number): Promise<Post[]> {
  return (await tx.all(postsOfDigest, { digestId })).map((row) => row.post);
}

/** Sets a participant's delivery mode for their conversation; false when they no longer take part. */
export async function setParticipantDelivery(tx: Tx, participantId: number, delivery: Participant["delivery"]): Promise<boolean> {
  return (await tx.run(setDelivery, { id: participantId, delivery })) === 1;
}
