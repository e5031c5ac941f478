import { refuse } from "../../errors/refusal.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { findThread } from "../thread.js";
import { handleThreadedReply } from "./reply.js";

/**
 * conversations@ (the From of conversation mail): clients that ignore Reply-To answer here. Only
 * a participant's reply with threading headers is posted; anything else is refused with a sentence.
 */
export async function handleFromAddress(ctx: InboundContext): Promise<AppliedOutcome> {
  const threaded = await handleThreadedReply(ctx);
  if (threaded) return threaded;
  const { message } = ctx.inbound;
  const match = await findThread(ctx.tx, message.threadIds, undefined);
  if (match) {
    refuse(
      "not_a_participant",
      `${message.from.address} is not taking part in the conversation "${match.conversation.subject}", so this message cannot be posted to it.`,
    );
  }
  return refuse(
    "no_thread_found",
    "This address only receives replies to conversations, and this message does not answer any conversation you take part in. " +
      "To answer a conversation, reply to one of its emails.",
  );
}
