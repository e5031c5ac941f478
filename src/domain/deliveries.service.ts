import type { Tx } from "../db/store.js";
import type { Logger } from "../log.js";
import * as repo from "./deliveries.repo.js";
import type { Delivery } from "./records.js";

/**
 * What happened to one delivery, recorded in one place. Every outcome after the claim is guarded
 * by the lease: `recordDeliveryOutcome` answers false when another worker has taken the row over.
 */
export type DeliveryOutcome =
  | { readonly kind: "sent"; readonly messageId: string; readonly response: string }
  /** A temporary failure: tried again at `at`. */
  | { readonly kind: "deferred"; readonly at: number; readonly error: string; readonly rule: string; readonly category: string; readonly messageId?: string }
  /** Not attempted now and not an attempt (daily limit, shutdown before sending). */
  | { readonly kind: "postponed"; readonly at: number; readonly reason: string | null; readonly rule: string }
  /** Never sent, and rightly so: nobody's error (the recipient left, the post is gone). */
  | { readonly kind: "skipped"; readonly reason: string }
  /** A permanent failure. */
  | { readonly kind: "failed"; readonly error: string; readonly rule: string; readonly category: string; readonly messageId?: string };

export async function recordDeliveryOutcome(tx: Tx, log: Logger, delivery: Delivery, owner: string, outcome: DeliveryOutcome, now: number): Promise<boolean> {
  const recorded = await record(tx, delivery, owner, outcome, now);
  // Logged once committed: a process killed before COMMIT must not report a send nobody recorded.
  tx.afterCommit(() => logOutcome(log, delivery, outcome, recorded));
  return recorded;
}

async function record(tx: Tx, delivery: Delivery, owner: string, outcome: DeliveryOutcome, now: number): Promise<boolean> {
  switch (outcome.kind) {
    case "sent":
      return repo.markSent(tx, delivery.id, owner, now);
    case "deferred":
      return repo.markDeferred(tx, delivery.id, owner, outcome.at, outcome.error, outcome.category);
    case "postponed":
      return repo.markPostponed(tx, delivery.id, owner, outcome.at, outcome.reason);
    case "skipped":
      return repo.markSkipped(tx, delivery.id, owner, outcome.reason);
    case "failed":
      return repo.markFailed(tx, delivery.id, owner, outcome.error, outcome.category);
  }
}

function logOutcome(log: Logger, delivery: Delivery, outcome: DeliveryOutcome, recorded: boolean): void {
  const ids = deliveryIds(delivery);
  switch (outcome.kind) {
    case "sent":
      log.info({ event: "delivery.sent", ...ids, messageId: outcome.messageId, attempts: delivery.attempts + 1, response: outcome.response, recorded }, "delivery sent");
      break;
    case "deferred":
      log.warn(
        { event: "delivery.deferred", ...ids, messageId: outcome.messageId, attempts: delivery.attempts + 1, rule: outcome.rule, category: outcome.category, error: outcome.error, nextAttemptAt: new Date(outcome.at).toISOString(), recorded },
        "delivery deferred",
      );
      break;
    case "postponed":
      log.info(
        { event: "delivery.postponed", ...ids, attempts: delivery.attempts, rule: outcome.rule, reason: outcome.reason, nextAttemptAt: new Date(outcome.at).toISOString(), recorded },
        "delivery postponed",
      );
      break;
    case "skipped":
      log.info({ event: "delivery.skipped", ...ids, reason: outcome.reason, recorded }, "delivery skipped");
      break;
    case "failed":
      log.error(
        { event: "delivery.failed", ...ids, messageId: outcome.messageId, attempts: delivery.attempts + 1, rule: outcome.rule, category: outcome.category, error: outcome.error, recorded },
        "delivery failed",
      );
      break;
  }
  if (!recorded) log.warn({ event: "delivery.lease_lost", ...ids }, "outcome not recorded: the lease was taken over meanwhile");
}

/** A bounce report about a delivery already sent (VERP). Permanent ones mark it bounced. */
export async function recordBounce(tx: Tx, delivery: Delivery, now: number, detail: string, category: string | null): Promise<void> {
  await repo.markBounced(tx, delivery.id, now, `bounced: ${detail}`, category);
}

/** The ids that follow one delivery through the logs. */
export function deliveryIds(row: Delivery) {
  return { deliveryId: row.id, kind: row.kind, postId: row.postId, inboundId: row.inboundId, conversationId: row.conversationId, to: row.toAddress };
}
