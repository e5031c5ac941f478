import type { DomainContext } from "./context.js";
import * as repo from "./conversations.repo.js";
import { lastSentPostId } from "./posts.repo.js";
import type { Conversation, Participant, User } from "./records.js";
import { newToken } from "./tokens.js";

/**
 * Adds a user, or brings back one who left or was removed, with fresh tokens. Not a permission
 * check: callers decide who may come in through the admission service.
 */
export async function addParticipant(
  ctx: DomainContext,
  conversation: Conversation,
  user: User,
  options: { role: Participant["role"]; addedBy: User | null },
): Promise<Participant> {
  const { tx } = ctx;
  const existing = await repo.findParticipant(tx, conversation.id, user.id);
  if (existing?.state === "active") return existing;
  const fields: repo.ParticipantFields = {
    role: options.role,
    state: "active",
    replyToken: newToken(),
    leaveToken: newToken(),
    addedById: options.addedBy?.id ?? null,
    // History before joining is not sent as new mail; it counts as read.
    lastReadPostId: (await lastSentPostId(tx, conversation.id, false)) ?? 0,
    // Someone who comes back starts over with their own preference.
    delivery: null,
    joinedAt: ctx.now,
    leftAt: null,
  };
  if (existing) return repo.rejoinParticipant(tx, existing.id, fields);
  return repo.insertParticipant(tx, { conversationId: conversation.id, userId: user.id, ...fields });
}

export async function leaveConversation(ctx: DomainContext, participant: Participant): Promise<Participant> {
  if (participant.state !== "active") return participant;
  return repo.departParticipant(ctx.tx, participant.id, "left", ctx.now);
}

