import { admit } from "../domain/admission.service.js";
import { checkAddress } from "../domain/address-syntax.js";
import { classifyAddress } from "../domain/addresses.js";
import type { DomainContext } from "../domain/context.js";
import type { Conversation, User } from "../domain/records.js";
import type { ParsedMessage } from "./parse.js";

export interface CcResult {
  /** Users who got this message directly (To/Cc) and so get no copy of it from Postern. */
  readonly alreadyReceived: Set<number>;
  readonly added: string[];
  readonly skipped: string[];
}

/**
 * People the author wrote to directly, besides Postern's own addresses, join the conversation
 * through the admission rule, up to the configured cap per message. An address that is not
 * usable is skipped with its reason: one odd Cc never refuses a whole message.
 */
export async function joinDirectRecipients(ctx: DomainContext, conversation: Conversation, author: User, message: ParsedMessage): Promise<CcResult> {
  const { config } = ctx;
  const result: CcResult = { alreadyReceived: new Set(), added: [], skipped: [] };
  const names = new Map<string, string>();
  for (const entry of [...message.to, ...message.cc]) {
    const check = checkAddress(entry.address);
    if (!check.ok) {
      result.skipped.push(`${JSON.stringify(entry.address)} (${check.reason})`);
      continue;
    }
    if (check.address === author.email || names.has(check.address)) continue;
    if (classifyAddress(check.address, config.domains, config.fromAddress).type !== "foreign") continue;
    names.set(check.address, entry.name);
  }
  let invited = 0;
  for (const [address, name] of names) {
    if (invited >= config.conversations.max_cc_participants) {
      result.skipped.push(`${address} (more than ${config.conversations.max_cc_participants} CC'd addresses)`);
      continue;
    }
    const admission = await admit(ctx, { conversation, candidate: { address, name }, by: author, way: "cc" });
    switch (admission.kind) {
      case "admitted":
        result.alreadyReceived.add(admission.user.id);
        result.added.push(address);
        invited += 1;
        break;
      case "skipped":
        if (admission.user) result.alreadyReceived.add(admission.user.id);
        else result.skipped.push(`${address} (${admission.reason})`);
        break;
      case "refused":
        result.skipped.push(`${address} (${admission.refusal.sentence})`);
        break;
    }
  }
  return result;
}
