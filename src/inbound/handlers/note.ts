import { refuse } from "../../errors/refusal.js";
import type { Conversation, Participant } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";

// Being built (issue 8, internal notes): note+TOKEN@.
export async function handleNote(_ctx: InboundContext, _conversation: Conversation, _participant: Participant): Promise<AppliedOutcome> {
  return refuse("not_allowed", "Internal notes cannot be written by email yet.");
}
