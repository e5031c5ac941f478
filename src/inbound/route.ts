import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { refuse } from "../errors/refusal.js";
import { classifyAddress, normalizeEmail } from "../domain/addresses.js";
import { notAcceptingSentence } from "../domain/consent.service.js";
import { findConversation, findParticipantByToken } from "../domain/conversations.repo.js";
import { findDeliveryByBounceToken } from "../domain/deliveries.repo.js";
import { findGroupByInbox, isGroupMember } from "../domain/groups.repo.js";
import type { Conversation, ConversationDelivery, Delivery, Group, Participant, User } from "../domain/records.js";
import { findUserByUsername } from "../domain/users.repo.js";

/** Where one recipient address leads. */
export type Route =
  | { readonly type: "reply"; readonly address: string; readonly participant: Participant; readonly conversation: Conversation }
  | { readonly type: "leave"; readonly address: string; readonly participant: Participant; readonly conversation: Conversation }
  | { readonly type: "accept"; readonly address: string; readonly participant: Participant; readonly conversation: Conversation }
  | { readonly type: "decline"; readonly address: string; readonly participant: Participant; readonly conversation: Conversation }
  | { readonly type: "note"; readonly address: string; readonly participant: Participant; readonly conversation: Conversation }
  | {
      readonly type: "delivery_mode";
      readonly address: string;
      readonly mode: ConversationDelivery;
      readonly participant: Participant;
      readonly conversation: Conversation;
    }
  | { readonly type: "private"; readonly address: string; readonly delivery: Delivery }
  | { readonly type: "bounce"; readonly address: string; readonly delivery: Delivery }
  | { readonly type: "from_address"; readonly address: string }
  | { readonly type: "inbox"; readonly address: string; readonly group: Group }
  | { readonly type: "alias"; readonly address: string; readonly user: User }
  | { readonly type: "postmaster"; readonly address: string };

/** When several gateway addresses receive one message, the most specific one decides. */
const PRIORITY: Record<Route["type"], number> = {
  bounce: 0, decline: 1, accept: 2, note: 3, private: 4, delivery_mode: 5, reply: 5, leave: 6, from_address: 7, inbox: 8, alias: 9, postmaster: 10,
};

export function primaryRoute(routes: readonly Route[]): Route | undefined {
  return [...routes].sort((a, b) => PRIORITY[a.type] - PRIORITY[b.type])[0];
}

/**
 * Resolves a recipient, or refuses it: used at RCPT TO (so unroutable mail is refused before its
 * body is sent) and again after DATA, inside the transaction that applies the message.
 */
export async function resolveRoute(tx: Tx, config: Config, rawAddress: string): Promise<Route> {
  const address = normalizeEmail(rawAddress);
  // RFC 5321 §4.5.1: RCPT TO:<Postmaster> without a domain MUST be accepted (any case); smtp-server
  // lets it through as written, and it means the primary domain's postmaster.
  if (address === "postmaster") return { type: "postmaster", address: `postmaster@${config.primaryDomain}` };
  const target = classifyAddress(address, config.domains, config.fromAddress);
  switch (target.type) {
    case "foreign":
      return refuse("relaying_denied", `Postern does not relay mail to ${address}: it only receives mail for ${config.domains.join(", ")}.`);
    case "reserved":
      return refuse("unknown_recipient", `There is no mailbox ${address} here.`);
    case "from_address":
      return { type: "from_address", address };
    case "postmaster":
      return { type: "postmaster", address };
    case "local": {
      const group = await findGroupByInbox(tx, address);
      if (group) return { type: "inbox", address, group };
      const user = await findUserByUsername(tx, target.local);
      if (user && user.status === "active") return { type: "alias", address, user };
      return refuse("unknown_recipient", `There is no mailbox ${address} here.`);
    }
    case "token":
      switch (target.kind) {
        case "reply":
        case "leave":
          return tokenRoute(tx, target.kind, target.token, address);
        case "bounce": {
          const delivery = await findDeliveryByBounceToken(tx, target.token);
          if (!delivery) return refuse("unknown_recipient", `There is no mailbox ${address} here.`);
          return { type: "bounce", address, delivery };
        }
        case "accept":
        case "decline":
          return invitationRoute(tx, target.kind, target.token, address);
        case "note":
          return noteRoute(tx, target.token, address);
        case "private": {
          const delivery = await findDeliveryByBounceToken(tx, target.token);
          if (!delivery || delivery.kind !== "post" || delivery.postId === null) {
            return refuse("unknown_recipient", `The address ${address} does not belong to any conversation.`);
          }
          return { type: "private", address, delivery };
        }
        case "every":
        case "digest":
        case "mute": {
          const route = await tokenRoute(tx, "reply", target.token, address);
          if (route.type !== "reply") return route;
          return { type: "delivery_mode", address, mode: target.kind, participant: route.participant, conversation: route.conversation };
        }
      }
  }
}

async function tokenRoute(tx: Tx, kind: "reply" | "leave", token: string, address: string): Promise<Route> {
  const participant = await findParticipantByToken(tx, kind, token);
  const conversation = participant && (await findConversation(tx, participant.conversationId));
  // A draft's tokens were never sent anywhere: to mail, it does not exist.
  if (!participant || !conversation || conversation.state === "draft") {
    return refuse("unknown_recipient", `The address ${address} does not belong to any conversation.`);
  }
  if (participant.state === "left" || participant.state === "removed") {
    return refuse(
      "participant_gone",
      `You are no longer taking part in the conversation "${conversation.subject}" (you ${participant.state === "left" ? "left it" : "were removed from it"}), so this address no longer accepts mail.`,
    );
  }
  if (kind === "reply" && conversation.state === "declined") return refuse("conversation_closed", notAcceptingSentence(conversation));
  if (kind === "reply" && conversation.state === "closed") {
    return refuse("conversation_closed", `The conversation "${conversation.subject}" is closed and no longer accepts replies.`);
  }
  return { type: kind, address, participant, conversation };
}

/** accept+/decline+ live only while the invitation waits for an answer. */
async function invitationRoute(tx: Tx, kind: "accept" | "decline", token: string, address: string): Promise<Route> {
  const participant = await findParticipantByToken(tx, "reply", token);
  const conversation = participant && (await findConversation(tx, participant.conversationId));
  // A draft's tokens were never sent anywhere: to mail, it does not exist.
  if (!participant || !conversation || conversation.state === "draft") {
    return refuse("unknown_recipient", `The address ${address} does not belong to any invitation.`);
  }
  // Open too: in a group conversation one invitee may accept while the others have not answered yet.
  if (participant.state !== "invited" || (conversation.state !== "pending" && conversation.state !== "open")) {
    const answered =
      participant.state === "active"
        ? "you accepted it already"
        : conversation.state === "declined"
          ? "it was declined"
          : conversation.state === "closed"
            ? "it has expired or the conversation is closed"
            : "it is no longer open";
    return refuse("participant_gone", `The invitation to the conversation "${conversation.subject}" cannot be answered any more: ${answered}.`);
  }
  return { type: kind, address, participant, conversation };
}

/** note+ is a group member's: an internal note into one of the group's inbox conversations. */
async function noteRoute(tx: Tx, token: string, address: string): Promise<Route> {
  const route = await tokenRoute(tx, "reply", token, address);
  if (route.type !== "reply") return route;
  const { participant, conversation } = route;
  if (conversation.kind !== "inbox" || conversation.groupId === null || !(await isGroupMember(tx, conversation.groupId, participant.userId))) {
    return refuse("unknown_recipient", `The address ${address} does not take internal notes: only a group's members have one, in the group's inbox conversations.`);
  }
  return { type: "note", address, participant, conversation };
}

/** Token kinds a message may carry in its header fields; bounce and private tokens only count in the envelope. */
const HEADER_TOKEN_KINDS = new Set(["reply", "note", "leave", "accept", "decline"]);

/**
 * SPEC §3, thread matching: the token is looked for in the envelope first, then in To, Cc,
 * Delivered-To and X-Original-To, for mail a relay re-addressed (to an inbox, an alias or the
 * From address) or whose author put the reply address in Cc. Only the conversation it belongs to
 * comes from here: the message was already accepted for a recipient that routes at RCPT, and the
 * token's route applies its own sender check. The first token address decides (one lookup per
 * message), and a dead one refuses the message, as it would have at RCPT.
 */
export async function headerTokenRoute(
  tx: Tx,
  config: Config,
  fields: { readonly to: readonly { address: string }[]; readonly cc: readonly { address: string }[]; readonly relayedTo: readonly string[] },
): Promise<Route | undefined> {
  const candidates = [...fields.to.map((m) => m.address), ...fields.cc.map((m) => m.address), ...fields.relayedTo];
  for (const candidate of candidates) {
    const address = normalizeEmail(candidate);
    const target = classifyAddress(address, config.domains, config.fromAddress);
    if (target.type === "token" && HEADER_TOKEN_KINDS.has(target.kind)) return resolveRoute(tx, config, address);
  }
  return undefined;
}
