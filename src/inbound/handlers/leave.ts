import { leaveConversation } from "../../domain/participants.service.js";
import type { Conversation, Participant } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { assertSender } from "./shared.js";

/** leave+TOKEN@ (List-Unsubscribe): the participant stops taking part. */
export async function handleLeave(ctx: InboundContext, conversation: Conversation, participant: Participant): Promise<AppliedOutcome> {
  await assertSender(ctx, participant, conversation);
  await leaveConversation(ctx, participant);
  return { outcome: "accepted", reason: `left conversation ${conversation.id}`, conversationId: conversation.id };
}
