import { refuse } from "../../errors/refusal.js";
import { findParticipant } from "../../domain/conversations.repo.js";
import { findUserByEmail } from "../../domain/users.repo.js";
import { createPost, publishPost } from "../../domain/posts.service.js";
import type { Conversation, Participant } from "../../domain/records.js";
import { joinDirectRecipients } from "../cc.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { mayPostWithoutToken } from "../authenticate.js";
import { findThread } from "../thread.js";
import { assertSender, checkedAttachments, describe } from "./shared.js";

/** reply+TOKEN@: the participant's answer becomes a post that everyone else receives. */
export async function handleReply(ctx: InboundContext, conversation: Conversation, participant: Participant): Promise<AppliedOutcome> {
  const author = await assertSender(ctx, participant, conversation);
  if (conversation.state !== "open") {
    refuse("conversation_closed", `The conversation "${conversation.subject}" is ${conversation.state} and does not accept replies now.`);
  }
  const { inbound } = ctx;
  const attachments = checkedAttachments(ctx);
  if (!inbound.trimmed.trim() && attachments.length === 0) {
    refuse(
      "empty_reply",
      "Your reply was empty once the quoted earlier messages were removed, so nothing was posted. " +
        "Write your answer above the quoted text and send it again.",
    );
  }
  const cc = await joinDirectRecipients(ctx, conversation, author, inbound.message);
  const post = await createPost(ctx, conversation, {
    author,
    body: inbound.trimmed,
    rawBody: inbound.message.text,
    sourceMessageId: inbound.message.messageId ?? null,
    inboundId: ctx.inboundId,
    attachments,
  });
  await publishPost(ctx, conversation, post, cc.alreadyReceived);
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
 * Undefined when it answers no conversation the sender takes part in (within `scope`: a group's
 * conversations for its inbox, conversations the member takes part in for their alias).
 *
 * A Message-ID is no secret, so with [auth] thread_without_token = "authenticated" (the default)
 * the From address must also be authenticated (a DMARC-aligned pass, SPEC §3). When it answers a
 * participant's conversation but is not, it is refused on every route (sender_unauthenticated)
 * with a sentence sending the sender to their own copy, whose reply address carries their token:
 * starting a new conversation instead would look to a genuine participant as if the reply vanished.
 */
export async function handleThreadedReply(ctx: InboundContext, scope: { groupId?: number; memberId?: number } = {}): Promise<AppliedOutcome | undefined> {
  const sender = await findUserByEmail(ctx.tx, ctx.inbound.message.from.address);
  const match = await findThread(ctx.tx, ctx.inbound.message.threadIds, sender);
  const inScope =
    match &&
    (!scope.groupId || match.conversation.groupId === scope.groupId) &&
    (!scope.memberId || (await findParticipant(ctx.tx, match.conversation.id, scope.memberId))?.state === "active");
  if (!(match && inScope && match.participant)) return undefined;
  if (ctx.config.auth.thread_without_token === "authenticated" && !mayPostWithoutToken(ctx.inbound.auth)) {
    refuse("sender_unauthenticated", unauthenticatedThreadSentence(ctx.inbound.message.from.address, match.conversation.subject));
  }
  return handleReply(ctx, match.conversation, match.participant);
}

function unauthenticatedThreadSentence(from: string, subject: string): string {
  return (
    `This message answers the conversation "${subject}", but the domain of ${from} could not be authenticated (DMARC), ` +
    "so it cannot be posted through this address. To answer, reply to the copy of the conversation you received, " +
    "whose reply address is your own."
  );
}
