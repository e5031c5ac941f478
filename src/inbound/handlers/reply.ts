import { refuse } from "../../errors/refusal.js";
import { acceptInvitation, invitedNames, notAcceptingSentence } from "../../domain/consent.service.js";
import { findParticipant } from "../../domain/conversations.repo.js";
import { findUserByEmail } from "../../domain/users.repo.js";
import { createAndPublishPost } from "../../domain/posts.service.js";
import type { Conversation, Participant } from "../../domain/records.js";
import { joinDirectRecipients } from "../cc.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { mayPostWithoutToken } from "../authenticate.js";
import { findThread } from "../thread.js";
import { isDeskMember } from "../../domain/visibility.js";
import { handleCalendarReply } from "../calendar-reply.js";
import { leaveOnRequest } from "./leave.js";
import { handleNote } from "./note.js";
import { assertSender, answerAttachments, describe } from "./shared.js";

/**
 * reply+TOKEN@: the participant's answer becomes a post that everyone else receives. An invitee's
 * reply accepts the invitation first (SPEC §5); in a conversation still waiting for its invitees,
 * the post is stored and held until someone accepts.
 */
export async function handleReply(ctx: InboundContext, conversation: Conversation, participant: Participant): Promise<AppliedOutcome> {
  const author = await assertSender(ctx, participant, conversation);
  if (conversation.state !== "open" && conversation.state !== "pending") refuse("conversation_closed", notAcceptingSentence(conversation));
  // A calendar's answer to the appointment is an RSVP, not a post.
  const calendar = ctx.inbound.message.calendar;
  if (calendar !== undefined) return handleCalendarReply(ctx, conversation, participant, author, calendar);
  const leaving = await leaveOnRequest(ctx, conversation, participant);
  if (leaving) return leaving;
  const { inbound } = ctx;
  const attachments = answerAttachments(ctx, "reply");
  const accepted = participant.state === "invited";
  // Accepting opens the conversation (and delivers what was held) before the reply is posted to it.
  const current = accepted ? (await acceptInvitation(ctx, conversation.id, participant.id, { tellInitiator: false })).conversation : conversation;
  const cc = await joinDirectRecipients(ctx, current, author, inbound.message);
  const post = await createAndPublishPost(ctx, current, {
    author,
    body: inbound.content.reply.text,
    html: inbound.content.reply.html,
    rawBody: inbound.content.untrimmed,
    sourceMessageId: inbound.message.messageId ?? null,
    inboundId: ctx.inboundId,
    attachments,
  }, cc.alreadyReceived);
  const what =
    current.state === "pending"
      ? `reply stored in conversation ${current.id}, held until ${(await invitedNames(ctx, current)).join(" or ")} accepts the invitation`
      : `${accepted ? "invitation accepted; " : ""}reply posted to conversation ${current.id}`;
  return {
    outcome: "accepted",
    reason: describe(what, cc),
    conversationId: current.id,
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
    (!scope.memberId || isInvolved(await findParticipant(ctx.tx, match.conversation.id, scope.memberId)));
  if (!(match && inScope && match.participant)) return undefined;
  if (ctx.config.auth.thread_without_token === "authenticated" && !mayPostWithoutToken(ctx.inbound.auth)) {
    refuse("sender_unauthenticated", unauthenticatedThreadSentence(ctx.inbound.message.from.address, match.conversation.subject));
  }
  // Answering an internal note from a client that ignores Reply-To (note+): it stays a note.
  if (match.post.note && (await isDeskMember(ctx.tx, match.conversation, match.participant.userId))) {
    return handleNote(ctx, match.conversation, match.participant);
  }
  return handleReply(ctx, match.conversation, match.participant);
}

/** A member takes part in a conversation, or was invited to it: mail to their alias answering it belongs there. */
function isInvolved(participant: Participant | undefined): boolean {
  return participant?.state === "active" || participant?.state === "invited";
}

function unauthenticatedThreadSentence(from: string, subject: string): string {
  return (
    `This message answers the conversation "${subject}", but the domain of ${from} could not be authenticated (DMARC), ` +
    "so it cannot be posted through this address. To answer, reply to the copy of the conversation you received, " +
    "whose reply address is your own."
  );
}
