import { inboxStarters, mayStartThroughInbox, type InboxStarter } from "../../domain/abilities.js";
import type { Group, User } from "../../domain/records.js";
import { refuse } from "../../errors/refusal.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import { handleThreadedReply } from "./reply.js";
import { senderAsUser } from "./shared.js";
import { startFromMessage } from "./start.js";

/** GROUP@: a reply into one of the group's conversations, or a new conversation with the group. */
export async function handleInbox(ctx: InboundContext, group: Group): Promise<AppliedOutcome> {
  const threaded = await handleThreadedReply(ctx, { groupId: group.id });
  if (threaded) return threaded;
  const author = await senderAsUser(ctx);
  if (!mayStartThroughInbox(ctx.config, author, group)) refuse("not_allowed", notOpenTo(ctx, group, author));
  return startFromMessage(ctx, author, { kind: "inbox", group, recipients: [] }, `new inbox conversation for ${group.name}`);
}

const STARTER_NAMES: Record<InboxStarter, string> = {
  staged: "people without an account",
  member: "members",
  staff: "staff",
  admin: "admins",
};

/** abilities.inboxes said no: which inbox, who it is open to, and why this sender is not. */
function notOpenTo(ctx: InboundContext, group: Group, author: User): string {
  const starters = inboxStarters(ctx.config, group) ?? [];
  const who = author.status === "staged" ? `${author.email} has no account here` : `${author.email} has the role ${author.role}`;
  if (starters.length === 0) return `The inbox ${group.inboxAddress} does not accept new conversations, so this message was not posted.`;
  const names = starters.map((starter) => STARTER_NAMES[starter]);
  const open = names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}` : names[0];
  return `The inbox ${group.inboxAddress} accepts new conversations only from ${open}; ${who}, so this message was not posted.`;
}
