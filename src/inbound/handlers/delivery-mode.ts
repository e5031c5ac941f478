import { refuse } from "../../errors/refusal.js";
import type { Conversation, ConversationDelivery, Participant } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";

// Being built (issue 9, delivery modes): every+TOKEN@, digest+TOKEN@, mute+TOKEN@.
export async function handleDeliveryMode(
  _ctx: InboundContext,
  _conversation: Conversation,
  _participant: Participant,
  _mode: ConversationDelivery,
): Promise<AppliedOutcome> {
  return refuse("not_allowed", "Delivery modes cannot be changed by email yet.");
}
