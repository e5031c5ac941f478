import { and, asc, count, desc, eq, gt, inArray, lt, lte, min, or, sql } from "drizzle-orm";
import { setParam, type Db, type Tx } from "../db/store.js";
import { deliveries } from "../../schema/schema.js";
import type { Delivery, DeliveryKind, DeliveryStatus } from "./records.js";
import { newToken } from "./tokens.js";

/**
 * The durable outbox's queries. A row moves queued → sending (leased) → sent | queued (deferred,
 * postponed) | skipped | failed, and later perhaps bounced; every write after the claim is guarded
 * by the lease owner, so a worker that lost its lease (it stalled, another took the row over)
 * cannot overwrite the newer outcome.
 */

export const DAY_MS = 86_400_000;

/** What the caller decides about a new delivery; the outbox fills in its own bookkeeping. */
export interface DeliveryToQueue {
  readonly kind: DeliveryKind;
  readonly recipientId: number;
  readonly toAddress: string;
  readonly postId?: number | null;
  readonly inboundId?: number | null;
  readonly conversationId?: number | null;
}

const p = sql.placeholder;

const insertOne = (db: Db) =>
  db
    .insert(deliveries)
    .values({
      kind: p("kind"),
      postId: p("postId"),
      inboundId: p("inboundId"),
      conversationId: p("conversationId"),
      recipientId: p("recipientId"),
      toAddress: p("toAddress"),
      bounceToken: p("bounceToken"),
      status: "queued",
      nextAttemptAt: p("now"),
      createdAt: p("now"),
    })
    .returning()
    .prepare();
const byBounceToken = (db: Db) => db.select().from(deliveries).where(eq(deliveries.bounceToken, p("token"))).prepare();
const byId = (db: Db) => db.select().from(deliveries).where(eq(deliveries.id, p("id"))).prepare();
// The due index (status, next_attempt_at) finds queued rows whose time has come and rows stuck in
// `sending` whose lease ran out (their worker died mid-send, so they go out at most once more).
const claim = (db: Db) =>
  db
    .update(deliveries)
    .set({ status: "sending", leaseOwner: setParam("owner"), leaseExpiresAt: setParam("leaseExpiresAt") })
    .where(
      inArray(
        deliveries.id,
        db
          .select({ id: deliveries.id })
          .from(deliveries)
          .where(
            or(
              and(eq(deliveries.status, "queued"), lte(deliveries.nextAttemptAt, p("now"))),
              and(eq(deliveries.status, "sending"), lt(deliveries.leaseExpiresAt, p("now"))),
            ),
          )
          .orderBy(asc(deliveries.nextAttemptAt), asc(deliveries.id))
          .limit(p("limit")),
      ),
    )
    .returning()
    .prepare();

const leased = and(eq(deliveries.id, p("id")), eq(deliveries.status, "sending"), eq(deliveries.leaseOwner, p("owner")));
const releaseLease = { leaseOwner: null, leaseExpiresAt: null } as const;

const renew = (db: Db) => db.update(deliveries).set({ leaseExpiresAt: setParam("leaseExpiresAt") }).where(leased).prepare();
const sent = (db: Db) =>
  db
    .update(deliveries)
    .set({ status: "sent", sentAt: setParam("now"), attempts: sql`${deliveries.attempts} + 1`, lastError: null, errorCategory: null, ...releaseLease })
    .where(leased)
    .prepare();
const deferred = (db: Db) =>
  db
    .update(deliveries)
    .set({
      status: "queued",
      nextAttemptAt: setParam("nextAttemptAt"),
      attempts: sql`${deliveries.attempts} + 1`,
      lastError: setParam("error"),
      errorCategory: setParam("category"),
      ...releaseLease,
    })
    .where(leased)
    .prepare();
const failed = (db: Db) =>
  db
    .update(deliveries)
    .set({ status: "failed", attempts: sql`${deliveries.attempts} + 1`, lastError: setParam("error"), errorCategory: setParam("category"), ...releaseLease })
    .where(leased)
    .prepare();
const skipped = (db: Db) =>
  db.update(deliveries).set({ status: "skipped", lastError: setParam("reason"), errorCategory: null, ...releaseLease }).where(leased).prepare();
const postponed = (db: Db) =>
  db
    .update(deliveries)
    .set({ status: "queued", nextAttemptAt: setParam("nextAttemptAt"), lastError: sql`coalesce(${setParam("reason")}, ${deliveries.lastError})`, ...releaseLease })
    .where(leased)
    .prepare();
const bounced = (db: Db) =>
  db
    .update(deliveries)
    .set({ status: "bounced", bouncedAt: setParam("now"), lastError: setParam("error"), errorCategory: setParam("category") })
    .where(eq(deliveries.id, p("id")))
    .prepare();
const dailyUsage = (db: Db) =>
  db
    .select({ count: count(), oldest: min(deliveries.sentAt) })
    .from(deliveries)
    .where(and(eq(deliveries.recipientId, p("recipientId")), eq(deliveries.kind, "post"), gt(deliveries.sentAt, p("since"))))
    .prepare();

/** Queues deliveries, due now, each with its own VERP bounce token, in the caller's transaction. */
export async function queueDeliveries(tx: Tx, rows: readonly DeliveryToQueue[], now: number): Promise<Delivery[]> {
  return rows.map((row) => {
    const inserted = tx.one(insertOne, {
      postId: null,
      inboundId: null,
      conversationId: null,
      ...row,
      bounceToken: newToken(),
      now,
    });
    if (!inserted) throw new Error(`delivery to ${row.toAddress} was not inserted`);
    return inserted;
  });
}

export async function findDelivery(tx: Tx, id: number): Promise<Delivery | undefined> {
  return tx.one(byId, { id });
}

export async function findDeliveryByBounceToken(tx: Tx, token: string): Promise<Delivery | undefined> {
  return tx.one(byBounceToken, { token });
}

export interface ClaimOptions {
  readonly now: number;
  readonly owner: string;
  readonly leaseMs: number;
  readonly limit: number;
}

/** Leases due rows, in the caller's write transaction. Nothing counts as an attempt until its outcome is known. */
export async function claimDue(tx: Tx, options: ClaimOptions): Promise<Delivery[]> {
  const rows = tx.all(claim, {
    now: options.now,
    owner: options.owner,
    leaseExpiresAt: options.now + options.leaseMs,
    limit: options.limit,
  });
  return rows.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id);
}

/** Pushes a lease forward when its send actually starts; false when the lease was lost. */
export async function renewLease(tx: Tx, id: number, owner: string, leaseExpiresAt: number): Promise<boolean> {
  return tx.run(renew, { id, owner, leaseExpiresAt }) === 1;
}

export async function markSent(tx: Tx, id: number, owner: string, now: number): Promise<boolean> {
  return tx.run(sent, { id, owner, now }) === 1;
}

/** A temporary failure: back in the queue for a later attempt. */
export async function markDeferred(tx: Tx, id: number, owner: string, nextAttemptAt: number, error: string, category: string | null): Promise<boolean> {
  return tx.run(deferred, { id, owner, nextAttemptAt, error, category }) === 1;
}

export async function markFailed(tx: Tx, id: number, owner: string, error: string, category: string | null): Promise<boolean> {
  return tx.run(failed, { id, owner, error, category }) === 1;
}

/** Not sent and never will be, for a reason that is nobody's error (the recipient left). */
export async function markSkipped(tx: Tx, id: number, owner: string, reason: string): Promise<boolean> {
  return tx.run(skipped, { id, owner, reason }) === 1;
}

/** Back in the queue without an attempt having been made (daily limit, shutdown before sending). */
export async function markPostponed(tx: Tx, id: number, owner: string, nextAttemptAt: number, reason: string | null): Promise<boolean> {
  return tx.run(postponed, { id, owner, nextAttemptAt, reason }) === 1;
}

/** A bounce report arrived for this delivery; not lease-guarded, since it comes after the send. */
export async function markBounced(tx: Tx, id: number, now: number, error: string, category: string | null): Promise<void> {
  tx.run(bounced, { id, now, error, category });
}

/** The `postern queue list --json` shape (SPEC §7). */
export interface QueueEntry {
  readonly id: number;
  readonly to: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly lastError: string | null;
  readonly category: string | null;
}

/** Newest first. nextAttemptAt is only meaningful while a row can still be sent. */
export async function listDeliveries(tx: Tx, options: { readonly limit: number; readonly status?: DeliveryStatus }): Promise<QueueEntry[]> {
  const rows = await tx.db
    .select()
    .from(deliveries)
    .where(options.status ? eq(deliveries.status, options.status) : undefined)
    .orderBy(desc(deliveries.id))
    .limit(options.limit);
  return rows.map((row) => ({
    id: row.id,
    to: row.toAddress,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === "queued" || row.status === "sending" ? new Date(row.nextAttemptAt).toISOString() : null,
    lastError: row.lastError,
    category: row.errorCategory,
  }));
}

/**
 * `postern queue retry ID`: a failed, bounced, skipped or waiting row becomes due now. False when
 * there is no such row, or it was already sent or is being sent right now.
 */
export async function retryDelivery(tx: Tx, id: number, now: number): Promise<boolean> {
  const result = await tx.db
    .update(deliveries)
    .set({ status: "queued", nextAttemptAt: now, ...releaseLease })
    .where(and(eq(deliveries.id, id), inArray(deliveries.status, ["queued", "failed", "bounced", "skipped"])));
  return result.changes === 1;
}

export interface DailyUsage {
  readonly count: number;
  /** When the oldest of those sends happened: one slot frees up 24 h after it. */
  readonly oldestSentAt: number | null;
}

/** Post copies sent to this user in the 24 h before `now` (system mail does not count). */
export async function sentInLastDay(tx: Tx, recipientId: number, now: number): Promise<DailyUsage> {
  const row = tx.one(dailyUsage, { recipientId, since: now - DAY_MS });
  return { count: row?.count ?? 0, oldestSentAt: row?.oldest ?? null };
}
