import type { DomainContext } from "./context.js";
import * as repo from "./conversations.repo.js";
import { queueDeliveries, type DeliveryToQueue } from "./deliveries.repo.js";
import { effectiveDelivery } from "./delivery-modes.service.js";
import { findGroupById } from "./groups.repo.js";
import type { Conversation, Post } from "./records.js";
import { deskMemberIds, visibleTo } from "./visibility.js";

/**
 * Decides who receives a personal copy of a post and queues one delivery per recipient, in the
 * caller's transaction. Those recipients, the author and anyone who got the message directly
 * have the post counted as read; the rest (digest readers, owners-only policy) do not.
 */
export async function fanOut(ctx: DomainContext, conversation: Conversation, post: Post, alreadyReceived: ReadonlySet<number>): Promise<void> {
  const { tx, now } = ctx;
  const everyone = (await repo.participantsWithUsers(tx, conversation.id)).filter((p) => p.participant.state === "active");
  const authorParticipant = everyone.find((p) => p.user.id === post.authorId)?.participant;
  const group = conversation.groupId ? await findGroupById(tx, conversation.groupId) : undefined;
  // An internal note is written for the whole team, so it reaches every member even when only
  // the assignee receives the conversation's public posts (groups.assigneeOnly).
  const onlyAssignee = !post.note && !!(group?.assigneeOnly && conversation.assigneeId);
  // Announcement style: an ordinary participant's post reaches the owners only (no reply-all storm).
  const ownersOnly = conversation.replies === "owners" && authorParticipant?.role !== "owner";
  const members = post.note ? await deskMemberIds(tx, conversation) : new Set<number>();

  const rows: DeliveryToQueue[] = [];
  // Everyone who gets this post, by email now or because they already have it, has read it.
  // Someone who may not see it is left as they were: marking an invisible note read would also
  // mark read the posts before it that they have not had yet.
  const read: number[] = [];
  for (const { participant, user } of everyone) {
    if (!visibleTo(post, members.has(user.id))) continue;
    if (user.id === post.authorId || alreadyReceived.has(user.id)) {
      read.push(participant.id);
      continue;
    }
    if (ownersOnly && participant.role !== "owner") continue;
    if (onlyAssignee && participant.role === "owner" && user.id !== conversation.assigneeId) continue;
    // The conversation's own mode (every+/digest+/mute+) before the user's preference; digest
    // readers keep it unread for their digest, muted and "none" get nothing.
    // An address that keeps bouncing gets nothing until reset; the post stays unread for it.
    if (user.status === "suspended" || user.bouncingSince !== null || effectiveDelivery(participant, user) !== "every") continue;
    rows.push({ kind: "post", postId: post.id, conversationId: conversation.id, recipientId: user.id, toAddress: user.email });
    read.push(participant.id);
  }
  await queueDeliveries(tx, rows, now);
  await repo.markPostRead(tx, read, post.id);
}
