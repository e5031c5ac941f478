import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Config } from "../config/config.js";
import type { Db } from "../db/database.js";
import type { Logger } from "../log.js";
import type { Delivery } from "../../schema/schema.js";
import { checkDailyLimit } from "./daily-limit.js";
import { Limiter } from "./limiter.js";
import * as outbox from "./outbox.repo.js";
import { renderDelivery, RenderError, type RenderedDelivery } from "./render.js";
import { nextAttempt } from "./retry-policy.js";
import { classifySendError } from "./send-error.js";
import type { Transport } from "./transports/transport.js";

export interface DeliveryWorkerOptions {
  readonly db: Db;
  readonly config: Config;
  readonly logger: Logger;
  /** The caller owns it and closes it after stop(). */
  readonly transport: Transport;
  /** Injected by tests to move time forward past retry waits and leases. */
  readonly now?: () => number;
  /** Lease owner written on claimed rows; unique per process by default. */
  readonly owner?: string;
}

/**
 * Drains the outbox: claims due rows with a lease, renders and sends each through the transport
 * (at most `pool_size` at once) and records the outcome. A process killed mid-send leaves its
 * rows in `sending`; once their lease expires the next worker sends them once more.
 */
export class DeliveryWorker {
  private readonly db: Db;
  private readonly config: Config;
  private readonly log: Logger;
  private readonly transport: Transport;
  private readonly now: () => number;
  readonly owner: string;
  private readonly limiter: Limiter;
  /** Rows this worker holds a lease on, waiting for a send slot or being sent. */
  private readonly claimed = new Set<number>();
  private readonly tasks = new Set<Promise<void>>();
  /** Post copies per recipient between the daily-limit check and markSent. */
  private readonly inFlightByRecipient = new Map<number, number>();
  private running = false;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private wakePending = false;
  private lastClaimWasFull = false;

  constructor(options: DeliveryWorkerOptions) {
    this.db = options.db;
    this.config = options.config;
    this.log = options.logger.child({ component: "delivery" });
    this.transport = options.transport;
    this.now = options.now ?? Date.now;
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.limiter = new Limiter(this.config.outbound.pool_size);
  }

  /** Polls at once, then every `outbound.poll_interval`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.tick();
  }

  /** A commit queued new rows: claim them now instead of at the next poll. Cheap to call often. */
  wake(): void {
    if (!this.running || this.stopping || this.wakePending) return;
    // Coalesces a burst of commits into one claim.
    this.wakePending = true;
    setImmediate(() => {
      this.wakePending = false;
      if (this.running && !this.stopping) this.tick();
    });
  }

  /**
   * Graceful drain (SIGTERM): no new claims, sends already talking to the relay finish and are
   * recorded, rows still waiting for a slot go back to the queue unattempted.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.tasks]);
    this.running = false;
  }

  /** One claim; resolves when every row it claimed has been dealt with. Returns how many it claimed. */
  async pollOnce(): Promise<number> {
    const tasks = this.claimAndDispatch();
    await Promise.allSettled(tasks);
    return tasks.length;
  }

  private tick(): void {
    clearTimeout(this.timer);
    this.claimAndDispatch();
    if (this.running && !this.stopping) {
      this.timer = setTimeout(() => this.tick(), this.config.outbound.poll_interval);
    }
  }

  private claimAndDispatch(): Promise<void>[] {
    if (this.stopping) return [];
    const limit = this.config.outbound.batch_size - this.claimed.size;
    if (limit <= 0) return [];
    let rows: Delivery[];
    try {
      rows = outbox.claimDue(this.db, {
        now: this.now(),
        owner: this.owner,
        leaseMs: this.config.outbound.lease,
        limit,
        excludeIds: [...this.claimed],
      });
    } catch (error) {
      // A busy database is passing; the next poll tries again.
      this.log.error({ event: "delivery.claim_failed", err: error }, "could not claim due deliveries");
      return [];
    }
    this.lastClaimWasFull = rows.length === limit;
    return rows.map((row) => this.dispatch(row));
  }

  private dispatch(row: Delivery): Promise<void> {
    this.claimed.add(row.id);
    const task = this.limiter
      .run(() => this.deliver(row))
      .catch((error: unknown) => {
        // Recording the outcome failed; the lease runs out and the row is tried once more.
        this.log.error({ event: "delivery.error", ...this.ids(row), err: error }, "delivery outcome not recorded");
      })
      .finally(() => {
        this.claimed.delete(row.id);
        this.tasks.delete(task);
        // More rows were due than one claim could take: fetch them without waiting for the timer.
        if (this.claimed.size === 0 && this.lastClaimWasFull) this.wake();
      });
    this.tasks.add(task);
    return task;
  }

  private async deliver(row: Delivery): Promise<void> {
    const { db, owner } = this;
    if (this.stopping) {
      outbox.markPostponed(db, row.id, owner, row.nextAttemptAt, null);
      return;
    }
    const now = this.now();
    if (!this.withinDailyLimit(row, now)) return;
    const releaseSlot = this.holdDailySlot(row);
    try {
      if (!outbox.renewLease(db, row.id, owner, now + this.config.outbound.lease)) {
        this.log.warn({ event: "delivery.lease_lost", ...this.ids(row) }, "lease lost before sending; another worker has this delivery");
        return;
      }
      let rendered: RenderedDelivery;
      try {
        rendered = await renderDelivery(db, this.config, row.id);
      } catch (error) {
        if (error instanceof RenderError) this.fail(row, undefined, `cannot render: ${error.message}`);
        else this.retryLater(row, undefined, `cannot render: ${(error as Error).message ?? String(error)}`);
        return;
      }
      try {
        const result = await this.transport.send({ envelope: rendered.envelope, raw: rendered.raw, deliveryId: row.id });
        this.sent(row, rendered.messageId, result.response);
      } catch (error) {
        const verdict = classifySendError(error);
        if (verdict.kind === "permanent") this.fail(row, rendered.messageId, verdict.message, verdict.rule);
        else this.retryLater(row, rendered.messageId, verdict.message, verdict.rule);
      }
    } finally {
      releaseSlot();
    }
  }

  private sent(row: Delivery, messageId: string, response: string): void {
    const recorded = outbox.markSent(this.db, row.id, this.owner, this.now());
    this.log.info(
      { event: "delivery.sent", ...this.ids(row), messageId, attempts: row.attempts + 1, response, recorded },
      "delivery sent",
    );
    if (!recorded) this.warnLeaseLost(row);
  }

  private retryLater(row: Delivery, messageId: string | undefined, error: string, rule?: string): void {
    const attempts = row.attempts + 1;
    const now = this.now();
    const decision = nextAttempt({
      attempts,
      createdAt: row.createdAt,
      now,
      schedule: this.config.outbound.retry_schedule,
      giveUpAfter: this.config.outbound.give_up_after,
    });
    if (decision.action === "give_up") {
      this.fail(row, messageId, `${decision.reason}; last error: ${error}`, rule);
      return;
    }
    const recorded = outbox.markDeferred(this.db, row.id, this.owner, decision.at, error);
    this.log.warn(
      { event: "delivery.deferred", ...this.ids(row), messageId, attempts, rule, error, nextAttemptAt: new Date(decision.at).toISOString(), recorded },
      "delivery deferred",
    );
    if (!recorded) this.warnLeaseLost(row);
  }

  private fail(row: Delivery, messageId: string | undefined, error: string, rule?: string): void {
    const recorded = outbox.markFailed(this.db, row.id, this.owner, error);
    this.log.error(
      { event: "delivery.failed", ...this.ids(row), messageId, attempts: row.attempts + 1, rule, error, recorded },
      "delivery failed",
    );
    if (!recorded) this.warnLeaseLost(row);
  }

  /** Postpones the row (not an attempt) when its recipient already had their daily share. */
  private withinDailyLimit(row: Delivery, now: number): boolean {
    const max = this.config.outbound.max_per_user_per_day;
    if (row.kind !== "post" || max <= 0) return true;
    const usage = outbox.sentInLastDay(this.db, row.recipientId, now);
    const decision = checkDailyLimit({
      max,
      sent: usage.count,
      oldestSentAt: usage.oldestSentAt,
      inFlight: this.inFlightByRecipient.get(row.recipientId) ?? 0,
      now,
    });
    if (decision.action === "send") return true;
    const recorded = outbox.markPostponed(this.db, row.id, this.owner, decision.until, decision.reason);
    this.log.info(
      { event: "delivery.deferred", ...this.ids(row), attempts: row.attempts, rule: "daily-limit", error: decision.reason, nextAttemptAt: new Date(decision.until).toISOString(), recorded },
      "delivery postponed by the daily limit",
    );
    return false;
  }

  /** Counts a post copy as in flight from the limit check until its outcome is recorded. */
  private holdDailySlot(row: Delivery): () => void {
    if (row.kind !== "post") return () => {};
    const counts = this.inFlightByRecipient;
    counts.set(row.recipientId, (counts.get(row.recipientId) ?? 0) + 1);
    return () => {
      const left = (counts.get(row.recipientId) ?? 1) - 1;
      if (left > 0) counts.set(row.recipientId, left);
      else counts.delete(row.recipientId);
    };
  }

  private warnLeaseLost(row: Delivery): void {
    this.log.warn({ event: "delivery.lease_lost", ...this.ids(row) }, "outcome not recorded: the lease was taken over meanwhile");
  }

  private ids(row: Delivery) {
    return { deliveryId: row.id, kind: row.kind, postId: row.postId, inboundId: row.inboundId, conversationId: row.conversationId, to: row.toAddress };
  }
}
