import { refuse } from "../../errors/refusal.js";
import { findGroupById } from "../../domain/groups.repo.js";
import { createAndPublishPost } from "../../domain/posts.service.js";
import type { Conversation, Participant } from "../../domain/records.js";
import { isDeskMember } from "../../domain/visibility.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { leaveOnRequest } from "./leave.js";
import { assertSender, answerAttachments, describe } from "./shared.js";

/**
 * note+TOKEN@ (TOKEN: a group member's reply token in one of the group's inbox conversations):
 * an internal note, which only the group's members receive and the outside person never sees.
 * Addresses on To or Cc are not brought in: a note never adds anyone to the conversation.
 */
export async function handleNote(ctx: InboundContext, conversation: Conversation, participant: Participant): Promise<AppliedOutcome> {
  const author = await assertSender(ctx, participant, conversation);
  // The route checks this too; a reply to a note without a token reaches here through its threading headers.
  if (!(await isDeskMember(ctx.tx, conversation, author.id))) {
    const group = conversation.groupId === null ? undefined : await findGroupById(ctx.tx, conversation.groupId);
    refuse(
      "not_allowed",
      `Only the members of ${group ? `the group ${group.name}` : "the group that answers it"} write internal notes in the conversation "${conversation.subject}", ` +
        `and ${author.email} is not one of them (any more), so this note was not posted.`,
    );
  }
  if (conversation.state !== "open") {
    refuse("conversation_closed", `The conversation "${conversation.subject}" is ${conversation.state} and does not accept notes now.`);
  }
  const leaving = await leaveOnRequest(ctx, conversation, participant);
  if (leaving) return leaving;
  const { inbound } = ctx;
  const attachments = answerAttachments(ctx, "internal note");
  const post = await createAndPublishPost(ctx, conversation, {
    author,
    body: inbound.content.reply.text,
    html: inbound.content.reply.html,
    rawBody: inbound.content.untrimmed,
    sourceMessageId: inbound.message.messageId ?? null,
    inboundId: ctx.inboundId,
    attachments,
    note: true,
  });
  const others = [...inbound.message.to, ...inbound.message.cc]
    .map((mailbox) => mailbox.address)
    .filter((address) => !ctx.config.domains.includes(address.slice(address.lastIndexOf("@") + 1)));
  return {
    outcome: "accepted",
    reason: describe(`internal note posted to conversation ${conversation.id}`, { added: [], skipped: others.map((a) => `${a} (a note brings nobody in)`) }),
    conversationId: conversation.id,
    postId: post.id,
  };
}
