import { declineInvitation } from "../../domain/consent.service.js";
import { leave } from "../../domain/membership.service.js";
import type { Conversation, Participant } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { unsubscribeRequest } from "../unsubscribe.js";
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

/**
 * A reply (or note) whose whole text is "unsubscribe", "remove me", "stop"… (unsubscribe.ts): the
 * author asks to leave, so it does what leave+TOKEN@ does, and nobody else receives it. An invitee
 * who answers so declines the invitation instead (they never took part). Undefined for any other reply.
 */
export async function leaveOnRequest(
  ctx: InboundContext,
  conversation: Conversation,
  participant: Participant,
): Promise<AppliedOutcome | undefined> {
  const { message, content } = ctx.inbound;
  const request = unsubscribeRequest({
    text: content.reply.text,
    subject: message.subject,
    attachments: message.attachments.length,
    conversationSubject: conversation.subject,
  });
  if (request === undefined) return undefined;
  const said = `not posted: the reply said only ${JSON.stringify(request.slice(0, 40))}`;
  if (participant.state === "invited") {
    const { conversation: after } = await declineInvitation(ctx, conversation.id, participant.id);
    const declined = after.state === "declined" ? "; the conversation is declined" : "";
    return { outcome: "accepted", reason: `${said}, taken as declining the invitation to conversation ${conversation.id}${declined}`, conversationId: conversation.id };
  }
  const user = await tokenOwner(ctx, participant, conversation);
  await leave(ctx, conversation, user, { confirm: true });
  return { outcome: "accepted", reason: `${said}, taken as leaving conversation ${conversation.id} (as leave+ does)`, conversationId: conversation.id };
}
