import type { DomainContext } from "./context.js";
import { findConversation } from "./conversations.repo.js";
import { notify } from "./notices.service.js";
import { findPost } from "./posts.repo.js";
import type { Delivery } from "./records.js";
import { findUserById } from "./users.repo.js";

/**
 * A copy of a post refused for its size will be refused again however often it is retried, and
 * its author would never learn that someone did not receive what they wrote: they are told once
 * per post (notices_undelivered_once_idx), whichever copy and whichever node fails first.
 */
export async function tellAuthorTooLarge(ctx: DomainContext, delivery: Delivery, category: string | null): Promise<void> {
  if (category !== "message_too_large" || delivery.kind !== "post" || delivery.postId === null) return;
  const { tx } = ctx;
  const post = await findPost(tx, delivery.postId);
  const conversation = post ? await findConversation(tx, post.conversationId) : undefined;
  const author = post ? await findUserById(tx, post.authorId) : undefined;
  const recipient = await findUserById(tx, delivery.recipientId);
  if (!post || !conversation || !author || !recipient) return;
  await notify(ctx, { kind: "undelivered", conversation, about: recipient, postId: post.id, recipients: [author] });
}
