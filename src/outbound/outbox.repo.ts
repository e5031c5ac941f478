import { and, asc, count, desc, eq, gt, inArray, lt, lte, min, notInArray, or, sql } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { deliveries, type Delivery } from "../../schema/schema.js";
import { newToken } from "../domain/tokens.js";
import { DAY_MS } from "./daily-limit.js";

/**
 * The durable outbox's queries. A row moves queued → sending (leased) → sent | queued (deferred)
 * | failed; every write after the claim is guarded by the lease owner, so a worker that lost its
 * lease (it stalled, another took the row over) cannot overwrite the newer outcome.
 */

/** What the caller decides about a new delivery; the outbox fills in its own bookkeeping. */
export type DeliveryToQueue = Pick<typeof deliveries.$inferInsert, "kind" | "recipientId" | "toAddress"> &
  Partial<Pick<typeof deliveries.$inferInsert, "postId" | "inboundId" | "conversationId">>;

/** Queues deliveries, due now, each with its own VERP bounce token, in the caller's transaction. */
export function queueDeliveries(db: Db, rows: readonly DeliveryToQueue[], now: number): Delivery[] {
  if (rows.length === 0) return [];
  return db
    .insert(deliveries)
    .values(rows.map((row) => ({ ...row, bounceToken: newToken(), status: "queued" as const, nextAttemptAt: now, createdAt: now })))
    .returning()
    .all();
}

export function findDeliveryByBounceToken(db: Db, token: string): Delivery | undefined {
  return db.select().from(deliveries).where(eq(deliveries.bounceToken, token)).get();
}

/** A bounce report arrived for this delivery; not lease-guarded, since it comes after the send. */
export function markBounced(db: Db, id: number, now: number, error: string): void {
  db.update(deliveries).set({ status: "bounced", bouncedAt: now, lastError: error }).where(eq(deliveries.id, id)).run();
}

export interface ClaimOptions {
  readonly now: number;
  readonly owner: string;
  readonly leaseMs: number;
  readonly limit: number;
  /** Rows this process is already working on: never claim them a second time. */
  readonly excludeIds?: readonly number[];
}

/**
 * Leases due rows: queued ones whose time has come, and rows stuck in `sending` whose lease ran
 * out (their worker died mid-send, so they go out at most once more). Nothing is counted as an
 * attempt until the send's outcome is known.
 */
export function claimDue(db: Db, options: ClaimOptions): Delivery[] {
  const { now, owner, leaseMs, limit, excludeIds = [] } = options;
  const due = or(
    and(eq(deliveries.status, "queued"), lte(deliveries.nextAttemptAt, now)),
    and(eq(deliveries.status, "sending"), lt(deliveries.leaseExpiresAt, now)),
  );
  const candidates = db
    .select({ id: deliveries.id })
    .from(deliveries)
    .where(excludeIds.length ? and(due, notInArray(deliveries.id, [...excludeIds])) : due)
    .orderBy(asc(deliveries.nextAttemptAt), asc(deliveries.id))
    .limit(limit);
  // IMMEDIATE takes the write lock before reading, so two workers cannot pick the same rows.
  return db.transaction(
    (tx) =>
      tx
        .update(deliveries)
        .set({ status: "sending", leaseOwner: owner, leaseExpiresAt: now + leaseMs })
        .where(inArray(deliveries.id, candidates))
        .returning()
        .all()
        .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id),
    { behavior: "immediate" },
  );
}

function leased(id: number, owner: string) {
  return and(eq(deliveries.id, id), eq(deliveries.status, "sending"), eq(deliveries.leaseOwner, owner));
}

const releaseLease = { leaseOwner: null, leaseExpiresAt: null } as const;

/** Pushes a lease forward when its send actually starts; false when the lease was lost. */
export function renewLease(db: Db, id: number, owner: string, leaseExpiresAt: number): boolean {
  return db.update(deliveries).set({ leaseExpiresAt }).where(leased(id, owner)).run().changes === 1;
}

export function markSent(db: Db, id: number, owner: string, now: number): boolean {
  return (
    db
      .update(deliveries)
      .set({ status: "sent", sentAt: now, attempts: sql`${deliveries.attempts} + 1`, lastError: null, ...releaseLease })
      .where(leased(id, owner))
      .run().changes === 1
  );
}

/** A temporary failure: back in the queue for a later attempt. */
export function markDeferred(db: Db, id: number, owner: string, nextAttemptAt: number, error: string): boolean {
  return (
    db
      .update(deliveries)
      .set({ status: "queued", nextAttemptAt, attempts: sql`${deliveries.attempts} + 1`, lastError: error, ...releaseLease })
      .where(leased(id, owner))
      .run().changes === 1
  );
}

export function markFailed(db: Db, id: number, owner: string, error: string): boolean {
  return (
    db
      .update(deliveries)
      .set({ status: "failed", attempts: sql`${deliveries.attempts} + 1`, lastError: error, ...releaseLease })
      .where(leased(id, owner))
      .run().changes === 1
  );
}

/** Back in the queue without an attempt having been made (daily limit, shutdown before sending). */
export function markPostponed(db: Db, id: number, owner: string, nextAttemptAt: number, reason: string | null): boolean {
  return (
    db
      .update(deliveries)
      .set({ status: "queued", nextAttemptAt, ...(reason === null ? {} : { lastError: reason }), ...releaseLease })
      .where(leased(id, owner))
      .run().changes === 1
  );
}

/** The `postern queue list --json` shape (SPEC §7). */
export interface QueueEntry {
  readonly id: number;
  readonly to: string;
  readonly status: Delivery["status"];
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly lastError: string | null;
}

/** Newest first. nextAttemptAt is only meaningful while a row can still be sent. */
export function listDeliveries(db: Db, options: { readonly limit: number; readonly status?: Delivery["status"] }): QueueEntry[] {
  const rows = db
    .select()
    .from(deliveries)
    .where(options.status ? eq(deliveries.status, options.status) : undefined)
    .orderBy(desc(deliveries.id))
    .limit(options.limit)
    .all();
  return rows.map((row) => ({
    id: row.id,
    to: row.toAddress,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === "queued" || row.status === "sending" ? new Date(row.nextAttemptAt).toISOString() : null,
    lastError: row.lastError,
  }));
}

/**
 * `postern queue retry ID`: a failed, bounced or waiting row becomes due now. False when there is
 * no such row, or it was already sent or is being sent right now.
 */
export function retryDelivery(db: Db, id: number, now: number): boolean {
  return (
    db
      .update(deliveries)
      .set({ status: "queued", nextAttemptAt: now, ...releaseLease })
      .where(and(eq(deliveries.id, id), inArray(deliveries.status, ["queued", "failed", "bounced"])))
      .run().changes === 1
  );
}

export interface DailyUsage {
  readonly count: number;
  /** When the oldest of those sends happened: one slot frees up 24 h after it. */
  readonly oldestSentAt: number | null;
}

/** Post copies sent to this user in the 24 h before `now` (system mail does not count). */
export function sentInLastDay(db: Db, recipientId: number, now: number): DailyUsage {
  const row = db
    .select({ count: count(), oldest: min(deliveries.sentAt) })
    .from(deliveries)
    .where(and(eq(deliveries.recipientId, recipientId), eq(deliveries.kind, "post"), gt(deliveries.sentAt, now - DAY_MS)))
    .get();
  return { count: row?.count ?? 0, oldestSentAt: row?.oldest ?? null };
}

export function countSentToday(db: Db, recipientId: number, now: number): number {
  return sentInLastDay(db, recipientId, now).count;
}
