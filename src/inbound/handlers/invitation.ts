import { acceptInvitation, declineInvitation } from "../../domain/consent.service.js";
import type { Conversation, Participant } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { assertSender } from "./shared.js";

/**
 * accept+TOKEN@: the invitee accepts without writing anything (the body is ignored). What the
 * initiator wrote so far reaches them, and the initiator is told.
 */
export async function handleAccept(ctx: InboundContext, conversation: Conversation, participant: Participant): Promise<AppliedOutcome> {
  await assertSender(ctx, participant, conversation);
  const { delivered } = await acceptInvitation(ctx, conversation.id, participant.id, { tellInitiator: true });
  return {
    outcome: "accepted",
    reason: `invitation to conversation ${conversation.id} accepted; ${delivered} held ${delivered === 1 ? "post" : "posts"} delivered`,
    conversationId: conversation.id,
  };
}

/** decline+TOKEN@: the invitee declines; the initiator is told once, and what they wrote stays undelivered. */
export async function handleDecline(ctx: InboundContext, conversation: Conversation, participant: Participant): Promise<AppliedOutcome> {
  await assertSender(ctx, participant, conversation);
  const { conversation: after } = await declineInvitation(ctx, conversation.id, participant.id);
  return {
    outcome: "accepted",
    reason: `invitation to conversation ${conversation.id} declined${after.state === "declined" ? "; the conversation is declined" : ""}`,
    conversationId: conversation.id,
  };
}
