import { threadIndexRoot } from "./thread-index.js";
import type { Tx } from "../db/store.js";
import { refuse } from "../errors/refusal.js";
import { admitOrRefuse, type AdmissionRequest } from "./admission.service.js";
import { consentRequired, launchPending } from "./consent.service.js";
import type { DomainContext } from "./context.js";
import * as repo from "./conversations.repo.js";
import { groupMemberUsers } from "./groups.repo.js";
import { createPost, publishPost, type PostInput } from "./posts.service.js";
import { addParticipant } from "./participants.service.js";
import type { Conversation, ConversationKind, Group, Post, ReplyPolicy, User } from "./records.js";

export interface StartConversationInput {
  readonly kind: ConversationKind;
  readonly subject: string;
  readonly author: User;
  /** People the author writes to; an inbox conversation adds the group's members itself. */
  readonly recipients: readonly { readonly candidate: AdmissionRequest["candidate"]; readonly shownAs?: string }[];
  readonly group?: Group;
  readonly replies?: ReplyPolicy;
  readonly post: Omit<PostInput, "author">;
  /** Users who already have the first message (CC'd on it): they get no copy of it. */
  readonly alreadyReceived?: ReadonlySet<number>;
  /** Keep it a draft: only its author sees it, nothing is sent until launchConversation. */
  readonly draft?: boolean;
  /** The first message's own Thread-Index header, if it had one: Outlook threads by it. */
  readonly threadIndex?: string;
}

/**
 * Creates the conversation, lets its people in, and writes the first post; unless it is a draft,
 * launches it (launchConversation).
 */
export async function startConversation(ctx: DomainContext, input: StartConversationInput): Promise<{ conversation: Conversation; post: Post }> {
  const { tx, now } = ctx;
  const conversation = await repo.insertConversation(tx, {
    subject: normalizeSubject(input.subject),
    kind: input.kind,
    state: input.draft ? "draft" : "open",
    replies: input.replies ?? "all",
    groupId: input.group?.id ?? null,
    createdById: input.author.id,
    threadIndex: threadIndexRoot(input.threadIndex, now),
    createdAt: now,
    updatedAt: now,
  });
  // In an inbox conversation the group answers: its members own it, the outside author does not.
  await addParticipant(ctx, conversation, input.author, { role: input.group ? "member" : "owner", addedBy: null });
  if (input.group) {
    for (const member of await groupMemberUsers(tx, input.group.id)) {
      if (member.id !== input.author.id) await addParticipant(ctx, conversation, member, { role: "owner", addedBy: null });
    }
  }
  for (const recipient of input.recipients) {
    await admitOrRefuse(ctx, {
      conversation,
      candidate: recipient.candidate,
      by: input.author,
      way: "start",
      ...(recipient.shownAs ? { shownAs: recipient.shownAs } : {}),
    });
  }
  const post = await createPost(ctx, conversation, { ...input.post, author: input.author });
  if (input.draft) return { conversation, post };
  return launchConversation(ctx, conversation, post, input.alreadyReceived ?? new Set());
}

/**
 * Sends a conversation's first post: the moment a new conversation (or a draft being sent)
 * reaches its participants.
 */
export async function launchConversation(
  ctx: DomainContext,
  conversation: Conversation,
  firstPost: Post,
  alreadyReceived: ReadonlySet<number> = new Set(),
): Promise<{ conversation: Conversation; post: Post }> {
  // Consent (SPEC §5): the others are invited and get the first message in their invitation.
  if (consentRequired(ctx.config, conversation.kind)) {
    const pending = await launchPending(ctx, conversation, firstPost);
    if (pending) return pending;
  }
  const launched = conversation.state === "open" ? conversation : await repo.setConversationState(ctx.tx, conversation.id, "open", ctx.now);
  const published = await publishPost(ctx, launched, firstPost, alreadyReceived);
  return { conversation: launched, post: published };
}

export async function requireConversation(tx: Tx, id: number): Promise<Conversation> {
  const conversation = await repo.findConversation(tx, id);
  if (!conversation) refuse("not_found", `No conversation has the id ${id}.`);
  return conversation;
}

/** Keeps the subject stable across replies so every client threads the copies together. */
export function normalizeSubject(subject: string): string {
  const trimmed = subject.replace(/\s+/g, " ").trim();
  return trimmed || "(no subject)";
}
