import { checkAddress } from "../domain/address-syntax.js";
import { classifyAddress } from "../domain/addresses.js";
import { findGroupByInbox } from "../domain/groups.repo.js";
import type { Tx } from "../db/store.js";
import type { Config } from "../config/config.js";
import type { PreparedInbound } from "./inbound.js";
import { header, type MailAddress } from "./parse.js";
import type { Route } from "./route.js";

/**
 * A group or forwarder passing a customer's mail on to an inbox: a Google Group whose address is
 * the inbox's own re-sends it "via" the inbox (From: the inbox, the customer in X-Original-From
 * and Reply-To), and any Google Group marks what it passes on `Precedence: list`.
 *
 * - `none`: nothing of the kind; the message is what it says it is.
 * - `forwarded`: the message as the customer's. From is the original author, and the message
 *   counts as unauthenticated (auth undefined): the author's address comes from a header anyone
 *   writes, and the group's DMARC pass is for the group's domain, not the customer's. It may start
 *   a conversation, or reply through a token, as any stranger may; never thread by Message-ID.
 * - `loop`: From is the inbox but no outside author is named, or the named author is one of
 *   Postern's own addresses (its own copy come back through the group): dropped like any loop.
 */
export type GroupForward =
  | { readonly kind: "none" }
  | { readonly kind: "forwarded"; readonly inbound: PreparedInbound; readonly via: string; readonly author: MailAddress; readonly field: string }
  | { readonly kind: "loop"; readonly reason: string };

export async function readGroupForward(tx: Tx, config: Config, inbound: PreparedInbound, route: Route): Promise<GroupForward> {
  const { message, classification } = inbound;
  const from = message.from.address;
  const fromIsInbox = classifyAddress(from, config.domains, config.fromAddress).type === "local" && !!(await findGroupByInbox(tx, from));
  const listToInbox =
    route.type === "inbox" &&
    classification.kind === "automatic" &&
    classification.listOnly === true &&
    (fromIsInbox || isGoogleGroup(inbound) || (await listIsInbox(tx, config, inbound)));
  if (!fromIsInbox) {
    if (!listToInbox) return { kind: "none" };
    return { kind: "forwarded", inbound: asHuman(inbound, message.from), via: listAddresses(inbound)[0] ?? from, author: message.from, field: "From" };
  }
  if (classification.kind === "loop") return { kind: "none" };
  if (classification.kind === "automatic" && !listToInbox) return { kind: "none" };
  const named = message.originalFrom ? { author: message.originalFrom, field: "X-Original-From" } : message.replyTo[0] ? { author: message.replyTo[0], field: "Reply-To" } : undefined;
  if (!named) return { kind: "loop", reason: `loop: From is the inbox ${from} itself and no original author is named (X-Original-From or Reply-To)` };
  const check = checkAddress(named.author.address);
  if (!check.ok) return { kind: "loop", reason: `loop: From is the inbox ${from} itself and its ${named.field} cannot be used (${check.reason})` };
  if (classifyAddress(check.address, config.domains, config.fromAddress).type !== "foreign") {
    return { kind: "loop", reason: `loop: From is the inbox ${from} itself and its ${named.field} ${check.address} is Postern's own address` };
  }
  const author = { address: check.address, name: named.author.name };
  return { kind: "forwarded", inbound: asHuman(inbound, author), via: from, author, field: named.field };
}

function asHuman(inbound: PreparedInbound, author: MailAddress): PreparedInbound {
  return { ...inbound, message: { ...inbound.message, from: author }, classification: { kind: "human" }, auth: undefined };
}

/** Google Groups (googlegroups.com or a Workspace domain) name themselves in these fields. */
function isGoogleGroup(inbound: PreparedInbound): boolean {
  const { message } = inbound;
  if (header(message, "x-google-group-id") !== undefined) return true;
  return /@googlegroups\.com\b/i.test(header(message, "mailing-list") ?? "");
}

/** The list's own address, from `Mailing-list: list ADDRESS; …` and `List-Post: <mailto:ADDRESS>`. */
function listAddresses(inbound: PreparedInbound): string[] {
  const { message } = inbound;
  const found: string[] = [];
  const mailingList = /\blist\s+([^\s;<>]+@[^\s;<>]+)/i.exec(header(message, "mailing-list") ?? "")?.[1];
  if (mailingList) found.push(mailingList.toLowerCase());
  // mailparser gathers the List-* fields into one "list" object.
  const list = message.headers.get("list") as { post?: { mail?: unknown } } | undefined;
  const listPost = typeof list?.post?.mail === "string" ? list.post.mail : undefined;
  if (listPost) found.push(listPost.toLowerCase());
  return found;
}

/** A group whose address is one of the inboxes: a forwarder, not a list the inbox subscribed to. */
async function listIsInbox(tx: Tx, config: Config, inbound: PreparedInbound): Promise<boolean> {
  for (const address of listAddresses(inbound)) {
    if (classifyAddress(address, config.domains, config.fromAddress).type === "local" && (await findGroupByInbox(tx, address))) return true;
  }
  return false;
}
