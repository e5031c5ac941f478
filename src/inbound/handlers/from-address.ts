import { recogniseMessageId } from "../../domain/message-ids.js";
import { refuse } from "../../errors/refusal.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { findThread } from "../thread.js";
import { handleThreadedReply } from "./reply.js";

/**
 * conversations@ (the From of conversation mail): clients that ignore Reply-To answer here. Only
 * a participant's reply with threading headers is posted; anything else (an answer to a digest
 * too) is refused with a sentence.
 */
export async function handleFromAddress(ctx: InboundContext): Promise<AppliedOutcome> {
  // A digest covers several conversations, so an answer to it has no one place to go: rather than
  // guess from the quoted text, it is refused with a sentence naming where answers go.
  if (ctx.inbound.message.threadIds.some((id) => recogniseMessageId(ctx.config, id)?.kind === "digest")) {
    refuse(
      "no_thread_found",
      "This message answers a digest, which covers several conversations, so it was not posted anywhere. " +
        "To answer a conversation, write to the address listed under that conversation in the digest.",
    );
  }
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
