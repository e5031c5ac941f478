import type { Group } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { handleThreadedReply } from "./reply.js";
import { senderAsUser } from "./shared.js";
import { startFromMessage } from "./start.js";

/** GROUP@: a reply into one of the group's conversations, or a new conversation with the group. */
export async function handleInbox(ctx: InboundContext, group: Group): Promise<AppliedOutcome> {
  const threaded = await handleThreadedReply(ctx, { groupId: group.id });
  if (threaded) return threaded;
  const author = await senderAsUser(ctx);
  return startFromMessage(ctx, author, { kind: "inbox", group, recipients: [] }, `new inbox conversation for ${group.name}`);
}
