import { and, asc, count, desc, eq, gt, inArray, lt, lte, min, ne, or, sql } from "drizzle-orm";
import { claimDueDeliveries } from "../db/claim.js";
import { setParam, type Db, type QueryBuilder, type Tables, type Tx } from "../db/store.js";
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
  readonly noticeId?: number | null;
  readonly digestId?: number | null;
  readonly appointmentId?: number | null;
  readonly conversationId?: number | null;
}

const p = sql.placeholder;

/** The columns of the `index`th row of a multi-row insert, each its own placeholder. */
const rowValues = (index: number) => ({
  kind: p(`kind${index}`),
  postId: p(`postId${index}`),
  inboundId: p(`inboundId${index}`),
  noticeId: p(`noticeId${index}`),
  digestId: p(`digestId${index}`),
  appointmentId: p(`appointmentId${index}`),
  conversationId: p(`conversationId${index}`),
  recipientId: p(`recipientId${index}`),
  toAddress: p(`toAddress${index}`),
  bounceToken: p(`bounceToken${index}`),
  status: "queued" as const,
  nextAttemptAt: p("now"),
  createdAt: p("now"),
});

/**
 * Inserts of 1, 2, 4 … MAX_ROWS_PER_INSERT rows, each prepared once per connection: a post's
 * copies go in as a few statements (99 copies in five), not one per copy.
 */
const MAX_ROWS_PER_INSERT = 32;
const inserts = new Map<number, QueryBuilder<ReturnType<typeof insertRows>>>();
const insertRows = (db: Db, t: Tables, size: number) =>
  db
    .insert(t.deliveries)
    .values(Array.from({ length: size }, (_, index) => rowValues(index)));
function insertOf(size: number) {
  let query = inserts.get(size);
  if (!query) {
    query = (db: Db, t: Tables) => insertRows(db, t, size);
    inserts.set(size, query);
  }
  return query;
}
const byBounceToken = (db: Db, t: Tables) => db.select().from(t.deliveries).where(eq(t.deliveries.bounceToken, p("token")));
const byId = (db: Db, t: Tables) => db.select().from(t.deliveries).where(eq(t.deliveries.id, p("id")));
const postCopies = (db: Db, t: Tables) =>
  db.select().from(t.deliveries).where(and(eq(t.deliveries.postId, p("postId")), eq(t.deliveries.kind, "post")));
const leased = (t: Tables) => and(eq(t.deliveries.id, p("id")), eq(t.deliveries.status, "sending"), eq(t.deliveries.leaseOwner, p("owner")));
const releaseLease = { leaseOwner: null, leaseExpiresAt: null } as const;

const renew = (db: Db, t: Tables) => db.update(t.deliveries).set({ leaseExpiresAt: setParam("leaseExpiresAt") }).where(leased(t));
const sent = (db: Db, t: Tables) =>
  db
    .update(t.deliveries)
    .set({ status: "sent", sentAt: setParam("now"), attempts: sql`${t.deliveries.attempts} + 1`, lastError: null, errorCategory: null, ...releaseLease })
    .where(leased(t));
const deferred = (db: Db, t: Tables) =>
  db
    .update(t.deliveries)
    .set({
      status: "queued",
      nextAttemptAt: setParam("nextAttemptAt"),
      attempts: sql`${t.deliveries.attempts} + 1`,
      lastError: setParam("error"),
      errorCategory: setParam("category"),
      ...releaseLease,
    })
    .where(leased(t));
const failed = (db: Db, t: Tables) =>
  db
    .update(t.deliveries)
    .set({ status: "failed", attempts: sql`${t.deliveries.attempts} + 1`, lastError: setParam("error"), errorCategory: setParam("category"), ...releaseLease })
    .where(leased(t));
const skipped = (db: Db, t: Tables) =>
  db.update(t.deliveries).set({ status: "skipped", lastError: setParam("reason"), errorCategory: null, ...releaseLease }).where(leased(t));
const postponed = (db: Db, t: Tables) =>
  db
    .update(t.deliveries)
    .set({ status: "queued", nextAttemptAt: setParam("nextAttemptAt"), lastError: sql`coalesce(${setParam("reason")}, ${t.deliveries.lastError})`, ...releaseLease })
    .where(leased(t));
const bounced = (db: Db, t: Tables) =>
  db
    .update(t.deliveries)
    .set({ status: "bounced", bouncedAt: setParam("now"), lastError: setParam("error"), errorCategory: setParam("category") })
    // A second report about the same copy changes nothing and must not count twice.
    .where(and(eq(t.deliveries.id, p("id")), ne(t.deliveries.status, "bounced")))
    .returning({ id: t.deliveries.id });
const retry = (db: Db, t: Tables) =>
  db
    .update(t.deliveries)
    .set({ status: "queued", nextAttemptAt: setParam("now"), ...releaseLease })
    .where(and(eq(t.deliveries.id, p("id")), inArray(t.deliveries.status, ["queued", "failed", "bounced", "skipped"])));
// Copies to the same person being sent right now, by any worker on any node, and claimed before
// this one: counting only earlier ones lets the first of several go out instead of all waiting.
const inFlightBefore = (db: Db, t: Tables) =>
  db
    .select({ count: count() })
    .from(t.deliveries)
    .where(
      and(
        eq(t.deliveries.recipientId, p("recipientId")),
        eq(t.deliveries.kind, "post"),
        eq(t.deliveries.status, "sending"),
        gt(t.deliveries.leaseExpiresAt, p("now")),
        lt(t.deliveries.id, p("id")),
      ),
    );
const dailyUsageQuery = (db: Db, t: Tables) =>
  db
    .select({ count: count(), oldest: min(t.deliveries.sentAt) })
    .from(t.deliveries)
    .where(and(eq(t.deliveries.recipientId, p("recipientId")), eq(t.deliveries.kind, "post"), gt(t.deliveries.sentAt, p("since"))));

/**
 * Queues deliveries, due now, each with its own VERP bounce token, in the caller's transaction;
 * answers the tokens in the order given. Nothing is read back: RETURNING costs about as much as
 * the insert itself, on every post's fan-out, and the callers know what they wrote.
 */
export async function queueDeliveries(tx: Tx, rows: readonly DeliveryToQueue[], now: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let start = 0; start < rows.length; ) {
    let size = MAX_ROWS_PER_INSERT;
    while (size > rows.length - start) size /= 2;
    const part = rows.slice(start, start + size);
    start += size;
    const values: Record<string, unknown> = { now };
    part.forEach((row, index) => {
      const token = newToken();
      tokens.push(token);
      values[`kind${index}`] = row.kind;
      values[`postId${index}`] = row.postId ?? null;
      values[`inboundId${index}`] = row.inboundId ?? null;
      values[`noticeId${index}`] = row.noticeId ?? null;
      values[`digestId${index}`] = row.digestId ?? null;
      values[`appointmentId${index}`] = row.appointmentId ?? null;
      values[`conversationId${index}`] = row.conversationId ?? null;
      values[`recipientId${index}`] = row.recipientId;
      values[`toAddress${index}`] = row.toAddress;
      values[`bounceToken${index}`] = token;
    });
    const inserted = await tx.run(insertOf(size), values);
    if (inserted !== size) throw new Error(`${size - inserted} of ${size} deliveries were not inserted`);
  }
  return tokens;
}

export async function findDelivery(tx: Tx, id: number): Promise<Delivery | undefined> {
  return tx.one(byId, { id });
}

/** The copies of one post, one per recipient: a bounce report that missed its VERP address is matched against them. */
export async function findPostCopies(tx: Tx, postId: number): Promise<Delivery[]> {
  return tx.all(postCopies, { postId });
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
  const rows = await tx.all(claimDueDeliveries, {
    now: options.now,
    owner: options.owner,
    leaseExpiresAt: options.now + options.leaseMs,
    limit: options.limit,
  });
  return rows.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id);
}

/** Pushes a lease forward when its send actually starts; false when the lease was lost. */
export async function renewLease(tx: Tx, id: number, owner: string, leaseExpiresAt: number): Promise<boolean> {
  return (await tx.run(renew, { id, owner, leaseExpiresAt })) === 1;
}

export async function markSent(tx: Tx, id: number, owner: string, now: number): Promise<boolean> {
  return (await tx.run(sent, { id, owner, now })) === 1;
}

/** A temporary failure: back in the queue for a later attempt. */
export async function markDeferred(tx: Tx, id: number, owner: string, nextAttemptAt: number, error: string, category: string | null): Promise<boolean> {
  return (await tx.run(deferred, { id, owner, nextAttemptAt, error, category })) === 1;
}

export async function markFailed(tx: Tx, id: number, owner: string, error: string, category: string | null): Promise<boolean> {
  return (await tx.run(failed, { id, owner, error, category })) === 1;
}

/** Not sent and never will be, for a reason that is nobody's error (the recipient left). */
export async function markSkipped(tx: Tx, id: number, owner: string, reason: string): Promise<boolean> {
  return (await tx.run(skipped, { id, owner, reason })) === 1;
}

/** Back in the queue without an attempt having been made (daily limit, shutdown before sending). */
export async function markPostponed(tx: Tx, id: number, owner: string, nextAttemptAt: number, reason: string | null): Promise<boolean> {
  return (await tx.run(postponed, { id, owner, nextAttemptAt, reason })) === 1;
}

/** A bounce report arrived for this delivery; not lease-guarded, since it comes after the send. */
/** False when the delivery was already marked bounced. */
export async function markBounced(tx: Tx, id: number, now: number, error: string, category: string | null): Promise<boolean> {
  return (await tx.one(bounced, { id, now, error, category })) !== undefined;
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
  const rows = await tx.rows((db, t) =>
    db
      .select()
      .from(t.deliveries)
      .where(options.status ? eq(t.deliveries.status, options.status) : undefined)
      .orderBy(desc(t.deliveries.id))
      .limit(options.limit),
  );
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
  return (await tx.run(retry, { id, now })) === 1;
}

export interface DailyUsage {
  /** Post copies sent to this person in the last 24 h. */
  readonly count: number;
  /** When the oldest of those sends happened: one slot frees up 24 h after it. */
  readonly oldestSentAt: number | null;
  /** Copies to them being sent right now, claimed before this delivery. */
  readonly inFlight: number;
}

/**
 * What the daily limit counts for one delivery (system mail does not count), in the database, so
 * every worker on every node sees the same figure.
 */
export async function dailyUsage(tx: Tx, delivery: Pick<Delivery, "id" | "recipientId">, now: number): Promise<DailyUsage> {
  const sentRow = await tx.one(dailyUsageQuery, { recipientId: delivery.recipientId, since: now - DAY_MS });
  const flying = await tx.one(inFlightBefore, { recipientId: delivery.recipientId, now, id: delivery.id });
  return { count: sentRow?.count ?? 0, oldestSentAt: sentRow?.oldest ?? null, inFlight: flying?.count ?? 0 };
}
