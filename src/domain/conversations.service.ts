import type { Config } from "../config/config.js";
import type { Db } from "../db/database.js";
import { refuse } from "../errors/refusal.js";
import type { Conversation, Group, Participant, Post, User } from "../../schema/schema.js";
import { groupMemberUsers } from "./groups.repo.js";
import * as repo from "./conversations.repo.js";
import { newToken } from "./tokens.js";
import { touchUserActivity } from "./users.repo.js";
import { fanOut } from "./fan-out.js";

export interface DomainContext {
  readonly db: Db;
  readonly config: Config;
  readonly now: number;
}

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
  /** Users who already have this message (CC'd on it): they get no second copy. */
  readonly alreadyReceived?: ReadonlySet<number>;
}

/** Every post gets its own Message-ID in the gateway's domain; the loop guard recognises it. */
export function newPostMessageId(config: Config): string {
  return `<postern.${newToken()}@${config.primaryDomain}>`;
}

export function isOwnMessageId(config: Config, messageId: string): boolean {
  const match = /^<?postern\.[a-z2-7]{32}@([^>]+)>?$/i.exec(messageId.trim());
  return !!match && config.domains.includes((match[1] ?? "").toLowerCase());
}

export interface StartConversationInput {
  readonly kind: Conversation["kind"];
  readonly subject: string;
  readonly author: User;
  /** People the author writes to; an inbox conversation adds the group's members itself. */
  readonly recipients: readonly User[];
  readonly group?: Group;
  readonly replies?: Conversation["replies"];
  readonly post: Omit<PostInput, "author">;
}

export function startConversation(
  ctx: DomainContext,
  input: StartConversationInput,
): { conversation: Conversation; post: Post } {
  const { db, now } = ctx;
  for (const recipient of input.recipients) assertReachable(recipient);
  const conversation = repo.insertConversation(db, {
    subject: normalizeSubject(input.subject),
    kind: input.kind,
    state: "open",
    replies: input.replies ?? "all",
    groupId: input.group?.id ?? null,
    createdById: input.author.id,
    createdAt: now,
    updatedAt: now,
  });
  // In an inbox conversation the group answers: its members own it, the outside author does not.
  const authorRole = input.group ? "member" : "owner";
  addParticipant(ctx, conversation, input.author, { role: authorRole, addedBy: null });
  if (input.group) {
    for (const member of groupMemberUsers(db, input.group.id)) {
      if (member.id !== input.author.id) addParticipant(ctx, conversation, member, { role: "owner", addedBy: null });
    }
  }
  for (const recipient of input.recipients) {
    if (recipient.id !== input.author.id) addParticipant(ctx, conversation, recipient, { role: "member", addedBy: input.author });
  }
  const post = createPost(ctx, conversation, { ...input.post, author: input.author });
  return { conversation, post };
}

/** Adds a user, or brings back one who left or was removed, with fresh tokens. */
export function addParticipant(
  ctx: DomainContext,
  conversation: Conversation,
  user: User,
  options: { role: Participant["role"]; addedBy: User | null },
): Participant {
  const existing = repo.findParticipant(ctx.db, conversation.id, user.id);
  if (existing?.state === "active") return existing;
  const lastPost = repo.lastSentPost(ctx.db, conversation.id);
  const fields = {
    role: options.role,
    state: "active" as const,
    replyToken: newToken(),
    leaveToken: newToken(),
    addedById: options.addedBy?.id ?? null,
    // History before joining is not sent as new mail; it counts as read.
    lastReadPostId: lastPost?.id ?? 0,
    joinedAt: ctx.now,
    leftAt: null,
  };
  if (existing) return repo.updateParticipant(ctx.db, existing.id, fields);
  return repo.insertParticipant(ctx.db, { conversationId: conversation.id, userId: user.id, ...fields });
}

export function createPost(ctx: DomainContext, conversation: Conversation, input: PostInput): Post {
  const { db, config, now } = ctx;
  const parent = input.parentId ?? repo.lastSentPost(db, conversation.id)?.id ?? null;
  const post = repo.insertPost(db, {
    conversationId: conversation.id,
    authorId: input.author.id,
    parentId: parent,
    state: "sent",
    body: input.body,
    rawBody: input.rawBody,
    messageId: newPostMessageId(config),
    sourceMessageId: input.sourceMessageId ?? null,
    inboundId: input.inboundId ?? null,
    createdAt: now,
    sentAt: now,
  });
  repo.insertAttachments(
    db,
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
  repo.updateConversation(db, conversation.id, { updatedAt: now });
  touchUserActivity(db, input.author.id, now);
  fanOut(ctx, conversation, post, input.author, input.alreadyReceived ?? new Set());
  return post;
}

export function leaveConversation(ctx: DomainContext, participant: Participant): Participant {
  if (participant.state !== "active") return participant;
  return repo.updateParticipant(ctx.db, participant.id, { state: "left", leftAt: ctx.now });
}

export function removeParticipant(ctx: DomainContext, conversation: Conversation, user: User, by: User): Participant {
  const participant = repo.findParticipant(ctx.db, conversation.id, user.id);
  if (!participant || participant.state !== "active") {
    refuse("not_found", `${user.email} is not taking part in conversation ${conversation.id}.`);
  }
  const self = by.id === user.id;
  const byParticipant = repo.findParticipant(ctx.db, conversation.id, by.id);
  const isOwner = byParticipant?.role === "owner" && byParticipant.state === "active";
  const isStaff = by.role === "staff" || by.role === "admin";
  if (!self && !isOwner && !isStaff) {
    refuse("not_allowed", `${by.email} may not remove people from conversation ${conversation.id}: only its owners and staff may.`);
  }
  return repo.updateParticipant(ctx.db, participant.id, { state: self ? "left" : "removed", leftAt: ctx.now });
}

export function requireConversation(db: Db, id: number): Conversation {
  const conversation = repo.findConversation(db, id);
  if (!conversation) refuse("not_found", `No conversation has the id ${id}.`);
  return conversation;
}

/**
 * Bringing someone into a conversation respects their wish not to receive messages. `shownAs` is
 * how the refusal names them: a stranger writing to an alias must not learn the member's address.
 */
export function assertReachable(user: User, shownAs = user.email): void {
  if (user.status === "suspended") refuse("user_unreachable", `${shownAs} cannot receive messages: the account is suspended.`);
  if (!user.messagesEnabled) refuse("user_unreachable", `${shownAs} does not accept new conversations.`);
}

export function isReachable(user: User): boolean {
  return user.status !== "suspended" && user.messagesEnabled;
}

/** Keeps the subject stable across replies so every client threads the copies together. */
export function normalizeSubject(subject: string): string {
  const trimmed = subject.replace(/\s+/g, " ").trim();
  return trimmed || "(no subject)";
}
