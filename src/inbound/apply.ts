import { refuse, Refusal } from "../errors/refusal.js";
import { can } from "../domain/abilities.js";
import {
  assertReachable, createPost, leaveConversation, startConversation, type AttachmentInput, type DomainContext,
} from "../domain/conversations.service.js";
import { findPostBySourceMessageId } from "../domain/conversations.repo.js";
import { findUserByEmail, findUserById, listActiveAdmins, updateUser } from "../domain/users.repo.js";
import { displayName, findOrStageUser } from "../domain/users.service.js";
import { queueDeliveries } from "../outbound/outbox.repo.js";
import type { Conversation, Group, Participant, User } from "../../schema/schema.js";
import { joinDirectRecipients } from "./cc.js";
import type { Classification } from "./classify.js";
import type { ParsedMessage } from "./parse.js";
import { primaryRoute, resolveRoute, type Route } from "./route.js";
import { findThread } from "./thread.js";
import { handleBounce } from "./bounce.js";

export interface PreparedInbound {
  readonly envelopeFrom: string;
  readonly rcptTo: readonly string[];
  readonly message: ParsedMessage;
  readonly classification: Classification;
  /** The text with quotes and signature removed. */
  readonly trimmed: string;
}

export interface AppliedOutcome {
  readonly outcome: "accepted" | "ignored" | "bounce" | "duplicate";
  readonly reason: string;
  readonly conversationId?: number;
  readonly postId?: number;
}

/**
 * Applies one inbound message inside the caller's transaction: everything it creates commits
 * together or not at all. Throws a Refusal for mail that will not be posted.
 */
export function applyInbound(ctx: DomainContext, inbound: PreparedInbound, inboundId: number): AppliedOutcome {
  const route = primaryRoute(resolveRoutes(ctx, inbound.rcptTo));
  if (!route) return refuse("unknown_recipient", "None of the recipients of this message exists here.");
  if (route.type === "bounce") return handleBounce(ctx, route.delivery, inbound.message);
  if (inbound.classification.kind !== "human") {
    return { outcome: "ignored", reason: inbound.classification.reason };
  }
  const duplicate = findPostBySourceMessageId(ctx.db, inbound.message.dedupeKey);
  if (duplicate) {
    return {
      outcome: "duplicate",
      reason: `already received as post ${duplicate.id}`,
      conversationId: duplicate.conversationId,
      postId: duplicate.id,
    };
  }
  switch (route.type) {
    case "postmaster":
      return forwardToAdmins(ctx, inboundId, route.address);
    case "leave":
      return leave(ctx, inbound, route.participant, route.conversation);
    case "reply":
      assertSender(ctx, inbound, route.participant, route.conversation);
      return reply(ctx, inbound, inboundId, route.conversation, route.participant);
    case "from_address":
      return replyByThread(ctx, inbound, inboundId) ?? refuseUnthreaded(ctx, inbound);
    case "inbox":
      return replyByThread(ctx, inbound, inboundId, { groupId: route.group.id }) ?? startInboxConversation(ctx, inbound, inboundId, route);
    case "alias":
      return replyByThread(ctx, inbound, inboundId, { userId: route.user.id }) ?? startDirectConversation(ctx, inbound, inboundId, route);
  }
}

/** Every recipient that still routes; a token that died between RCPT and DATA is refused. */
function resolveRoutes(ctx: DomainContext, rcptTo: readonly string[]): Route[] {
  const routes: Route[] = [];
  let firstRefusal: Refusal | undefined;
  for (const address of rcptTo) {
    try {
      routes.push(resolveRoute(ctx.db, ctx.config, address));
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      firstRefusal ??= error;
    }
  }
  if (routes.length === 0 && firstRefusal) throw firstRefusal;
  return routes;
}

function assertSender(ctx: DomainContext, inbound: PreparedInbound, participant: Participant, conversation: Conversation): User {
  const owner = findUserById(ctx.db, participant.userId);
  if (!owner || owner.email !== inbound.message.from.address) {
    return refuse(
      "sender_mismatch",
      `This reply address belongs to another participant of the conversation "${conversation.subject}", ` +
        `so a message from ${inbound.message.from.address} cannot be posted through it. ` +
        "Reply from the address that received the conversation's email.",
    );
  }
  return owner;
}

function leave(ctx: DomainContext, inbound: PreparedInbound, participant: Participant, conversation: Conversation): AppliedOutcome {
  assertSender(ctx, inbound, participant, conversation);
  leaveConversation(ctx, participant);
  return { outcome: "accepted", reason: `left conversation ${conversation.id}`, conversationId: conversation.id };
}

function reply(
  ctx: DomainContext,
  inbound: PreparedInbound,
  inboundId: number,
  conversation: Conversation,
  participant: Participant,
): AppliedOutcome {
  const known = findUserById(ctx.db, participant.userId);
  if (!known) throw new Error(`participant ${participant.id} has no user`);
  const author = learnName(ctx, known, inbound.message.from.name);
  if (conversation.state !== "open") {
    refuse("conversation_closed", `The conversation "${conversation.subject}" is ${conversation.state} and does not accept replies now.`);
  }
  const attachments = checkedAttachments(ctx, inbound.message.attachments);
  if (!inbound.trimmed.trim() && attachments.length === 0) {
    refuse(
      "empty_reply",
      "Your reply was empty once the quoted earlier messages were removed, so nothing was posted. " +
        "Write your answer above the quoted text and send it again.",
    );
  }
  const cc = joinDirectRecipients(ctx, conversation, author, inbound.message);
  const post = createPost(ctx, conversation, {
    author,
    body: inbound.trimmed,
    rawBody: inbound.message.text,
    sourceMessageId: inbound.message.dedupeKey,
    inboundId,
    attachments,
    alreadyReceived: cc.alreadyReceived,
  });
  return {
    outcome: "accepted",
    reason: describe(`reply posted to conversation ${conversation.id}`, cc),
    conversationId: conversation.id,
    postId: post.id,
  };
}

/**
 * Mail without a token (sent to the From address or an inbox, e.g. by a client that ignores
 * Reply-To) joins a conversation only through its threading headers and only from a participant.
 */
function replyByThread(
  ctx: DomainContext,
  inbound: PreparedInbound,
  inboundId: number,
  scope?: { groupId?: number; userId?: number },
): AppliedOutcome | undefined {
  const sender = findUserByEmail(ctx.db, inbound.message.from.address);
  const match = findThread(ctx.db, inbound.message.threadIds, sender);
  const inScope = match && (!scope?.groupId || match.conversation.groupId === scope.groupId);
  if (match && inScope && match.participant) return reply(ctx, inbound, inboundId, match.conversation, match.participant);
  return undefined;
}

function refuseUnthreaded(ctx: DomainContext, inbound: PreparedInbound): never {
  const match = findThread(ctx.db, inbound.message.threadIds, undefined);
  if (match) {
    refuse(
      "not_a_participant",
      `${inbound.message.from.address} is not taking part in the conversation "${match.conversation.subject}", so this message cannot be posted to it.`,
    );
  }
  return refuse(
    "no_thread_found",
    "This address only receives replies to conversations, and this message does not answer any conversation you take part in. " +
      "To answer a conversation, reply to one of its emails.",
  );
}

function startInboxConversation(
  ctx: DomainContext,
  inbound: PreparedInbound,
  inboundId: number,
  route: Extract<Route, { type: "inbox" }>,
): AppliedOutcome {
  const author = senderAsUser(ctx, inbound);
  return startNew(ctx, inbound, inboundId, author, { kind: "inbox", group: route.group, recipients: [] }, `new inbox conversation for ${route.group.name}`);
}

function startDirectConversation(
  ctx: DomainContext,
  inbound: PreparedInbound,
  inboundId: number,
  route: Extract<Route, { type: "alias" }>,
): AppliedOutcome {
  assertReachable(route.user, route.address);
  const author = senderAsUser(ctx, inbound);
  if (!can(ctx.config, author, "start_direct")) {
    refuse("not_allowed", `${author.email} may not start conversations with ${route.address}.`);
  }
  return startNew(ctx, inbound, inboundId, author, { kind: "direct", recipients: [route.user] }, `new direct conversation with ${route.user.email}`);
}

function startNew(
  ctx: DomainContext,
  inbound: PreparedInbound,
  inboundId: number,
  author: User,
  shape: { kind: Conversation["kind"]; group?: Group; recipients: User[] },
  what: string,
): AppliedOutcome {
  const attachments = checkedAttachments(ctx, inbound.message.attachments);
  // A new message is trimmed of its signature; a pure forward would trim to nothing, so keep it whole.
  const body = inbound.trimmed.trim() ? inbound.trimmed : inbound.message.text;
  if (!body.trim() && attachments.length === 0 && !inbound.message.subject.trim()) {
    refuse("empty_reply", "Your message has no subject, no text and no attachment, so no conversation was started.");
  }
  const { conversation, post } = startConversation(ctx, {
    kind: shape.kind,
    subject: inbound.message.subject,
    author,
    recipients: shape.recipients,
    ...(shape.group ? { group: shape.group } : {}),
    post: { body, rawBody: inbound.message.text, sourceMessageId: inbound.message.dedupeKey, inboundId, attachments },
  });
  // Joining after the first post was fanned out: those CC'd already have it and get no copy.
  const cc = joinDirectRecipients(ctx, conversation, author, inbound.message);
  return { outcome: "accepted", reason: describe(what, cc), conversationId: conversation.id, postId: post.id };
}

function senderAsUser(ctx: DomainContext, inbound: PreparedInbound): User {
  const { address, name } = inbound.message.from;
  const user = learnName(ctx, findOrStageUser(ctx.db, ctx.config, { email: address, name }, ctx.now), name);
  if (user.status === "suspended") refuse("not_allowed", `The account of ${user.email} is suspended.`);
  return user;
}

/** A staged user known only by address takes the display name their mail gives. */
function learnName(ctx: DomainContext, user: User, name: string): User {
  if (user.status !== "staged" || user.name || !name.trim()) return user;
  return updateUser(ctx.db, user.id, { name: name.trim() });
}

function checkedAttachments(ctx: DomainContext, attachments: readonly AttachmentInput[]): readonly AttachmentInput[] {
  const limits = ctx.config.attachments;
  if (attachments.length > limits.max_count) {
    refuse("too_many_attachments", `The message has ${attachments.length} attachments; at most ${limits.max_count} are accepted.`);
  }
  const total = attachments.reduce((sum, a) => sum + a.content.length, 0);
  if (total > limits.max_total_size) {
    refuse("attachments_too_large", `The attachments add up to ${total} bytes; at most ${limits.max_total_size} are accepted.`);
  }
  return attachments;
}

function forwardToAdmins(ctx: DomainContext, inboundId: number, address: string): AppliedOutcome {
  const admins = listActiveAdmins(ctx.db);
  queueDeliveries(ctx.db, admins.map((admin) => ({ kind: "forward", inboundId, recipientId: admin.id, toAddress: admin.email })), ctx.now);
  const reason = admins.length
    ? `mail to ${address} forwarded to ${admins.map(displayName).join(", ")}`
    : `mail to ${address} kept in the mail log: there is no admin to forward it to`;
  return { outcome: "accepted", reason };
}

function describe(what: string, cc: { added: string[]; skipped: string[] }): string {
  const parts = [what];
  if (cc.added.length) parts.push(`added ${cc.added.join(", ")}`);
  if (cc.skipped.length) parts.push(`not added: ${cc.skipped.join("; ")}`);
  return parts.join("; ");
}
