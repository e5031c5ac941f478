import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Config } from "../config/config.js";
import type { Store, Tx } from "../db/store.js";
import { claimDue, dailyUsage, renewLease } from "../domain/deliveries.repo.js";
import { deliveryIds, recordDeliveryOutcome, type DeliveryOutcome } from "../domain/deliveries.service.js";
import { HELD_BACK_REASON } from "../domain/digests.service.js";
import type { Delivery } from "../domain/records.js";
import type { Logger } from "../log.js";
import { DEFAULT_LANE_LIMITS, ProcessingLanes } from "../concurrency/processing-lanes.js";
import { postSize } from "../domain/posts.repo.js";
import { SentPostReads } from "../domain/render.repo.js";
import { checkDailyLimit } from "./daily-limit.js";
import { Limiter } from "./limiter.js";
import { compose, draftDelivery, PostCopies, RenderError, type RenderedDelivery } from "./render.js";
import { nextAttempt } from "./retry-policy.js";
import { classifySendError } from "../domain/delivery-errors.js";
import type { MailDraft } from "./compose.js";
import type { Transport } from "./transports/transport.js";

/** A copy carries its post about twice (text and HTML), and attachments grow by a third in base64. */
const COPY_SIZE_FACTOR = 2;
const MAX_REMEMBERED_POST_SIZES = 1000;
/** A claimed row with at least this share of its lease left is sent without renewing the lease first. */
const FRESH_LEASE_SHARE = 0.9;
/** Copies in the transport per relay connection: one on the wire, one whose envelope follows it. */
const SENDS_PER_CONNECTION = 2;
/** At most this many outcomes share one write transaction. */
const MAX_OUTCOMES_PER_TRANSACTION = 100;

/** A drafted copy, its rendering error, or the outcome of a copy not to be sent (undefined: another worker has it). */
type Drafted = { readonly draft: MailDraft } | { readonly error: unknown } | { readonly outcome: DeliveryOutcome | undefined };

/** A copy's outcome waiting to be recorded with the others that finished about when it did. */
interface PendingOutcome {
  readonly row: Delivery;
  readonly outcome: DeliveryOutcome;
  readonly at: number;
  resolve(recorded: boolean): void;
  reject(error: unknown): void;
}

export interface DeliveryWorkerOptions {
  /** The worker's own connection: sends never wait behind the inbound group commit, nor it behind them. */
  readonly store: Store;
  readonly config: Config;
  readonly logger: Logger;
  /** The caller owns it and closes it after stop(). */
  readonly transport: Transport;
  /** Injected by tests to move time forward past retry waits and leases. */
  readonly now?: () => number;
  /** Lease owner written on claimed rows; unique per process by default. */
  readonly owner?: string;
  /** The budget for large copies, shared with the listener's large received messages. */
  readonly largeWork?: ProcessingLanes;
}

/**
 * The gateway's handle on delivery, whether it runs in process (DeliveryWorker) or in a worker
 * thread of its own (DeliveryThread).
 */
export interface Deliveries {
  /** Polls at once, then every `outbound.poll_interval`. */
  start(): void | Promise<void>;
  /** A commit queued new rows: claim them now instead of at the next poll. Cheap to call often. */
  wake(): void;
  /** Graceful drain: no new claims; sends already talking to the relay finish and are recorded. */
  stop(): Promise<void>;
}

/**
 * Drains the outbox: claims due rows with a lease, renders and sends each through the transport
 * (at most `pool_size` on the wire at once, as many again waiting behind them) and records the
 * outcome. A process killed mid-send leaves its rows in `sending`; once their lease expires the
 * next worker sends them once more.
 */
export class DeliveryWorker implements Deliveries {
  private readonly store: Store;
  private readonly config: Config;
  private readonly log: Logger;
  private readonly transport: Transport;
  private readonly now: () => number;
  readonly owner: string;
  /**
   * Copies handed to the transport: two per relay connection (`pool_size`), one being sent and one
   * waiting, whose envelope the connection writes behind the first one's end (SmtpPool).
   */
  private readonly limiter: Limiter;
  /** Copies being rendered, waiting for a connection or being sent: three per relay connection. */
  private readonly ahead: Limiter;
  private readonly lanes: ProcessingLanes;
  private readonly postSizes = new Map<number, Promise<number>>();
  private readonly sentPosts = new SentPostReads();
  /** Outcomes waiting for the next write transaction; one such transaction at a time. */
  private readonly outcomes: PendingOutcome[] = [];
  private recording = false;
  /** Rows this worker holds a lease on, waiting for a send slot or being sent. */
  private readonly claimed = new Set<number>();
  private readonly tasks = new Set<Promise<void>>();
  private running = false;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private wakePending = false;
  private lastClaimWasFull = false;
  private claiming = false;

  constructor(options: DeliveryWorkerOptions) {
    this.store = options.store;
    this.config = options.config;
    this.log = options.logger.child({ component: "delivery" });
    this.transport = options.transport;
    this.now = options.now ?? Date.now;
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.limiter = new Limiter(this.config.outbound.pool_size * SENDS_PER_CONNECTION);
    this.ahead = new Limiter(this.config.outbound.pool_size * (SENDS_PER_CONNECTION + 1));
    // Copies up to 256 KiB are never held back; larger ones share 16 MiB, one 10 MB copy at a time.
    this.lanes = new ProcessingLanes(
      { smallMessage: DEFAULT_LANE_LIMITS.smallMessage, smallConcurrency: this.config.outbound.batch_size, largeBudget: DEFAULT_LANE_LIMITS.largeBudget },
      options.largeWork,
    );
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
    const tasks = await this.claimAndDispatch();
    await Promise.allSettled(tasks);
    return tasks.length;
  }

  private tick(): void {
    clearTimeout(this.timer);
    void this.claimAndDispatch();
    if (this.running && !this.stopping) {
      this.timer = setTimeout(() => this.tick(), this.config.outbound.poll_interval);
    }
  }

  private async claimAndDispatch(): Promise<Promise<void>[]> {
    if (this.stopping || this.claiming) return [];
    const limit = this.config.outbound.batch_size - this.claimed.size;
    if (limit <= 0) return [];
    this.claiming = true;
    let rows: Delivery[];
    try {
      const now = this.now();
      rows = await this.store.transaction((tx) => claimDue(tx, { now, owner: this.owner, leaseMs: this.config.outbound.lease, limit }));
    } catch (error) {
      // A busy database is passing; the next poll tries again.
      this.log.error({ event: "delivery.claim_failed", err: error }, "could not claim due deliveries");
      return [];
    } finally {
      this.claiming = false;
    }
    this.lastClaimWasFull = rows.length === limit;
    // A row whose lease ran out while it waited here for a send slot is still this worker's to send, once.
    const fresh = rows.filter((row) => !this.claimed.has(row.id));
    // A post's copies are claimed together: they share what they read about it.
    const copies = new PostCopies(fresh, (tx) => this.sentPosts.over(tx));
    return fresh.map((row) => this.dispatch(row, copies));
  }

  private dispatch(row: Delivery, copies: PostCopies): Promise<void> {
    this.claimed.add(row.id);
    // Big copies take their turn within a byte budget before a send slot, so they neither pile up
    // in memory several at once nor keep the slots from the small copies queued behind them.
    // A send slot is held for the send only: the next copies are rendered while this one is on the
    // wire, and recording the outcome waits for the disk, which the next send need not do.
    const task = this.copySize(row)
      .then((size) => this.lanes.run(size, () => this.ahead.run(() => this.deliver(row, copies))))
      .then(async (outcome) => {
        if (outcome) await this.record(row, outcome);
      })
      .catch((error: unknown) => {
        // Recording the outcome failed; the lease runs out and the row is tried once more.
        this.log.error({ event: "delivery.error", ...deliveryIds(row), err: error }, "delivery outcome not recorded");
      })
      .finally(() => {
        this.claimed.delete(row.id);
        this.tasks.delete(task);
        // More rows were due than one claim could take: fetch the next ones without waiting for the
        // timer, and before this claim's last copies are done, so that the connections never stand
        // idle while a claim is committed and its first copies rendered.
        if (this.lastClaimWasFull && this.claimed.size <= this.config.outbound.batch_size / 2) this.wake();
      });
    this.tasks.add(task);
    return task;
  }

  /**
   * About how much memory the copy takes to render and compose: its post's text, HTML and
   * attachments (base64 adds a third), known without loading them; remembered per post, since a
   * post's copies come in a burst. Other kinds of mail are small.
   */
  private copySize(row: Delivery): Promise<number> {
    if (row.kind !== "post" || row.postId === null) return Promise.resolve(0);
    const postId = row.postId;
    let size = this.postSizes.get(postId);
    if (size === undefined) {
      // The size being read is shared too: a claim dispatches a post's copies all at once.
      size = this.store.read((tx) => postSize(tx, postId)).then((bytes) => Math.ceil(bytes * COPY_SIZE_FACTOR));
      size.catch(() => this.postSizes.delete(postId));
      if (this.postSizes.size >= MAX_REMEMBERED_POST_SIZES) this.postSizes.delete(this.postSizes.keys().next().value as number);
      this.postSizes.set(postId, size);
    }
    return size;
  }

  /** Renders the copy, then sends it; answers the outcome to record, or undefined when another worker has the row. */
  private async deliver(row: Delivery, copies: PostCopies): Promise<DeliveryOutcome | undefined> {
    let drafted: Drafted;
    try {
      drafted = await this.draft(row, copies);
    } finally {
      copies.release(row);
    }
    if ("outcome" in drafted) return drafted.outcome;
    let rendered: RenderedDelivery;
    try {
      if ("error" in drafted) throw drafted.error;
      rendered = await compose(drafted.draft);
    } catch (error) {
      const reason = `cannot render: ${(error as Error).message ?? String(error)}`;
      if (error instanceof RenderError && error.outcome === "skipped") return { kind: "skipped", reason: error.message };
      if (error instanceof RenderError) return { kind: "failed", error: reason, rule: "render", category: "unknown" };
      return this.retryLater(row, undefined, reason, "render", "unknown");
    }
    return this.limiter.run(() => this.send(row, rendered));
  }

  /** What the copy will say; an outcome instead when it is not to be sent now, nor by this worker (undefined). */
  private async draft(row: Delivery, copies: PostCopies): Promise<Drafted> {
    if (this.stopping) return { outcome: shutdownOutcome(row) };
    const now = this.now();
    const leaseExpiresAt = now + this.config.outbound.lease;
    // A row claimed a moment ago still holds almost its whole lease: renewing it would cost a write
    // (and a sync) per copy for nothing. One that waited for a slot is renewed before it is sent.
    const freshlyClaimed = row.leaseExpiresAt !== null && row.leaseExpiresAt - now >= this.config.outbound.lease * FRESH_LEASE_SHARE;
    if (!freshlyClaimed && !(await this.store.transaction((tx) => renewLease(tx, row.id, this.owner, leaseExpiresAt)))) {
      this.log.warn({ event: "delivery.lease_lost", ...deliveryIds(row) }, "lease lost before sending; another worker has this delivery");
      return { outcome: undefined };
    }
    // The daily count and the draft in one read: one turn on the connection per copy, not two.
    return this.store.read(async (tx): Promise<Drafted> => {
      const heldBack = await this.dailyLimit(tx, row, now);
      if (heldBack) return { outcome: heldBack };
      try {
        // A post's copy reads what is its own directly; what it shares with the others goes through the claim's PostCopies.
        return { draft: await draftDelivery(row.kind === "post" ? tx : this.sentPosts.over(tx), this.config, row, copies) };
      } catch (error) {
        return { error };
      }
    });
  }

  private async send(row: Delivery, rendered: RenderedDelivery): Promise<DeliveryOutcome> {
    // Stopping while the copy waited for a connection: it goes back to the queue unattempted.
    if (this.stopping) return shutdownOutcome(row);
    try {
      const result = await this.transport.send({ envelope: rendered.envelope, raw: rendered.raw, deliveryId: row.id });
      // How the copy travelled (verified TLS, unverified, in clear), from transports that know.
      return { kind: "sent", messageId: rendered.messageId, response: result.response, ...(result.tls ? { tls: result.tls } : {}) };
    } catch (error) {
      const verdict = classifySendError(error);
      return verdict.kind === "permanent"
        ? { kind: "failed", error: verdict.message, rule: verdict.rule, category: verdict.category, messageId: rendered.messageId }
        : this.retryLater(row, rendered.messageId, verdict.message, verdict.rule, verdict.category);
    }
  }

  /**
   * Queues the outcome for the next write transaction: outcomes that finish while one is being
   * written go together in the next, so a burst of copies costs a few commits (and syncs), not one
   * each. Resolves once it is committed; false when another worker had taken the row over.
   */
  private record(row: Delivery, outcome: DeliveryOutcome): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.outcomes.push({ row, outcome, at: this.now(), resolve, reject });
      if (this.recording) return;
      this.recording = true;
      // The outcomes of sends that finish in the same turn of the event loop join this first one.
      setImmediate(() => void this.recordPending());
    });
  }

  private async recordPending(): Promise<void> {
    try {
      while (this.outcomes.length > 0) await this.recordBatch(this.outcomes.splice(0, MAX_OUTCOMES_PER_TRANSACTION));
    } finally {
      this.recording = false;
    }
  }

  private async recordBatch(batch: readonly PendingOutcome[]): Promise<void> {
    try {
      const recorded = await this.store.transaction(async (tx) => {
        const results: boolean[] = [];
        for (const item of batch) results.push(await recordDeliveryOutcome(tx, this.config, this.log, item.row, this.owner, item.outcome, item.at));
        return results;
      });
      batch.forEach((item, i) => item.resolve(recorded[i] === true));
      return;
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
      this.log.warn({ event: "delivery.record_batch_failed", deliveries: batch.length, err: error }, "outcomes not recorded together; recording them one by one");
    }
    // Each in a transaction of its own, so that one outcome that cannot be recorded does not
    // leave the others' copies, already sent, to be sent again once their leases run out.
    await Promise.all(
      batch.map((item) =>
        this.store
          .transaction((tx) => recordDeliveryOutcome(tx, this.config, this.log, item.row, this.owner, item.outcome, item.at))
          .then(item.resolve, item.reject),
      ),
    );
  }

  /** A temporary failure waits per the retry schedule, until giving up makes it permanent. */
  private retryLater(row: Delivery, messageId: string | undefined, error: string, rule: string, category: string): DeliveryOutcome {
    const decision = nextAttempt({
      attempts: row.attempts + 1,
      createdAt: row.createdAt,
      now: this.now(),
      schedule: this.config.outbound.retry_schedule,
      giveUpAfter: this.config.outbound.give_up_after,
    });
    if (decision.action === "give_up") {
      return { kind: "failed", error: `${decision.reason}; last error: ${error}`, rule, category, ...(messageId ? { messageId } : {}) };
    }
    return { kind: "deferred", at: decision.at, error, rule, category, ...(messageId ? { messageId } : {}) };
  }

  /**
   * Skipped (not an attempt) when the recipient already had their daily share of post copies; the
   * digest task finds it by its reason and sends the post in the recipient's next digest.
   * Undefined to send.
   */
  private async dailyLimit(tx: Tx, row: Delivery, now: number): Promise<DeliveryOutcome | undefined> {
    const max = this.config.outbound.max_per_user_per_day;
    if (row.kind !== "post" || max <= 0) return undefined;
    const usage = await dailyUsage(tx, row, now);
    const decision = checkDailyLimit({ max, sent: usage.count, inFlight: usage.inFlight });
    return decision.action === "send" ? undefined : { kind: "skipped", reason: HELD_BACK_REASON };
  }
}

/** A copy not attempted because the worker is stopping: due again at once, with no attempt counted. */
function shutdownOutcome(row: Delivery): DeliveryOutcome {
  return { kind: "postponed", at: row.nextAttemptAt, reason: null, rule: "shutdown" };
}
