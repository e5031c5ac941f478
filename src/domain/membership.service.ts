import { refuse } from "../errors/refusal.js";
import { can } from "./abilities.js";
import { admitOrRefuse } from "./admission.service.js";
import { inviteLateJoiners } from "./appointments.service.js";
import type { DomainContext } from "./context.js";
import * as repo from "./conversations.repo.js";
import { notify } from "./notices.service.js";
import { listPosts } from "./posts.repo.js";
import type { Conversation, Participant, User } from "./records.js";
import { touchUserActivity } from "./users.repo.js";
import { isDeskMember, visibleTo } from "./visibility.js";

/**
 * Joining and leaving after a conversation has started (SPEC §5): who someone added later is told
 * about (a catch-up for them, a `joined` notice for the others), removing, and leaving. The CLI and
 * mail share these, so a person added by CC is welcomed the same way as one added by command.
 */

/** What someone added later receives of the conversation so far: all of it, nothing, or the last N posts. */
export type History = "all" | "none" | number;

export interface LateJoin {
  readonly conversation: Conversation;
  /** Everyone this one act brought in: by one command, or by one message's CC. */
  readonly joiners: readonly User[];
  /** Who brought them in; null when nobody did in person (an assignment). */
  readonly by: User | null;
  readonly history: History;
  /** The catch-up covers posts up to this one; by default every post sent so far. */
  readonly upToPostId?: number;
}

/**
 * One catch-up per joiner when there is history to show, and one `joined` notice per joiner to
 * the others taking part (not the joiners, who came in together, nor whoever brought them in).
 * A draft or an unanswered invitation reached nobody yet: they will get its posts when it starts.
 */
export async function welcomeLateJoiners(ctx: DomainContext, join: LateJoin): Promise<void> {
  const { tx } = ctx;
  const { conversation, joiners, by } = join;
  if (conversation.state !== "open" || joiners.length === 0) return;
  const joinerIds = new Set(joiners.map((user) => user.id));
  const everyone = (await repo.participantsWithUsers(tx, conversation.id)).filter((row) => row.participant.state === "active");
  // Announcement style (replies: owners): ordinary participants do not hear about each other.
  const told = everyone
    .filter(({ user }) => !joinerIds.has(user.id) && user.id !== by?.id && user.delivery === "every")
    .filter(({ participant }) => conversation.replies !== "owners" || participant.role === "owner")
    .map(({ user }) => user);
  for (const joiner of joiners) {
    const catchUp = join.history === "none" || joiner.delivery === "none" ? undefined : await catchUpFor(ctx, conversation, joiner, join);
    if (catchUp) {
      await notify(ctx, { kind: "catch_up", conversation, about: joiner, by, postId: catchUp.postId, history: catchUp.history, recipients: [joiner] });
    }
    await notify(ctx, { kind: "joined", conversation, about: joiner, by, recipients: told });
  }
  await inviteLateJoiners(ctx, conversation, joiners);
}

/** The last post the joiner may see and how many to show; undefined when there is nothing to show. */
async function catchUpFor(
  ctx: DomainContext,
  conversation: Conversation,
  joiner: User,
  join: LateJoin,
): Promise<{ postId: number; history: number | null } | undefined> {
  // Internal notes are for the group's members only (the renderer applies the same rule).
  const member = await isDeskMember(ctx.tx, conversation, joiner.id);
  const visible = (await listPosts(ctx.tx, conversation.id)).filter(
    (post) => post.state === "sent" && (join.upToPostId === undefined || post.id <= join.upToPostId) && visibleTo(post, member),
  );
  const last = visible[visible.length - 1];
  if (!last) return undefined;
  return { postId: last.id, history: join.history === "all" || join.history === "none" ? null : join.history };
}

/** `--history` as typed, else `conversations.history`. */
export function historyOf(ctx: DomainContext, requested: History | undefined): History {
  return requested ?? ctx.config.conversations.history;
}

/**
 * Someone added from the CLI: the admission rule, then the welcome. Adding to a conversation that
 * is over would bring them into nothing.
 */
export async function addLater(
  ctx: DomainContext,
  input: { conversation: Conversation; address: string; by: User; history?: History },
): Promise<User> {
  const { conversation, by } = input;
  if (conversation.state === "closed" || conversation.state === "declined") {
    refuse("conversation_closed", `Conversation ${conversation.id} is ${conversation.state}, so nobody can be added to it.`);
  }
  const admission = await admitOrRefuse(ctx, { conversation, candidate: { address: input.address }, by, way: "add" });
  if (admission.kind !== "admitted") refuse("already_exists", `${admission.address} already takes part in conversation ${conversation.id}.`);
  await touchUserActivity(ctx.tx, by.id, ctx.now);
  await welcomeLateJoiners(ctx, { conversation, joiners: [admission.user], by, history: historyOf(ctx, input.history) });
  return admission.user;
}

/**
 * Anyone may leave; owners remove people from their conversation, and roles with
 * `remove_participants` from any. Removing yourself is leaving. The person removed is told; an
 * invitation not yet answered is withdrawn silently, since its invitee never took part.
 */
export async function removeParticipant(ctx: DomainContext, conversation: Conversation, user: User, by: User): Promise<Participant> {
  const { tx, config } = ctx;
  if (by.id === user.id) return leave(ctx, conversation, user, { confirm: false });
  const found = await repo.findParticipant(tx, conversation.id, user.id);
  const participant = found?.state === "invited" ? found : await requireTakingPart(ctx, conversation, user, user.email);
  const byParticipant = await repo.findParticipant(tx, conversation.id, by.id);
  const isOwner = byParticipant?.role === "owner" && byParticipant.state === "active";
  if (!isOwner && !can(config, by, "remove_participants")) {
    refuse("not_allowed", `${by.email} may not remove people from conversation ${conversation.id}: only its owners and staff may.`);
  }
  const departed = await repo.departParticipant(tx, participant.id, "removed", ctx.now);
  await touchUserActivity(tx, by.id, ctx.now);
  // The last invitation withdrawn: nobody is left to accept, so the conversation would wait forever.
  if (participant.state === "invited" && conversation.state === "pending") {
    const waiting = (await repo.participantsWithUsers(tx, conversation.id)).some((row) => row.participant.state === "invited");
    if (!waiting) await repo.setConversationState(tx, conversation.id, "closed", ctx.now);
  }
  if (participant.state === "active") await notify(ctx, { kind: "removed", conversation, about: user, by, recipients: [user] });
  return departed;
}

/**
 * The participant stops taking part. By mail (`confirm`) they get a one-line confirmation, since
 * nothing else tells them the address they wrote to did anything; the CLI prints its own line.
 */
export async function leave(ctx: DomainContext, conversation: Conversation, user: User, options: { confirm: boolean }): Promise<Participant> {
  const participant = await requireTakingPart(ctx, conversation, user, "You");
  const left = await repo.departParticipant(ctx.tx, participant.id, "left", ctx.now);
  await touchUserActivity(ctx.tx, user.id, ctx.now);
  if (options.confirm) await notify(ctx, { kind: "left", conversation, about: user, recipients: [user] });
  return left;
}

/** The active participant, or a refusal that says why they are not one (left, removed, invited, never). */
async function requireTakingPart(ctx: DomainContext, conversation: Conversation, user: User, who: string): Promise<Participant> {
  const participant = await repo.findParticipant(ctx.tx, conversation.id, user.id);
  const you = who === "You";
  const subject = `conversation ${conversation.id} ("${conversation.subject}")`;
  switch (participant?.state) {
    case "active":
      return participant;
    case "left":
      return refuse("not_found", `${who} ${you ? "are" : "is"} not taking part in ${subject} any more: ${you ? "you" : "they"} left it already.`);
    case "removed":
      return refuse("not_found", `${who} ${you ? "are" : "is"} not taking part in ${subject} any more: ${you ? "you were" : "they were"} removed from it.`);
    case "invited":
      return refuse(
        "not_found",
        `${who} ${you ? "have" : "has"} not accepted the invitation to ${subject} yet; ${you ? "to say no, decline it" : "they can decline it"} instead.`,
      );
    case undefined:
      return refuse("not_found", `${who === "You" ? user.email : who} is not taking part in ${subject}.`);
  }
}
