import type { DomainContext } from "./context.js";
import { markPostRead, participantsWithUsers } from "./conversations.repo.js";
import { queueDeliveries } from "./deliveries.repo.js";
import { effectiveDelivery } from "./delivery-modes.service.js";
import { activeParticipations, digestCandidateIds, heldBackPostsOf, insertDigest, insertDigestPosts, postsAfterMarker, type Participation } from "./digests.repo.js";
import type { Digest, Post } from "./records.js";
import { findUserById } from "./users.repo.js";
import { isDeskMember, visibleTo } from "./visibility.js";

export { HELD_BACK_REASON } from "./digests.repo.js";

/** The window a moment falls in: a digest is made at most once per user and window. */
export function windowStart(now: number, intervalMs: number): number {
  return Math.floor(now / intervalMs) * intervalMs;
}

/** Who may be owed a digest this window (read outside the per-user transactions). */
export async function digestCandidates(ctx: Pick<DomainContext, "tx">): Promise<number[]> {
  return digestCandidateIds(ctx.tx);
}

/**
 * Makes this user's digest of the current window (SPEC §6), in the caller's transaction: the
 * unread posts of every conversation they read by digest, and any post whose copy the daily limit
 * held back. Only the current window is ever made, so windows missed while the gateway was down
 * are caught up in one digest, not replayed. Undefined when there is nothing to send or the
 * window's digest exists already (another node made it).
 */
export async function makeDigest(ctx: DomainContext, userId: number): Promise<Digest | undefined> {
  const { tx, now } = ctx;
  const user = await findUserById(tx, userId);
  if (!user || user.status === "suspended") return undefined;
  const included = new Map<number, Post>();
  const readUpTo = new Map<number, number>();
  for (const row of await activeParticipations(tx, userId)) {
    if (effectiveDelivery(row.participant, user) !== "digest") continue;
    const { visible, lastId } = await unreadVisiblePosts(ctx, row);
    if (visible.length === 0) continue;
    for (const post of visible) included.set(post.id, post);
    // Up to the last post looked at: the ones in between they may not see are not theirs to read.
    readUpTo.set(row.participant.id, lastId);
  }
  // Already counted read when fan-out queued the copy; the digest is where they reach the reader.
  for (const post of await heldBackPostsOf(tx, userId)) included.set(post.id, post);
  if (included.size === 0) return undefined;

  const digest = await insertDigest(tx, userId, windowStart(now, ctx.config.digest.interval), now);
  if (!digest) return undefined;
  await insertDigestPosts(tx, digest.id, [...included.keys()].sort((a, b) => a - b));
  for (const [participantId, postId] of readUpTo) await markPostRead(tx, [participantId], postId);
  await queueDeliveries(tx, [{ kind: "digest", digestId: digest.id, recipientId: user.id, toAddress: user.email }], now);
  return digest;
}

/**
 * The unread posts this participant may see, by fan-out's rule: internal notes only for the
 * desk's members; under the owners-only reply policy, an ordinary participant sees the owners' posts.
 */
async function unreadVisiblePosts(ctx: DomainContext, row: Participation): Promise<{ visible: Post[]; lastId: number }> {
  const { participant, conversation } = row;
  const posts = await postsAfterMarker(ctx.tx, participant);
  const lastId = posts[posts.length - 1]?.id ?? participant.lastReadPostId;
  if (posts.length === 0) return { visible: [], lastId };
  const member = await isDeskMember(ctx.tx, conversation, participant.userId);
  const ownersOnly = conversation.replies === "owners" && participant.role !== "owner";
  const owners = ownersOnly ? await ownerIds(ctx, conversation.id) : new Set<number>();
  return { visible: posts.filter((post) => visibleTo(post, member) && (!ownersOnly || owners.has(post.authorId))), lastId };
}

async function ownerIds(ctx: DomainContext, conversationId: number): Promise<ReadonlySet<number>> {
  return new Set((await participantsWithUsers(ctx.tx, conversationId)).filter((r) => r.participant.role === "owner").map((r) => r.user.id));
}
