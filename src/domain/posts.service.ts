import type { DomainContext } from "./context.js";
import { touchConversation } from "./conversations.repo.js";
import { fanOut } from "./fan-out.js";
import { mintMessageId } from "./message-ids.js";
import * as repo from "./posts.repo.js";
import type { Conversation, Post, User } from "./records.js";
import { touchUserActivity } from "./users.repo.js";

export interface AttachmentInput {
  readonly filename: string | null;
  readonly contentType: string;
  readonly contentId: string | null;
  readonly inline: boolean;
  readonly content: Buffer;
}

export interface PostInput {
  readonly author: User;
  readonly body: string;
  readonly rawBody: string;
  readonly sourceMessageId?: string | null;
  readonly inboundId?: number | null;
  readonly attachments?: readonly AttachmentInput[];
  readonly parentId?: number | null;
  /** An internal note: only the group's members receive it (SPEC §2, note+TOKEN@). */
  readonly note?: boolean;
  /** The author's formatting: their HTML, already trimmed and sanitized (inbound/content.ts). */
  readonly html?: string | null;
}

/**
 * Writes a post as a draft: nobody receives it until it is published, so a conversation that is
 * not open yet (a draft, an invitation not yet answered) can hold it.
 */
export async function createPost(ctx: DomainContext, conversation: Conversation, input: PostInput): Promise<Post> {
  const { tx, config, now } = ctx;
  const post = await repo.insertPost(tx, {
    conversationId: conversation.id,
    authorId: input.author.id,
    parentId: input.parentId ?? (await defaultParent(ctx, conversation, input.note ?? false))?.id ?? null,
    body: input.body,
    rawBody: input.rawBody,
    messageId: mintMessageId(config, "post"),
    sourceMessageId: input.sourceMessageId ?? null,
    inboundId: input.inboundId ?? null,
    note: input.note ?? false,
    html: input.html ?? null,
    createdAt: now,
  });
  await repo.insertAttachments(
    tx,
    (input.attachments ?? []).map((a) => ({
      postId: post.id,
      filename: a.filename,
      contentType: a.contentType,
      contentId: a.contentId,
      inline: a.inline,
      size: a.content.length,
      content: a.content,
    })),
  );
  return post;
}

/**
 * A post answers the newest one before it. A public post never answers an internal note: its
 * parent goes into every copy's In-Reply-To, and a note's Message-ID must not reach the people
 * who never saw the note.
 */
function defaultParent(ctx: DomainContext, conversation: Conversation, note: boolean): Promise<Post | undefined> {
  return note ? repo.lastSentPost(ctx.tx, conversation.id) : repo.lastSentPublicPost(ctx.tx, conversation.id);
}

/**
 * Sends a post: from here on it never changes (the database refuses it), and every participant
 * who should receive it gets a delivery. `alreadyReceived` are users who got the message directly.
 */
export async function publishPost(
  ctx: DomainContext,
  conversation: Conversation,
  post: Post,
  alreadyReceived: ReadonlySet<number> = new Set(),
): Promise<Post> {
  const { tx, now } = ctx;
  const published = await repo.markPostSent(tx, post.id, now);
  // Published already: its copies were queued then, and a second fan-out would hit the unique
  // (post, recipient) index and abort the caller's transaction.
  if (!published) {
    const stored = await repo.findPost(tx, post.id);
    if (!stored) throw new Error(`post ${post.id} does not exist`);
    return stored;
  }
  await touchConversation(tx, conversation.id, now);
  await touchUserActivity(tx, post.authorId, now);
  await fanOut(ctx, conversation, published, alreadyReceived);
  return published;
}
