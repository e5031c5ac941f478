import { refuse } from "../../errors/refusal.js";
import { classifyAddress } from "../../domain/addresses.js";
import type { AttachmentInput } from "../../domain/posts.service.js";
import type { Conversation, Participant, User } from "../../domain/records.js";
import { findUserById } from "../../domain/users.repo.js";
import { findOrStageUser, learnName } from "../../domain/users.service.js";
import type { InboundContext } from "../inbound.js";

/** A message through a token must come from that participant's own address, and a suspended account posts nothing. */
export async function assertSender(ctx: InboundContext, participant: Participant, conversation: Conversation): Promise<User> {
  const owner = await tokenOwner(ctx, participant, conversation);
  if (owner.status === "suspended") {
    refuse("not_allowed", `The account of ${owner.email} is suspended, so it cannot post to the conversation "${conversation.subject}".`);
  }
  return owner;
}

/** The participant behind a token, when the message comes from their own address. */
export async function tokenOwner(ctx: InboundContext, participant: Participant, conversation: Conversation): Promise<User> {
  const owner = await findUserById(ctx.tx, participant.userId);
  const from = ctx.inbound.message.from.address;
  if (!owner || owner.email !== from) {
    return refuse(
      "sender_mismatch",
      `This reply address belongs to another participant of the conversation "${conversation.subject}", ` +
        `so a message from ${from} cannot be posted through it. ` +
        "Reply from the address that received the conversation's email.",
    );
  }
  return learnName(ctx.tx, owner, ctx.inbound.message.from.name);
}

/** The author of a message that starts a conversation: known, or staged from their address. */
export async function senderAsUser(ctx: InboundContext): Promise<User> {
  const { address, name } = ctx.inbound.message.from;
  // An inbox (or any address of ours) as a staged user would have Postern write to itself, and the
  // real author would never hear back: group-forwarded mail names its author elsewhere (group-forward.ts).
  if (classifyAddress(address, ctx.config.domains, ctx.config.fromAddress).type !== "foreign") {
    refuse(
      "not_allowed",
      `${address} is an address of this gateway, so it cannot start a conversation. ` +
        "A group or forwarder passing mail on under this address must name the original author in X-Original-From or Reply-To.",
    );
  }
  const user = await learnName(ctx.tx, await findOrStageUser(ctx, { email: address, name }), name);
  if (user.status === "suspended") refuse("not_allowed", `The account of ${user.email} is suspended.`);
  return user;
}

export function checkedAttachments(ctx: InboundContext): readonly AttachmentInput[] {
  const attachments = ctx.inbound.message.attachments;
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

/** The mail-log reason: what happened, and who the message's To/Cc brought in or did not. */
export function describe(what: string, cc: { added: string[]; skipped: string[] }): string {
  const parts = [what];
  if (cc.added.length) parts.push(`added ${cc.added.join(", ")}`);
  if (cc.skipped.length) parts.push(`not added: ${cc.skipped.join("; ")}`);
  return parts.join("; ");
}

/**
 * The attachments of an answer (a reply, a note, a private reply), once it is known to say
 * something: empty after its quotes were trimmed and without attachments, it is refused.
 */
export function answerAttachments(ctx: InboundContext, what: "reply" | "internal note" | "private reply"): readonly AttachmentInput[] {
  const attachments = checkedAttachments(ctx);
  if (!ctx.inbound.content.reply.text.trim() && attachments.length === 0) {
    refuse(
      "empty_reply",
      `Your ${what} was empty once the quoted earlier messages were removed, so nothing was ${what === "private reply" ? "sent" : "posted"}. ` +
        `Write your ${what === "internal note" ? "note" : "answer"} above the quoted text and send it again.`,
    );
  }
  return attachments;
}
