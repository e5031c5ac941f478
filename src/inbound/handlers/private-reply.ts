import { refuse } from "../../errors/refusal.js";
import type { Delivery } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";

// Being built (issue 8, private replies): private+TOKEN@.
export async function handlePrivateReply(_ctx: InboundContext, _delivery: Delivery): Promise<AppliedOutcome> {
  return refuse("not_allowed", "Private replies cannot be written by email yet.");
}
