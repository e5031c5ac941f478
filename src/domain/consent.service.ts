import type { Config } from "../config/config.js";
import { refuse } from "../errors/refusal.js";
import * as consent from "./consent.repo.js";
import type { DomainContext } from "./context.js";
import { findConversation, findParticipant, markPostRead, participantsWithUsers, setConversationState } from "./conversations.repo.js";
import { queueDeliveries } from "./deliveries.repo.js";
import { findGroupById, isGroupMember } from "./groups.repo.js";
import { notify } from "./notices.service.js";
import { publishPost } from "./posts.service.js";
import type { Conversation, ConversationKind, Participant, Post, User } from "./records.js";
import { findUserById, touchUserActivity } from "./users.repo.js";
import { actAs } from "./activity.service.js";

/**
 * Consent (SPEC §5): a conversation of a kind listed in `consent.kinds` starts pending. Everyone
 * but its author is invited and receives one invitation showing the first message; nothing else
 * reaches them until they accept. Posts written meanwhile are stored and delivered on acceptance.
 *
 * An invitee who declines, or lets the invitation expire, drops out (left, removed). When that
 * leaves a pending conversation nobody to wait for, the conversation itself ends (declined,
 * closed) and the invitee stays "invited": the conversation's state says the invitation is over.
 */

export function consentRequired(config: Config, kind: ConversationKind): boolean {
  return config.consent.kinds.includes(kind);
}

/**
 * launchConversation's consent branch: publishes the first post to nobody but its author and
 * invites everyone else. Undefined when there is nobody to invite (the caller opens it as usual).
 */
export async function launchPending(ctx: DomainContext, conversation: Conversation, firstPost: Post): Promise<{ conversation: Conversation; post: Post } | undefined> {
  const { tx, now } = ctx;
  const invitees = (await participantsWithUsers(tx, conversation.id)).filter((row) => row.participant.state === "active" && row.user.id !== firstPost.authorId);
  if (invitees.length === 0) return undefined;
  const author = await findUserById(tx, firstPost.authorId);
  if (!author) throw new Error(`author ${firstPost.authorId} of post ${firstPost.id} does not exist`);
  const pending = conversation.state === "pending" ? conversation : await setConversationState(tx, conversation.id, "pending", now);
  // Invited before the post is published, so fan-out finds nobody but the author to send it to;
  // the invitation shows it, so it counts as read.
  for (const { participant } of invitees) await consent.markInvited(tx, participant.id, firstPost.id);
  const post = await publishPost(ctx, pending, firstPost);
  for (const { user } of invitees) {
    await notify(ctx, { kind: "invitation", conversation: pending, about: user, by: author, postId: post.id, recipients: [user] });
  }
  return { conversation: pending, post };
}

export interface Answered {
  readonly conversation: Conversation;
  readonly participant: Participant;
  readonly user: User;
}

/**
 * The invitee accepts: the conversation opens, and every post written since the invitation
 * reaches them, in order, as ordinary copies. `tellInitiator` is false when they accepted by
 * replying: their reply tells the initiator already.
 */
export async function acceptInvitation(
  ctx: DomainContext,
  conversationId: number,
  participantId: number,
  options: { readonly tellInitiator: boolean },
): Promise<Answered & { readonly delivered: number }> {
  const { tx, now } = ctx;
  const { conversation, participant, user } = await openInvitation(ctx, conversationId, participantId, "accept");
  const opened = conversation.state === "pending" ? await consent.moveConversationState(tx, conversation.id, "pending", "open", now) : conversation;
  const accepted = await consent.answerInvitation(tx, participant.id, "active", now);
  // Both are guarded by the row lock openInvitation took: losing either means a bug, not a race.
  if (!opened || !accepted) throw new Error(`invitation of participant ${participant.id} changed under its lock`);
  await touchUserActivity(tx, user.id, now);
  const delivered = await deliverHeldPosts(ctx, opened, accepted, user);
  if (options.tellInitiator) await tellInitiator(ctx, opened, "accepted", user);
  return { conversation: opened, participant: accepted, user, delivered };
}

/** The invitee declines: they drop out, the initiator is told once, and nothing held reaches them. */
export async function declineInvitation(ctx: DomainContext, conversationId: number, participantId: number): Promise<Answered> {
  const { conversation, participant, user } = await openInvitation(ctx, conversationId, participantId, "decline");
  const after = await dropInvitee(ctx, conversation, participant, "left", "declined");
  if (!after) throw new Error(`invitation of participant ${participant.id} changed under its lock`);
  await touchUserActivity(ctx.tx, user.id, ctx.now);
  await tellInitiator(ctx, after.conversation, "declined", user);
  return { conversation: after.conversation, participant: after.participant, user };
}

export interface ExpiredInvitation {
  readonly conversationId: number;
  readonly participantId: number;
  readonly conversationState: Conversation["state"];
}

/**
 * Invitations left unanswered for `consent.expire_after` since they were sent expire; the
 * initiator is told once for each. Safe on several nodes at once: each invitation is re-read
 * under its conversation's row lock and changed by a conditional UPDATE, so only one node
 * changes it and tells the initiator.
 */
export async function expireInvitations(ctx: DomainContext, limit = 100): Promise<ExpiredInvitation[]> {
  const cutoff = ctx.now - ctx.config.consent.expire_after;
  const expired: ExpiredInvitation[] = [];
  for (const due of await consent.unansweredInvitations(ctx.tx, cutoff, limit)) {
    const conversation = await consent.lockConversation(ctx.tx, due.conversation.id);
    const participant = await consent.findParticipantById(ctx.tx, due.participant.id);
    if (!conversation || !participant || invitationProblem(conversation, participant) || participant.joinedAt > cutoff) continue;
    const after = await dropInvitee(ctx, conversation, participant, "removed", "closed");
    if (!after) continue;
    const user = await findUserById(ctx.tx, participant.userId);
    if (user) await tellInitiator(ctx, after.conversation, "expired", user);
    expired.push({ conversationId: conversation.id, participantId: participant.id, conversationState: after.conversation.state });
  }
  return expired;
}

/**
 * Queues, in order, a copy of every sent post after what the participant has seen, as fan-out
 * would have: not their own posts, internal notes only for the group's members, and, with the
 * owners-only reply policy, only the owners' posts for an ordinary participant. Answers how many.
 */
export async function deliverHeldPosts(ctx: DomainContext, conversation: Conversation, participant: Participant, user: User): Promise<number> {
  const { tx, now } = ctx;
  // Digest readers and muted people read them in their digest; a suspended address gets nothing.
  if (user.status === "suspended" || user.delivery !== "every") return 0;
  const group = conversation.groupId === null ? undefined : await findGroupById(tx, conversation.groupId);
  if (group?.assigneeOnly && conversation.assigneeId && participant.role === "owner" && user.id !== conversation.assigneeId) return 0;
  const member = group !== undefined && (await isGroupMember(tx, group.id, user.id));
  const roles = new Map((await participantsWithUsers(tx, conversation.id)).map((row) => [row.user.id, row.participant.role]));
  const ownersOnly = conversation.replies === "owners" && participant.role !== "owner";
  const held = (await consent.sentPostsAfter(tx, conversation.id, participant.lastReadPostId)).filter(
    (post) => post.authorId !== user.id && (!post.note || member) && (!ownersOnly || roles.get(post.authorId) === "owner"),
  );
  const last = held[held.length - 1];
  if (!last) return 0;
  await queueDeliveries(
    tx,
    held.map((post) => ({ kind: "post" as const, postId: post.id, conversationId: conversation.id, recipientId: user.id, toAddress: user.email })),
    now,
  );
  await markPostRead(tx, [participant.id], last.id);
  return held.length;
}

/** `postern conversations accept ID --as EMAIL`. */
export async function acceptAs(ctx: DomainContext, conversationId: number, email: string): Promise<Answered & { readonly delivered: number }> {
  const participant = await invitedAs(ctx, conversationId, email);
  return acceptInvitation(ctx, conversationId, participant.id, { tellInitiator: true });
}

/** `postern conversations decline ID --as EMAIL`. */
export async function declineAs(ctx: DomainContext, conversationId: number, email: string): Promise<Answered> {
  const participant = await invitedAs(ctx, conversationId, email);
  return declineInvitation(ctx, conversationId, participant.id);
}

/**
 * How a held reply names the people it waits for, for the author's eyes: a member by their
 * alias (someone who wrote to an alias must not learn the member's own address), anyone else by
 * the address the author wrote to.
 */
export async function invitedNames(ctx: DomainContext, conversation: Conversation): Promise<string[]> {
  return (await participantsWithUsers(ctx.tx, conversation.id))
    .filter((row) => row.participant.state === "invited")
    .map(({ user }) => (user.username && user.status === "active" ? `${user.username}@${ctx.config.primaryDomain}` : user.email));
}

/** Why a declined or closed conversation takes no more mail, for whoever writes to it. */
export function notAcceptingSentence(conversation: Pick<Conversation, "subject" | "state">): string {
  if (conversation.state === "declined") {
    return `The invitation to the conversation "${conversation.subject}" was declined, so the conversation is closed and nothing sent to it is delivered.`;
  }
  return `The conversation "${conversation.subject}" is ${conversation.state} and does not accept replies now.`;
}

// ---- Internals ------------------------------------------------------------------------------

async function invitedAs(ctx: DomainContext, conversationId: number, email: string): Promise<Participant> {
  // Answering in the CLI is the invitee's own act: it keeps them reachable (reachability.inactive_days).
  const user = await actAs(ctx, email);
  const conversation = await findConversation(ctx.tx, conversationId);
  if (!conversation) refuse("not_found", `No conversation has the id ${conversationId}.`);
  const participant = await findParticipant(ctx.tx, conversationId, user.id);
  if (!participant) refuse("not_a_participant", `${user.email} was not invited to conversation ${conversationId}.`);
  return participant;
}

/** The invitation as it is now, under its conversation's row lock; refused when it cannot be answered. */
async function openInvitation(
  ctx: DomainContext,
  conversationId: number,
  participantId: number,
  answer: "accept" | "decline",
): Promise<Answered> {
  const conversation = await consent.lockConversation(ctx.tx, conversationId);
  const participant = await consent.findParticipantById(ctx.tx, participantId);
  if (!conversation || !participant || participant.conversationId !== conversationId) {
    return refuse("not_found", `No invitation to conversation ${conversationId} matches.`);
  }
  const user = await findUserById(ctx.tx, participant.userId);
  if (!user) throw new Error(`user ${participant.userId} of participant ${participant.id} does not exist`);
  const problem = invitationProblem(conversation, participant);
  if (problem) {
    const what = `conversation ${conversation.id} ("${conversation.subject}")`;
    switch (problem) {
      case "accepted":
        return refuse(
          "already_exists",
          answer === "accept"
            ? `${user.email} already accepted the invitation to ${what}.`
            : `${user.email} already accepted the invitation to ${what}; to stop taking part, leave the conversation instead.`,
        );
      case "gone":
        return refuse("participant_gone", `${user.email} no longer takes part in ${what}, so there is no invitation to answer.`);
      case "declined":
        return refuse("conversation_closed", `The invitation to ${what} was declined already.`);
      case "closed":
        return refuse("conversation_closed", `The invitation to ${what} can no longer be answered: it expired, or the conversation was closed.`);
      case "draft":
        return refuse("invalid_input", `${what} is a draft that has not been sent: there is no invitation to answer yet.`);
    }
  }
  return { conversation, participant, user };
}

type InvitationProblem = "accepted" | "gone" | "declined" | "closed" | "draft";

function invitationProblem(conversation: Conversation, participant: Participant): InvitationProblem | undefined {
  if (conversation.state === "declined" || conversation.state === "closed" || conversation.state === "draft") return conversation.state;
  if (participant.state === "active") return "accepted";
  if (participant.state !== "invited") return "gone";
  return undefined;
}

/**
 * Takes an invitee out: when nobody else is invited to a pending conversation, the conversation
 * ends (`ending`); otherwise only the invitee leaves (`leaving`). Undefined when the state had
 * already changed.
 */
async function dropInvitee(
  ctx: DomainContext,
  conversation: Conversation,
  participant: Participant,
  leaving: "left" | "removed",
  ending: "declined" | "closed",
): Promise<{ conversation: Conversation; participant: Participant } | undefined> {
  const { tx, now } = ctx;
  const othersInvited = (await participantsWithUsers(tx, conversation.id)).some((row) => row.participant.id !== participant.id && row.participant.state === "invited");
  if (conversation.state === "pending" && !othersInvited) {
    const ended = await consent.moveConversationState(tx, conversation.id, "pending", ending, now);
    return ended && { conversation: ended, participant };
  }
  const dropped = await consent.answerInvitation(tx, participant.id, leaving, now);
  return dropped && { conversation, participant: dropped };
}

async function tellInitiator(ctx: DomainContext, conversation: Conversation, kind: "accepted" | "declined" | "expired", invitee: User): Promise<void> {
  const initiator = await findUserById(ctx.tx, conversation.createdById);
  if (!initiator || initiator.id === invitee.id) return;
  await notify(ctx, { kind, conversation, about: invitee, recipients: [initiator] });
}
