import { setConversationDelivery } from "../../domain/delivery-modes.service.js";
import type { Conversation, ConversationDelivery, Participant } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { assertSender } from "./shared.js";

/**
 * every+/digest+/mute+TOKEN@: the participant chooses how this conversation reaches them; the
 * message's text is not posted. Only their own address may change it, as for a reply.
 */
export async function handleDeliveryMode(
  ctx: InboundContext,
  conversation: Conversation,
  participant: Participant,
  mode: ConversationDelivery,
): Promise<AppliedOutcome> {
  const user = await assertSender(ctx, participant, conversation);
  await setConversationDelivery(ctx, conversation, participant, user, mode);
  return { outcome: "accepted", reason: `delivery of conversation ${conversation.id} set to ${mode}`, conversationId: conversation.id };
}
