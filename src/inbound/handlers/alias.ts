import { refuse } from "../../errors/refusal.js";
import { can } from "../../domain/abilities.js";
import { consentRequired } from "../../domain/consent.service.js";
import type { User } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { handleThreadedReply } from "./reply.js";
import { senderAsUser } from "./shared.js";
import { startFromMessage } from "./start.js";

/**
 * USERNAME@: a direct conversation with that member. Refusals and the reason (the text of the 250
 * reply the sender's side reads) name the alias, never the member's own address.
 */
export async function handleAlias(ctx: InboundContext, member: User, alias: string): Promise<AppliedOutcome> {
  // Only into a conversation with this member: elsewhere the member would never see it.
  const threaded = await handleThreadedReply(ctx, { memberId: member.id });
  if (threaded) return threaded;
  const author = await senderAsUser(ctx);
  if (!can(ctx.config, author, "start_direct")) {
    refuse("not_allowed", `${author.email} may not start conversations with ${alias}.`);
  }
  // Consent (SPEC §5): the member is invited; nothing reaches them until they accept.
  const what = consentRequired(ctx.config, "direct")
    ? `new direct conversation with ${alias}, waiting for ${alias} to accept the invitation`
    : `new direct conversation with ${alias}`;
  return startFromMessage(ctx, author, { kind: "direct", recipients: [{ candidate: member, shownAs: alias }] }, what);
}
