import addressparser from "nodemailer/lib/addressparser/index.js";
import { classifyAddress, normalizeEmail } from "../../domain/addresses.js";
import { findParticipantByToken } from "../../domain/conversations.repo.js";
import { findPostCopies } from "../../domain/deliveries.repo.js";
import { recogniseMessageId } from "../../domain/message-ids.js";
import { findPostsByMessageId } from "../../domain/posts.repo.js";
import type { Delivery, Participant } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";
import type { Route } from "../route.js";
import { handleBounce, readDeliveryStatus } from "./bounce.js";

/** Where a bounce lands when its server answers the header From or Reply-To instead of the envelope sender. */
export const MISDIRECTED_BOUNCE_ROUTES = new Set<Route["type"]>(["reply", "note", "from_address", "inbox"]);

/**
 * Some servers send a bounce to a copy's From (conversations@, an inbox) or Reply-To (reply+TOKEN@)
 * instead of its VERP envelope sender. Such a report still counts when it names, beyond doubt,
 * one copy Postern sent: the post by the Message-ID in the enclosed headers, the recipient by
 * Final-Recipient, Original-Recipient or the enclosed To, and — since the Message-ID travels in
 * every copy and in quotes, and addresses can be guessed — that recipient's own reply token, as
 * the address the report came to or as the enclosed Reply-To. A forged report knows the first two
 * at best, never another participant's token. Undefined when it names no such copy: the caller
 * ignores it as any other automatic mail.
 */
export async function handleMisdirectedBounce(ctx: InboundContext, route: Route): Promise<AppliedOutcome | undefined> {
  const { message } = ctx.inbound;
  if (!message.deliveryStatus || !MISDIRECTED_BOUNCE_ROUTES.has(route.type)) return undefined;
  const report = readDeliveryStatus(message.deliveryStatus);
  // A read receipt or feedback report is a multipart/report too, but says nothing about delivery.
  if (report.action === undefined && report.status === undefined) return undefined;
  const delivery = await reportedCopy(ctx, route);
  if (!delivery) return undefined;
  const outcome = await handleBounce(ctx, delivery);
  return { ...outcome, reason: `${outcome.reason}; the report came to ${route.address} instead of the copy's bounce address` };
}

async function reportedCopy(ctx: InboundContext, route: Route): Promise<Delivery | undefined> {
  const { message } = ctx.inbound;
  const enclosed = readHeaderBlock(message.reportedHeaders ?? "");
  const messageId = enclosed.get("message-id") ?? fieldsOf(message.deliveryStatus ?? "", "X-Original-Message-ID")[0];
  const ownId = messageId && bracketed(messageId);
  if (!ownId || !recogniseMessageId(ctx.config, ownId)) return undefined;
  const post = (await findPostsByMessageId(ctx.tx, ownId)).find((p) => p.messageId === ownId);
  if (!post) return undefined;

  const holders = await tokenHolders(ctx, route, enclosed.get("reply-to"));
  // Every token the report carries must be the same participant's: the recipient's of this post.
  const holder = holders[0];
  if (!holder || holders.some((h) => h.id !== holder.id) || holder.conversationId !== post.conversationId) return undefined;

  const recipients = new Set(
    [...fieldsOf(message.deliveryStatus ?? "", "Final-Recipient"), ...fieldsOf(message.deliveryStatus ?? "", "Original-Recipient")]
      .map((value) => normalizeEmail(value.replace(/^[^;]*;/, "")))
      .concat(addressesIn(enclosed.get("to") ?? "")),
  );
  const copies = await findPostCopies(ctx.tx, post.id);
  // Only a copy that went out can have bounced.
  return copies.find((d) => d.recipientId === holder.userId && recipients.has(normalizeEmail(d.toAddress)) && d.sentAt !== null);
}

/** The participants whose reply token the report carries: in the address it came to, and in the enclosed Reply-To. */
async function tokenHolders(ctx: InboundContext, route: Route, replyTo: string | undefined): Promise<Participant[]> {
  const holders: Participant[] = route.type === "reply" || route.type === "note" ? [route.participant] : [];
  for (const address of addressesIn(replyTo ?? "")) {
    const target = classifyAddress(address, ctx.config.domains, ctx.config.fromAddress);
    // A note's copy answers to note+TOKEN@, which carries the same reply token.
    if (target.type !== "token" || (target.kind !== "reply" && target.kind !== "note")) continue;
    const participant = await findParticipantByToken(ctx.tx, "reply", target.token);
    if (!participant) return [];
    holders.push(participant);
  }
  return holders;
}

/** Header fields of an enclosed header block, unfolded; the first of each name. */
function readHeaderBlock(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of block.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const match = /^([\x21-\x39\x3b-\x7e]+):\s*(.*)$/.exec(line);
    if (match?.[1] && !fields.has(match[1].toLowerCase())) fields.set(match[1].toLowerCase(), (match[2] ?? "").trim());
  }
  return fields;
}

/** Every value of a delivery-status field (one per recipient block). */
function fieldsOf(text: string, name: string): string[] {
  const unfolded = text.replace(/\r?\n[ \t]+/g, " ");
  return [...unfolded.matchAll(new RegExp(`^${name}:\\s*(.+)$`, "gim"))].map((m) => (m[1] ?? "").trim());
}

function addressesIn(value: string): string[] {
  return addressparser(value, { flatten: true }).flatMap((entry) => (entry.address ? [normalizeEmail(entry.address)] : []));
}

function bracketed(messageId: string): string {
  const bare = /<([^<>\s]+)>/.exec(messageId)?.[1] ?? messageId.trim();
  return `<${bare}>`;
}
