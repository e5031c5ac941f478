import { Refusal, type RefusalReason } from "../errors/refusal.js";
import { can } from "./abilities.js";
import type { DomainContext } from "./context.js";
import { addParticipant } from "./participants.service.js";
import { countParticipantsAddedBySince, findParticipant, participantsWithUsers } from "./conversations.repo.js";
import type { Conversation, Participant, ParticipantRole, User } from "./records.js";
import { findUserByEmail } from "./users.repo.js";
import { findOrStageUser } from "./users.service.js";

/**
 * The one rule for letting someone into a conversation, whichever way they come: named when a
 * conversation starts (mail to an alias, `conversations create`), CC'd on mail, or added from
 * the CLI. The same check that refuses a command skips a CC'd address: a message is never refused
 * because of someone it was copied to.
 */
export type AdmissionWay = "start" | "cc" | "add";

export interface AdmissionRequest {
  readonly conversation: Conversation;
  /** A known user, or a valid normalised address (staged when unknown and allowed). */
  readonly candidate: User | { readonly address: string; readonly name?: string | null };
  /** Who brings them in: the author of the message or the person running the command. */
  readonly by: User;
  readonly way: AdmissionWay;
  readonly role?: ParticipantRole;
  /** How a refusal names them: a stranger writing to an alias must not learn the member's address. */
  readonly shownAs?: string;
}

export type Admission =
  | { readonly kind: "admitted"; readonly user: User; readonly participant: Participant }
  /** Not added; `user` is set when they already take part (so they already have the message). */
  | { readonly kind: "skipped"; readonly address: string; readonly reason: string; readonly user?: User }
  | { readonly kind: "refused"; readonly address: string; readonly refusal: Refusal };

export async function admit(ctx: DomainContext, request: AdmissionRequest): Promise<Admission> {
  const { tx, config } = ctx;
  const { conversation, by, way } = request;
  const known = "id" in request.candidate ? request.candidate : await findUserByEmail(tx, request.candidate.address);
  const address = known?.email ?? ("address" in request.candidate ? request.candidate.address : "");
  const shownAs = request.shownAs ?? address;
  // Refusals of a command or a new conversation; on mail CC the same rule only skips the address.
  const deny = (reason: RefusalReason, sentence: string, skipReason: string): Admission =>
    way === "cc"
      ? { kind: "skipped", address, reason: skipReason }
      : { kind: "refused", address, refusal: new Refusal(reason, sentence) };

  const existing = known && (await findParticipant(tx, conversation.id, known.id));
  if (known && existing?.state === "active") {
    if (way === "add") return { kind: "refused", address, refusal: new Refusal("already_exists", `${shownAs} already takes part in conversation ${conversation.id}.`) };
    return { kind: "skipped", address, reason: "already takes part", user: known };
  }
  // Consent (SPEC §5): an invitee comes in only by accepting; adding them again must not skip it.
  if (known && existing?.state === "invited") {
    if (way === "add") return { kind: "refused", address, refusal: new Refusal("already_exists", `${shownAs} is already invited to conversation ${conversation.id} and takes part once they accept.`) };
    return { kind: "skipped", address, reason: "already invited", user: known };
  }
  // A stranger (or anyone staged) never brings outside addresses in by CC unless configured:
  // otherwise mail to an inbox would make Postern relay the stranger's message to third parties.
  if (way === "cc" && by.status === "staged" && !config.staged_users.invite_by_cc) {
    return { kind: "skipped", address, reason: STAGED_MAY_NOT_CC };
  }
  if (way === "cc" && !can(config, by, "invite_by_cc")) {
    return { kind: "skipped", address, reason: "the author may not invite by CC" };
  }
  if (way === "add") {
    const byParticipant = await findParticipant(tx, conversation.id, by.id);
    if (byParticipant?.state !== "active" && !can(config, by, "add_participants")) {
      return deny("not_allowed", `${by.email} does not take part in conversation ${conversation.id} and may not add people to it.`, "");
    }
  }
  if (!known) {
    // Writing to an address without an account creates a staged user: an ability of its own.
    // CC'd addresses are the exception (they were written to by the author already).
    if (way !== "cc" && !can(config, by, "write_to_email")) {
      return deny("not_allowed", `${address} has no account, and ${by.email} (role ${by.role}) may not write to email addresses.`, "");
    }
    if (!config.staged_users.enabled) {
      return deny(
        "staged_users_disabled",
        `${address} has no account here, and this gateway does not accept mail from or to unknown addresses.`,
        "unknown, and staged users are disabled",
      );
    }
  } else {
    const unreachable = unreachability(known, shownAs, reachabilityRules(ctx));
    if (unreachable) return deny("user_unreachable", unreachable.sentence, unreachable.skipReason);
  }
  const capped = await beyondCaps(ctx, request, shownAs);
  if (capped) return deny("not_allowed", capped.sentence, capped.skipReason);
  const user =
    known ?? (await findOrStageUser(ctx, { email: address, name: "name" in request.candidate ? request.candidate.name ?? null : null, invitedBy: by }));
  const participant = await addParticipant(ctx, conversation, user, { role: request.role ?? "member", addedBy: by });
  return { kind: "admitted", user, participant };
}

export const STAGED_MAY_NOT_CC = "the author is not a member, and staged users may not invite by CC (staged_users.invite_by_cc)";

const DAY_MS = 86_400_000;

/**
 * The caps on how far one conversation, and one inviter, may grow: `conversations.max_participants`
 * for every way in, and `conversations.max_cc_invites_per_day` (0: no limit) for CC. Each names its key.
 */
async function beyondCaps(
  ctx: DomainContext,
  request: AdmissionRequest,
  shownAs: string,
): Promise<{ readonly sentence: string; readonly skipReason: string } | undefined> {
  const { tx, config, now } = ctx;
  const { conversation, by, way } = request;
  const max = config.conversations.max_participants;
  const taking = (await participantsWithUsers(tx, conversation.id)).filter((row) => row.participant.state === "active" || row.participant.state === "invited");
  if (taking.length >= max) {
    return {
      sentence: `Conversation ${conversation.id} already has ${taking.length} participants, the most allowed (conversations.max_participants = ${max}), so ${shownAs} was not added.`,
      skipReason: `the conversation already has ${taking.length} participants (conversations.max_participants = ${max})`,
    };
  }
  const perDay = config.conversations.max_cc_invites_per_day;
  if (way === "cc" && perDay > 0) {
    const invited = await countParticipantsAddedBySince(tx, by.id, now - DAY_MS);
    if (invited >= perDay) {
      const skipReason = `the author already brought ${invited} people in within 24 hours (conversations.max_cc_invites_per_day = ${perDay})`;
      return { sentence: `${by.email}: ${skipReason}.`, skipReason };
    }
  }
  return undefined;
}

/** Admits or throws the refusal: for the ways in (start, add) where a refusal stops the whole operation. */
export async function admitOrRefuse(ctx: DomainContext, request: AdmissionRequest): Promise<Extract<Admission, { kind: "admitted" | "skipped" }>> {
  const admission = await admit(ctx, request);
  if (admission.kind === "refused") throw admission.refusal;
  return admission;
}

export interface ReachabilityRules {
  /** `reachability.inactive_days`; 0: activity does not matter. */
  readonly inactiveDays: number;
  readonly now: number;
}

export function reachabilityRules(ctx: DomainContext): ReachabilityRules {
  return { inactiveDays: ctx.config.reachability.inactive_days, now: ctx.now };
}

/**
 * Why a user cannot be brought into a new conversation, named as `shownAs`; undefined when they can.
 * Bringing someone in respects their wish not to receive messages, and SPIP's rule that people
 * gone quiet for long are not written to (their address may be dead). Replies in conversations
 * they already take part in never ask.
 */
export function unreachableBecause(user: User, shownAs = user.email, rules?: ReachabilityRules): string | undefined {
  return unreachability(user, shownAs, rules)?.sentence;
}

function unreachability(user: User, shownAs: string, rules: ReachabilityRules | undefined): { sentence: string; skipReason: string } | undefined {
  // A suspended address is one whose mail kept bouncing, or an account an admin stopped.
  if (user.status === "suspended") return { sentence: `${shownAs} cannot receive messages: the account is suspended.`, skipReason: "does not accept messages" };
  if (user.bouncingSince !== null) return { sentence: `${shownAs} cannot receive messages: mail to it keeps bouncing.`, skipReason: "mail to it keeps bouncing" };
  if (!user.messagesEnabled) return { sentence: `${shownAs} does not accept new conversations.`, skipReason: "does not accept messages" };
  if (rules && rules.inactiveDays > 0 && rules.now - (user.lastActiveAt ?? user.createdAt) > rules.inactiveDays * DAY_MS) {
    const days = rules.inactiveDays === 1 ? "a day" : `${rules.inactiveDays} days`;
    return {
      sentence: `${shownAs} cannot be brought into new conversations: they have not been active for more than ${days}.`,
      skipReason: `inactive for more than ${days} (reachability.inactive_days)`,
    };
  }
  return undefined;
}
