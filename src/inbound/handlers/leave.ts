import { leave } from "../../domain/membership.service.js";
import type { Conversation, Participant } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { tokenOwner } from "./shared.js";

/**
 * leave+TOKEN@ (List-Unsubscribe): the participant stops taking part and is told so in one line.
 * A suspended account may still leave: leaving only ever means less mail.
 */
export async function handleLeave(ctx: InboundContext, conversation: Conversation, participant: Participant): Promise<AppliedOutcome> {
  const user = await tokenOwner(ctx, participant, conversation);
  await leave(ctx, conversation, user, { confirm: true });
  return { outcome: "accepted", reason: `left conversation ${conversation.id}`, conversationId: conversation.id };
}
