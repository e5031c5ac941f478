import { refuse } from "../errors/refusal.js";
import { can } from "./abilities.js";
import { admitOrRefuse } from "./admission.service.js";
import type { DomainContext } from "./context.js";
import * as repo from "./conversations.repo.js";
import { requireConversation, startConversation } from "./conversations.service.js";
import { addParticipant } from "./participants.service.js";
import { isGroupMember } from "./groups.repo.js";
import type { Conversation, Participant, Post, ReplyPolicy, User } from "./records.js";
import { requireUser, validEmail } from "./users.service.js";

/** Operations people start from the CLI; they apply the same rules as mail does. */

export interface CreateInput {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly body: string;
  readonly replies?: ReplyPolicy;
}

export async function createConversation(ctx: DomainContext, input: CreateInput): Promise<{ conversation: Conversation; post: Post }> {
  const { tx, config } = ctx;
  const author = await requireUser(tx, input.from);
  if (author.status !== "active") refuse("not_allowed", `${author.email} is ${author.status}; only active members can start conversations.`);
  const addresses = [...new Set(input.to.map(validEmail))].filter((a) => a !== author.email);
  if (addresses.length === 0) refuse("invalid_input", "Give at least one recipient other than the author with --to.");
  if (!input.body.trim()) refuse("invalid_input", "The first message needs a body (--body).");
  const kind = addresses.length === 1 ? "direct" : "group";
  if (kind === "direct" && !can(config, author, "start_direct")) {
    refuse("not_allowed", `${author.email} may not start direct conversations (role ${author.role}).`);
  }
  return startConversation(ctx, {
    kind,
    subject: input.subject,
    author,
    recipients: addresses.map((address) => ({ candidate: { address } })),
    ...(input.replies ? { replies: input.replies } : {}),
    post: { body: input.body, rawBody: input.body },
  });
}

export async function addToConversation(ctx: DomainContext, id: number, email: string, byEmail: string): Promise<User> {
  const conversation = await requireConversation(ctx.tx, id);
  const by = await requireUser(ctx.tx, byEmail);
  const admission = await admitOrRefuse(ctx, { conversation, candidate: { address: validEmail(email) }, by, way: "add" });
  if (admission.kind !== "admitted") refuse("already_exists", `${admission.address} already takes part in conversation ${id}.`);
  return admission.user;
}

/** Anyone may leave; owners remove people from their conversation, and roles with `remove_participants` from any. */
export async function removeFromConversation(ctx: DomainContext, id: number, email: string, byEmail: string): Promise<Participant> {
  const { tx, config } = ctx;
  const conversation = await requireConversation(tx, id);
  const user = await requireUser(tx, email);
  const by = await requireUser(tx, byEmail);
  const participant = await repo.findParticipant(tx, conversation.id, user.id);
  if (!participant || participant.state !== "active") {
    refuse("not_found", `${user.email} is not taking part in conversation ${conversation.id}.`);
  }
  const self = by.id === user.id;
  const byParticipant = await repo.findParticipant(tx, conversation.id, by.id);
  const isOwner = byParticipant?.role === "owner" && byParticipant.state === "active";
  if (!self && !isOwner && !can(config, by, "remove_participants")) {
    refuse("not_allowed", `${by.email} may not remove people from conversation ${conversation.id}: only its owners and staff may.`);
  }
  return repo.departParticipant(tx, participant.id, self ? "left" : "removed", ctx.now);
}

/** Delegates an inbox conversation to one member of its group. */
export async function assignConversation(ctx: DomainContext, id: number, email: string): Promise<User> {
  const { tx } = ctx;
  const conversation = await requireConversation(tx, id);
  if (conversation.kind !== "inbox" || !conversation.groupId) {
    refuse("invalid_input", `Conversation ${id} did not come through a group inbox, so it cannot be assigned.`);
  }
  const user = await requireUser(tx, email);
  if (!(await isGroupMember(tx, conversation.groupId, user.id))) {
    refuse("not_allowed", `${user.email} is not a member of the group that owns conversation ${id}.`);
  }
  await addParticipant(ctx, conversation, user, { role: "owner", addedBy: null });
  await repo.setAssignee(tx, id, user.id, ctx.now);
  return user;
}
