import { refuse } from "../../errors/refusal.js";
import { startConversation, type StartConversationInput } from "../../domain/conversations.service.js";
import type { User } from "../../domain/records.js";
import { joinDirectRecipients } from "../cc.js";
import { withForwardedMessages } from "../forwarded.js";
import { header } from "../parse.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { checkedAttachments, describe } from "./shared.js";

/** A message that starts a conversation (to an inbox or a member's alias) becomes its first post. */
export async function startFromMessage(
  ctx: InboundContext,
  author: User,
  shape: Pick<StartConversationInput, "kind" | "group" | "recipients">,
  what: string,
): Promise<AppliedOutcome> {
  const { inbound } = ctx;
  const attachments = checkedAttachments(ctx);
  const { text: body, html } = withForwardedMessages(inbound.content.opening, inbound.message.forwarded);
  if (!body.trim() && attachments.length === 0 && !inbound.message.subject.trim()) {
    refuse("empty_reply", "Your message has no subject, no text and no attachment, so no conversation was started.");
  }
  const { conversation, post } = await startConversation(ctx, {
    ...shape,
    subject: inbound.message.subject,
    author,
    threadIndex: header(inbound.message, "thread-index"),
    post: { body, html, rawBody: inbound.content.untrimmed, sourceMessageId: inbound.message.messageId ?? null, inboundId: ctx.inboundId, attachments },
  });
  // Joining after the first post was published: those CC'd already have it and get no copy.
  const cc = await joinDirectRecipients(ctx, conversation, author, inbound.message, { starting: true });
  return { outcome: "accepted", reason: describe(what, cc), conversationId: conversation.id, postId: post.id };
}
