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
  return writePost(ctx, conversation, input, null);
}

/**
 * Writes a post and publishes it at once (publishPost): written as sent, so its row is written
 * once rather than written as a draft and rewritten.
 */
export async function createAndPublishPost(
  ctx: DomainContext,
  conversation: Conversation,
  input: PostInput,
  alreadyReceived: ReadonlySet<number> = new Set(),
): Promise<Post> {
  const post = await writePost(ctx, conversation, input, ctx.now);
  await announce(ctx, conversation, post, alreadyReceived);
  return post;
}

async function writePost(ctx: DomainContext, conversation: Conversation, input: PostInput, sentAt: number | null): Promise<Post> {
  const { tx, config, now } = ctx;
  // A post answers the newest one before it. A public post never answers an internal note: its
  // parent goes into every copy's In-Reply-To, and a note's Message-ID must not reach the people
  // who never saw the note.
  const post = await repo.insertPost(tx, {
    conversationId: conversation.id,
    authorId: input.author.id,
    parentId: input.parentId ?? (await repo.lastSentPostId(tx, conversation.id, !(input.note ?? false))) ?? null,
    body: input.body,
    rawBody: input.rawBody,
    messageId: mintMessageId(config, "post"),
    sourceMessageId: input.sourceMessageId ?? null,
    inboundId: input.inboundId ?? null,
    note: input.note ?? false,
    html: input.html ?? null,
    createdAt: now,
  }, sentAt);
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
  // Published already: its copies were queued then, and a second fan-out would hit the unique
  // (post, recipient) index and abort the caller's transaction.
  if (!(await repo.markPostSent(tx, post.id, now))) {
    const stored = await repo.findPost(tx, post.id);
    if (!stored) throw new Error(`post ${post.id} does not exist`);
    return stored;
  }
  const published: Post = { ...post, state: "sent", sentAt: now };
  await announce(ctx, conversation, published, alreadyReceived);
  return published;
}

/** What publishing a post sets off: the conversation and its author are active now, and its copies are queued. */
async function announce(ctx: DomainContext, conversation: Conversation, post: Post, alreadyReceived: ReadonlySet<number>): Promise<void> {
  await touchConversation(ctx.tx, conversation.id, ctx.now);
  await touchUserActivity(ctx.tx, post.authorId, ctx.now);
  await fanOut(ctx, conversation, post, alreadyReceived);
}
