import { recordBounce } from "../../domain/deliveries.service.js";
import type { Delivery } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";

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

/** What kind of problem an RFC 3463 status names, in the categories delivery errors use. */
export function bounceCategory(status: string | undefined): string {
  if (!status) return "unknown";
  if (/^\d\.2\.2$/.test(status)) return "mailbox_full";
  if (/^\d\.1\.\d+$/.test(status)) return "recipient";
  if (/^\d\.7\.\d+$/.test(status)) return "policy";
  if (/^\d\.4\.\d+$/.test(status)) return "network";
  return "unknown";
}

/**
 * bounce+TOKEN@ speaks about one delivery (VERP). A permanent failure marks it bounced; delays
 * and auto-replies that landed on the envelope sender are only logged.
 */
export async function handleBounce(ctx: InboundContext, delivery: Delivery): Promise<AppliedOutcome> {
  const { message } = ctx.inbound;
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
  await recordBounce(ctx.tx, delivery, ctx.now, detail, bounceCategory(report.status));
  return { outcome: "bounce", reason: `delivery ${delivery.id} to ${delivery.toAddress} bounced: ${detail}`, ...ids };
}
