import { refuse } from "../errors/refusal.js";
import type { Conversation, Post, User } from "../../schema/schema.js";
import { can } from "./abilities.js";
import { isGroupMember } from "./groups.repo.js";
import * as repo from "./conversations.repo.js";
import {
  addParticipant, assertReachable, removeParticipant, requireConversation, startConversation, type DomainContext,
} from "./conversations.service.js";
import { findUserByEmail } from "./users.repo.js";
import { findOrStageUser, requireUser, validEmail } from "./users.service.js";

/** Operations people start from the CLI; they apply the same rules as mail does. */

export interface CreateInput {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly body: string;
  readonly replies?: Conversation["replies"];
}

export function createConversation(ctx: DomainContext, input: CreateInput): { conversation: Conversation; post: Post } {
  const author = requireUser(ctx.db, input.from);
  if (author.status !== "active") refuse("not_allowed", `${author.email} is ${author.status}; only active members can start conversations.`);
  const addresses = [...new Set(input.to.map(validEmail))].filter((a) => a !== author.email);
  if (addresses.length === 0) refuse("invalid_input", "Give at least one recipient other than the author with --to.");
  if (!input.body.trim()) refuse("invalid_input", "The first message needs a body (--body).");
  const recipients = addresses.map((address) => recipientFor(ctx, author, address));
  const kind = recipients.length === 1 ? "direct" : "group";
  if (kind === "direct" && !can(ctx.config, author, "start_direct")) {
    refuse("not_allowed", `${author.email} may not start direct conversations (role ${author.role}).`);
  }
  return startConversation(ctx, {
    kind,
    subject: input.subject,
    author,
    recipients,
    ...(input.replies ? { replies: input.replies } : {}),
    post: { body: input.body, rawBody: input.body },
  });
}

function recipientFor(ctx: DomainContext, author: User, address: string): User {
  const known = findUserByEmail(ctx.db, address);
  if (known) {
    assertReachable(known);
    return known;
  }
  if (!can(ctx.config, author, "write_to_email")) {
    refuse("not_allowed", `${address} has no account, and ${author.email} (role ${author.role}) may not write to email addresses.`);
  }
  return findOrStageUser(ctx.db, ctx.config, { email: address, invitedBy: author }, ctx.now);
}

export function addToConversation(ctx: DomainContext, id: number, email: string, byEmail: string): User {
  const conversation = requireConversation(ctx.db, id);
  const by = requireUser(ctx.db, byEmail);
  const byParticipant = repo.findParticipant(ctx.db, id, by.id);
  const isStaff = by.role === "staff" || by.role === "admin";
  if (byParticipant?.state !== "active" && !isStaff) {
    refuse("not_allowed", `${by.email} does not take part in conversation ${id} and may not add people to it.`);
  }
  const address = validEmail(email);
  const user = recipientFor(ctx, by, address);
  if (repo.findParticipant(ctx.db, id, user.id)?.state === "active") {
    refuse("already_exists", `${user.email} already takes part in conversation ${id}.`);
  }
  addParticipant(ctx, conversation, user, { role: "member", addedBy: by });
  return user;
}

export function removeFromConversation(ctx: DomainContext, id: number, email: string, byEmail: string): void {
  const conversation = requireConversation(ctx.db, id);
  removeParticipant(ctx, conversation, requireUser(ctx.db, email), requireUser(ctx.db, byEmail));
}

/** Delegates an inbox conversation to one member of its group. */
export function assignConversation(ctx: DomainContext, id: number, email: string): User {
  const conversation = requireConversation(ctx.db, id);
  if (conversation.kind !== "inbox" || !conversation.groupId) {
    refuse("invalid_input", `Conversation ${id} did not come through a group inbox, so it cannot be assigned.`);
  }
  const user = requireUser(ctx.db, email);
  if (!isGroupMember(ctx.db, conversation.groupId, user.id)) {
    refuse("not_allowed", `${user.email} is not a member of the group that owns conversation ${id}.`);
  }
  addParticipant(ctx, conversation, user, { role: "owner", addedBy: null });
  repo.updateConversation(ctx.db, id, { assigneeId: user.id, updatedAt: ctx.now });
  return user;
}
