import { threadIndexRoot } from "./thread-index.js";
import type { Tx } from "../db/store.js";
import { refuse } from "../errors/refusal.js";
import type { DomainContext } from "./context.js";
import { findConversation, findParticipant, insertConversation } from "./conversations.repo.js";
import { normalizeSubject } from "./conversations.service.js";
import { addParticipant } from "./participants.service.js";
import { createAndPublishPost, type PostInput } from "./posts.service.js";
import { findPost } from "./posts.repo.js";
import { openDirectConversationsWithSubject } from "./private-replies.repo.js";
import type { Conversation, Delivery, Post, User } from "./records.js";
import { findUserById } from "./users.repo.js";
import { displayName } from "./users.service.js";
import { deskMemberIds } from "./visibility.js";

/**
 * A private reply (SPEC §2, private+TOKEN@): someone who received a copy of a post answers its
 * author alone, in a direct conversation between the two that the others never hear of.
 *
 * Who is offered one, and why:
 * - a `group` conversation: every copy; a side conversation is what private replies are for.
 * - an `inbox` conversation: only a group member's copy of another member's post. The desk
 *   answers the outside person together, in the conversation; a member answering the outside
 *   person aside, or the outside person reaching one member aside, would split the desk.
 * - a `direct` conversation: never; it is already between the two of them.
 */
export async function offersPrivateReply(tx: Tx, conversation: Conversation, post: Pick<Post, "authorId">, recipientId: number): Promise<boolean> {
  const desk = conversation.kind === "inbox" && post.authorId !== recipientId ? await deskMemberIds(tx, conversation) : new Set<number>();
  return privateReplyOffered(conversation, post.authorId, recipientId, (userId) => desk.has(userId));
}

/** offersPrivateReply's rule with the desk already known (the renderer reads it once for every copy of a post). */
export function privateReplyOffered(conversation: Pick<Conversation, "kind">, authorId: number, recipientId: number, onDesk: (userId: number) => boolean): boolean {
  if (authorId === recipientId) return false;
  switch (conversation.kind) {
    case "group":
      return true;
    case "inbox":
      return onDesk(recipientId) && onDesk(authorId);
    case "direct":
      return false;
  }
}

/** The subject of the private conversation: the original's, marked so nobody takes it for the shared one. */
export function privateSubject(subject: string): string {
  const base = normalizeSubject(subject).replace(/^(re\s*:\s*)+/i, "");
  return normalizeSubject(`Re: ${base} (private)`);
}

export interface PrivateReply {
  readonly conversation: Conversation;
  readonly post: Post;
  /** True when an earlier private conversation between the two on this subject took it. */
  readonly continued: boolean;
}

/** A private reply that may go ahead: who writes, to whom, answering what. */
export interface PrivateReplyTarget {
  readonly sender: User;
  readonly author: User;
  readonly conversation: Conversation;
}

/**
 * Checks that the recipient of `delivery`, writing from `from`, may answer the author of the post
 * it carried privately; refuses with a sentence otherwise.
 *
 * A private reply opens at once, with no invitation, even where `consent.kinds` asks for one, and
 * reaches an author whose `messages` are off or who has been inactive: the author wrote to the
 * sender in a conversation both take part in, and this is an answer to that, not a stranger's new
 * conversation. A suspended author gets nothing, as everywhere.
 */
export async function checkPrivateReply(tx: Tx, delivery: Delivery, from: string): Promise<PrivateReplyTarget> {
  const original = delivery.postId === null ? undefined : await findPost(tx, delivery.postId);
  const conversation = original && (await findConversation(tx, original.conversationId));
  if (!original || !conversation) return refuse("not_found", "The message this private reply answers no longer exists.");
  const subject = `"${conversation.subject}"`;
  const sender = await findUserById(tx, delivery.recipientId);
  if (!sender || sender.email !== from) {
    return refuse(
      "sender_mismatch",
      `This private-reply address belongs to another recipient's copy of a message in the conversation ${subject}, ` +
        `so a message from ${from} cannot be sent through it. Reply from the address that received the message.`,
    );
  }
  if (sender.status === "suspended") refuse("not_allowed", `The account of ${sender.email} is suspended.`);
  const participant = await findParticipant(tx, conversation.id, sender.id);
  if (participant?.state !== "active") {
    refuse("participant_gone", `You no longer take part in the conversation ${subject}, so you cannot answer its messages privately.`);
  }
  const author = await findUserById(tx, original.authorId);
  if (!author) return refuse("not_found", "The author of the message this private reply answers no longer exists.");
  if (author.id === sender.id) {
    refuse("not_allowed", `You wrote this message in the conversation ${subject} yourself, so there is nobody to answer privately.`);
  }
  if (!(await offersPrivateReply(tx, conversation, original, sender.id))) refuse("not_allowed", notOfferedBecause(conversation));
  if (author.status === "suspended") refuse("user_unreachable", `${displayName(author)} cannot receive messages: the account is suspended.`);
  return { sender, author, conversation };
}

/**
 * Posts a checked private reply: into the open direct conversation the two already have under
 * the private subject, or into a new one.
 */
export async function replyPrivately(
  ctx: DomainContext,
  target: PrivateReplyTarget,
  input: Omit<PostInput, "author" | "note" | "parentId">,
): Promise<PrivateReply> {
  const { sender, author } = target;
  const subject = privateSubject(target.conversation.subject);
  const existing = await findPrivateConversation(ctx.tx, sender, author, subject);
  const conversation = existing ?? (await openPrivateConversation(ctx, sender, author, subject));
  const post = await createAndPublishPost(ctx, conversation, { ...input, author: sender });
  return { conversation, post, continued: !!existing };
}

function notOfferedBecause(conversation: Conversation): string {
  const subject = `"${conversation.subject}"`;
  if (conversation.kind === "direct") {
    return `The conversation ${subject} is already between the two of you, so answer it there: your reply is private already.`;
  }
  return (
    `Private replies in the conversation ${subject} are only between the members of the team that answers it; ` +
    "write to the conversation instead, so the whole team sees it."
  );
}

async function findPrivateConversation(tx: Tx, sender: User, author: User, subject: string): Promise<Conversation | undefined> {
  for (const candidate of await openDirectConversationsWithSubject(tx, sender.id, subject)) {
    if ((await findParticipant(tx, candidate.id, author.id))?.state === "active") return candidate;
  }
  return undefined;
}

/**
 * Straight into an open direct conversation, not through startConversation's admission and
 * consent (see replyPrivately). Nobody is "added by" the sender: bringing the author in is not
 * an invitation and counts towards no invitation cap.
 */
async function openPrivateConversation(ctx: DomainContext, sender: User, author: User, subject: string): Promise<Conversation> {
  const conversation = await insertConversation(ctx.tx, {
    subject,
    kind: "direct",
    state: "open",
    replies: "all",
    threadIndex: threadIndexRoot(undefined, ctx.now),
    groupId: null,
    createdById: sender.id,
    createdAt: ctx.now,
    updatedAt: ctx.now,
  });
  await addParticipant(ctx, conversation, sender, { role: "owner", addedBy: null });
  await addParticipant(ctx, conversation, author, { role: "member", addedBy: null });
  return conversation;
}
