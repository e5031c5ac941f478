import { checkPrivateReply, replyPrivately } from "../../domain/private-replies.service.js";
import type { Delivery } from "../../domain/records.js";
import { learnName } from "../../domain/users.service.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { answerAttachments } from "./shared.js";

/**
 * private+TOKEN@ (TOKEN: the bounce token of the copy it appeared in): its recipient answers that
 * post's author alone. Addresses on To or Cc besides it are not brought in: a private reply
 * reaches the author and nobody else.
 */
export async function handlePrivateReply(ctx: InboundContext, delivery: Delivery): Promise<AppliedOutcome> {
  const { inbound } = ctx;
  const target = await checkPrivateReply(ctx.tx, delivery, inbound.message.from.address);
  const sender = await learnName(ctx.tx, target.sender, inbound.message.from.name);
  const attachments = answerAttachments(ctx, "private reply");
  const { conversation, post, continued } = await replyPrivately(ctx, { ...target, sender }, {
    body: inbound.content.reply.text,
    html: inbound.content.reply.html,
    rawBody: inbound.content.untrimmed,
    sourceMessageId: inbound.message.messageId ?? null,
    inboundId: ctx.inboundId,
    attachments,
  });
  const what = continued ? "private reply posted to conversation" : "private reply started conversation";
  return {
    outcome: "accepted",
    reason: `${what} ${conversation.id}, answering post ${delivery.postId ?? "(none)"} of conversation ${target.conversation.id}`,
    conversationId: conversation.id,
    postId: post.id,
  };
}
