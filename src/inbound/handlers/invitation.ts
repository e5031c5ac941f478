import { refuse } from "../../errors/refusal.js";
import type { Conversation, Participant } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";

// Being built (issue 8, consent): accept+TOKEN@ and decline+TOKEN@.
export async function handleAccept(_ctx: InboundContext, _conversation: Conversation, _participant: Participant): Promise<AppliedOutcome> {
  return refuse("not_allowed", "Invitations cannot be answered by email yet.");
}

export async function handleDecline(_ctx: InboundContext, _conversation: Conversation, _participant: Participant): Promise<AppliedOutcome> {
  return refuse("not_allowed", "Invitations cannot be answered by email yet.");
}
