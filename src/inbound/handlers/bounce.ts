import { recordBounce } from "../../domain/deliveries.service.js";
import { classifySendError } from "../../domain/delivery-errors.js";
import type { Delivery } from "../../domain/records.js";
import type { AppliedOutcome, InboundContext } from "../inbound.js";

export interface DeliveryStatusReport {
  readonly action: string | undefined;
  readonly status: string | undefined;
  readonly diagnostic: string | undefined;
}

/** Reads the per-recipient fields of an RFC 3464 delivery-status part. */
export function readDeliveryStatus(text: string): DeliveryStatusReport {
  // Fields fold like headers: a long Diagnostic-Code continues on indented lines.
  const unfolded = text.replace(/\r?\n[ \t]+/g, " ");
  const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "im").exec(unfolded)?.[1]?.trim();
  return {
    action: field("Action")?.toLowerCase(),
    status: field("Status")?.split(/\s/)[0],
    // The diagnostic type ("smtp;", "X-Postfix;", "X-Notes;"…) says which MTA wrote it, not what happened.
    diagnostic: field("Diagnostic-Code")?.replace(/^[A-Za-z][\w-]*;\s*/, ""),
  };
}

/**
 * A bounce is a delivery error that arrived late: the same rules that classify a relay's reply
 * name its category, from the reply code, status and diagnostic the report carries.
 */
export function bounceCategory(report: DeliveryStatusReport): string {
  const diagnostic = report.diagnostic ?? "";
  const code = /^(\d{3})\b/.exec(diagnostic)?.[1];
  // The remote server's own reply says more than the reporting MTA's Status (Exim reports 5.0.0 for a 5.1.1 "user unknown").
  const response = code ? diagnostic : [report.status?.startsWith("4") ? "450" : "550", report.status, diagnostic].filter(Boolean).join(" ");
  return classifySendError({ responseCode: Number(response.slice(0, 3)), response, message: response }).category;
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
  const stopped = await recordBounce(ctx, delivery, detail, bounceCategory(report));
  const score = stopped?.bouncingSince === ctx.now ? `; mail to ${delivery.toAddress} stopped (bounce score ${stopped.bounceScore})` : "";
  return { outcome: "bounce", reason: `delivery ${delivery.id} to ${delivery.toAddress} bounced: ${detail}${score}`, ...ids };
}
