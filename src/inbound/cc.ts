import { admit } from "../domain/admission.service.js";
import { checkAddress } from "../domain/address-syntax.js";
import { classifyAddress } from "../domain/addresses.js";
import type { DomainContext } from "../domain/context.js";
import { historyOf, welcomeLateJoiners } from "../domain/membership.service.js";
import { lastSentPostId } from "../domain/posts.repo.js";
import type { Conversation, User } from "../domain/records.js";
import { findUserByEmail } from "../domain/users.repo.js";
import type { ParsedMessage } from "./parse.js";

export interface CcResult {
  /** Users who got this message directly (To/Cc) and so get no copy of it from Postern. */
  readonly alreadyReceived: Set<number>;
  readonly added: string[];
  readonly skipped: string[];
}

export interface JoinOptions {
  /**
   * The message starts the conversation: the people it was written to are there from the start,
   * so they get no catch-up and nobody is told they joined. Otherwise (a reply) they joined later.
   */
  readonly starting?: boolean;
}

/**
 * People the author wrote to directly, besides Postern's own addresses, join the conversation
 * through the admission rule, up to the configured caps per message. An address that is not
 * usable is skipped with its reason: one odd Cc never refuses a whole message.
 *
 * On a reply, call this before the reply becomes a post: those who join get a catch-up of the
 * posts before it (they have the reply itself directly), and the others are told who joined.
 */
export async function joinDirectRecipients(
  ctx: DomainContext,
  conversation: Conversation,
  author: User,
  message: ParsedMessage,
  options: JoinOptions = {},
): Promise<CcResult> {
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
  // An invitation not yet accepted: whoever joined now would read what the invitee has not
  // agreed to receive, and turn a request for consent into a group conversation.
  if (conversation.state === "pending") {
    for (const address of names.keys()) result.skipped.push(`${address} (the conversation waits for its invitation to be answered)`);
    return result;
  }
  // Most replies name nobody new: nothing to look up, nobody to welcome.
  if (names.size === 0) return result;
  const upTo = options.starting ? undefined : await lastSentPostId(ctx.tx, conversation.id, false);
  const joiners: User[] = [];
  let invited = 0;
  let staged = 0;
  for (const [address, name] of names) {
    if (invited >= config.conversations.max_cc_participants) {
      result.skipped.push(`${address} (more than ${config.conversations.max_cc_participants} CC'd addresses)`);
      continue;
    }
    const unknown = !(await findUserByEmail(ctx.tx, address));
    if (unknown && staged >= config.staged_users.max_per_message) {
      result.skipped.push(`${address} (more than ${config.staged_users.max_per_message} new staged users in one message, staged_users.max_per_message)`);
      continue;
    }
    const admission = await admit(ctx, { conversation, candidate: { address, name }, by: author, way: "cc" });
    switch (admission.kind) {
      case "admitted":
        result.alreadyReceived.add(admission.user.id);
        result.added.push(address);
        joiners.push(admission.user);
        invited += 1;
        if (unknown) staged += 1;
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
  if (!options.starting) {
    await welcomeLateJoiners(ctx, {
      conversation,
      joiners,
      by: author,
      history: historyOf(ctx, undefined),
      // Nothing sent yet: welcomeLateJoiners finds no post at or below 0, so no catch-up.
      upToPostId: upTo ?? 0,
    });
  }
  return result;
}
