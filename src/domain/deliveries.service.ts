import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { bounceWeightOf, countBounce } from "./bounces.service.js";
import type { DomainContext } from "./context.js";
import type { Logger } from "../log.js";
import * as repo from "./deliveries.repo.js";
import type { Delivery, User } from "./records.js";
import { tellAuthorTooLarge } from "./undelivered.service.js";

/**
 * What happened to one delivery, recorded in one place. Every outcome after the claim is guarded
 * by the lease: `recordDeliveryOutcome` answers false when another worker has taken the row over.
 */
export type DeliveryOutcome =
  | SentOutcome
  /** A temporary failure: tried again at `at`. */
  | { readonly kind: "deferred"; readonly at: number; readonly error: string; readonly rule: string; readonly category: string; readonly messageId?: string }
  /** Not attempted now and not an attempt (daily limit, shutdown before sending). */
  | { readonly kind: "postponed"; readonly at: number; readonly reason: string | null; readonly rule: string }
  /** Never sent, and rightly so: nobody's error (the recipient left, the post is gone). */
  | { readonly kind: "skipped"; readonly reason: string }
  /** A permanent failure. */
  | { readonly kind: "failed"; readonly error: string; readonly rule: string; readonly category: string; readonly messageId?: string };

/** Handed to the relay. */
export interface SentOutcome {
  readonly kind: "sent";
  readonly messageId: string;
  readonly response: string;
  /** How the copy travelled: TLS with a verified certificate, TLS without, or in clear; absent when the transport does not say (files). */
  readonly tls?: "verified" | "unverified" | "none";
}

export async function recordDeliveryOutcome(tx: Tx, config: Config, log: Logger, delivery: Delivery, owner: string, outcome: DeliveryOutcome, now: number): Promise<boolean> {
  const recorded = await record(tx, delivery, owner, outcome, now);
  if (recorded && outcome.kind === "failed") {
    // The relay refusing the recipient outright is the same news as a bounce report arriving later.
    const weight = bounceWeightOf(outcome.category, false);
    if (weight) await countBounce(tx, config, delivery.recipientId, weight, now);
    await tellAuthorTooLarge({ tx, config, now }, delivery, outcome.category);
  }
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
      log.info({ event: "delivery.sent", ...ids, messageId: outcome.messageId, attempts: delivery.attempts + 1, response: outcome.response, ...(outcome.tls ? { tls: outcome.tls } : {}), recorded }, "delivery sent");
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

/**
 * A report that a delivery already sent failed for good (VERP, or a report some server sent to
 * the reply address instead): the delivery is marked bounced and its recipient's bounce score
 * rises, once per delivery however many reports arrive.
 */
export async function recordBounce(ctx: DomainContext, delivery: Delivery, detail: string, category: string | null): Promise<User | undefined> {
  if (!(await repo.markBounced(ctx.tx, delivery.id, ctx.now, `bounced: ${detail}`, category))) return undefined;
  await tellAuthorTooLarge(ctx, delivery, category);
  const weight = bounceWeightOf(category, true);
  return weight ? countBounce(ctx.tx, ctx.config, delivery.recipientId, weight, ctx.now) : undefined;
}

/** The ids that follow one delivery through the logs. */
export function deliveryIds(row: Delivery) {
  return { deliveryId: row.id, kind: row.kind, postId: row.postId, inboundId: row.inboundId, conversationId: row.conversationId, to: row.toAddress };
}
