import { can } from "../domain/abilities.js";
import { classifyAddress } from "../domain/addresses.js";
import { addParticipant, isReachable, type DomainContext } from "../domain/conversations.service.js";
import { findParticipant } from "../domain/conversations.repo.js";
import { findUserByEmail } from "../domain/users.repo.js";
import { findOrStageUser } from "../domain/users.service.js";
import type { Conversation, User } from "../../schema/schema.js";
import type { ParsedMessage } from "./parse.js";

export interface CcResult {
  /** Users who got this message directly (To/Cc) and so get no copy of it from Postern. */
  readonly alreadyReceived: Set<number>;
  readonly added: string[];
  readonly skipped: string[];
}

/**
 * People the author wrote to directly, besides Postern's own addresses, join the conversation
 * (staged when unknown) if the author may invite by CC, up to the configured cap per message.
 */
export function joinDirectRecipients(
  ctx: DomainContext,
  conversation: Conversation,
  author: User,
  message: ParsedMessage,
): CcResult {
  const { config } = ctx;
  const result: CcResult = { alreadyReceived: new Set(), added: [], skipped: [] };
  const addresses = [...new Set([...message.to, ...message.cc].map((a) => a.address))].filter(
    (address) => address !== author.email && classifyAddress(address, config.domains, config.fromAddress).type === "foreign",
  );
  const names = new Map([...message.to, ...message.cc].map((a) => [a.address, a.name]));
  const mayInvite = can(config, author, "invite_by_cc");
  let invited = 0;
  for (const address of addresses) {
    const known = findUserByEmail(ctx.db, address);
    const existing = known && findParticipant(ctx.db, conversation.id, known.id);
    if (known && existing?.state === "active") {
      result.alreadyReceived.add(known.id);
      continue;
    }
    if (!mayInvite) {
      result.skipped.push(`${address} (the author may not invite by CC)`);
      continue;
    }
    if (invited >= config.conversations.max_cc_participants) {
      result.skipped.push(`${address} (more than ${config.conversations.max_cc_participants} CC'd addresses)`);
      continue;
    }
    if (!known && !config.staged_users.enabled) {
      result.skipped.push(`${address} (unknown, and staged users are disabled)`);
      continue;
    }
    const user = known ?? findOrStageUser(ctx.db, config, { email: address, name: names.get(address) ?? null, invitedBy: author }, ctx.now);
    if (!isReachable(user)) {
      result.skipped.push(`${address} (does not accept messages)`);
      continue;
    }
    addParticipant(ctx, conversation, user, { role: "member", addedBy: author });
    result.alreadyReceived.add(user.id);
    result.added.push(address);
    invited += 1;
  }
  return result;
}
