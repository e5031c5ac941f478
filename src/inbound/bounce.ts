import type { DomainContext } from "../domain/conversations.service.js";
import { markBounced } from "../outbound/outbox.repo.js";
import type { Delivery } from "../../schema/schema.js";
import type { AppliedOutcome } from "./apply.js";
import type { ParsedMessage } from "./parse.js";

export interface DeliveryStatusReport {
  readonly action: string | undefined;
  readonly status: string | undefined;
  readonly diagnostic: string | undefined;
}

/** Reads the per-recipient fields of an RFC 3464 delivery-status part. */
export function readDeliveryStatus(text: string): DeliveryStatusReport {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "im").exec(text)?.[1]?.trim();
  return {
    action: field("Action")?.toLowerCase(),
    status: field("Status")?.split(/\s/)[0],
    diagnostic: field("Diagnostic-Code")?.replace(/^smtp;\s*/i, ""),
  };
}

/**
 * A message to bounce+TOKEN@ speaks about one delivery (VERP). A permanent failure marks it
 * bounced; delays and auto-replies that landed on the envelope sender are only logged.
 */
export function handleBounce(ctx: DomainContext, delivery: Delivery, message: ParsedMessage): AppliedOutcome {
  const ids = { conversationId: delivery.conversationId ?? undefined, postId: delivery.postId ?? undefined };
  if (!message.deliveryStatus) {
    return { outcome: "ignored", reason: `message to the bounce address of delivery ${delivery.id} is not a delivery report`, ...ids };
  }
  const report = readDeliveryStatus(message.deliveryStatus);
  const permanent = report.action === "failed" || report.status?.startsWith("5");
  if (!permanent) {
    return { outcome: "bounce", reason: `delivery ${delivery.id} delayed (${report.status ?? report.action ?? "no status"})`, ...ids };
  }
  const detail = [report.status, report.diagnostic].filter(Boolean).join(" ") || "failed";
  markBounced(ctx.db, delivery.id, ctx.now, `bounced: ${detail}`);
  return { outcome: "bounce", reason: `delivery ${delivery.id} to ${delivery.toAddress} bounced: ${detail}`, ...ids };
}
