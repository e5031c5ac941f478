import type { DomainContext } from "./context.js";
import { setParticipantDelivery } from "./digests.repo.js";
import { notify } from "./notices.service.js";
import type { Conversation, ConversationDelivery, Participant, User } from "./records.js";

/** How a participant receives one conversation: "none" (the user's own preference) and "mute" both mean no mail. */
export type EffectiveDelivery = ConversationDelivery | "none";

/** The conversation's own mode wins; otherwise the user's preference. */
export function effectiveDelivery(participant: Pick<Participant, "delivery">, user: Pick<User, "delivery">): EffectiveDelivery {
  return participant.delivery ?? user.delivery;
}

/**
 * every+/digest+/mute+TOKEN@: sets this conversation's mode for the participant and confirms it in
 * one line. Fan-out reads the mode when a post is published, so it applies from the next post on.
 */
export async function setConversationDelivery(
  ctx: DomainContext,
  conversation: Conversation,
  participant: Participant,
  user: User,
  mode: ConversationDelivery,
): Promise<void> {
  if (!(await setParticipantDelivery(ctx.tx, participant.id, mode))) {
    throw new Error(`participant ${participant.id} no longer takes part in conversation ${conversation.id}`);
  }
  await notify(ctx, { kind: "delivery_mode", conversation, about: user, recipients: [user] });
}
