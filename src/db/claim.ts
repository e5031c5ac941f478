import { and, asc, eq, inArray, lt, lte, or, sql, type Column } from "drizzle-orm";
import type { NodePgDatabase } from "drizzle-orm/node-postgres";
import type * as pgSchema from "../../schema/pg-schema.js";
import { setParam, type Db, type DialectQuery, type Tables } from "./store.js";

const p = sql.placeholder;

/** Queued and due, or leased by a worker whose lease has run out. */
function due(deliveries: { status: Column; nextAttemptAt: Column; leaseExpiresAt: Column }) {
  return or(
    and(eq(deliveries.status, "queued"), lte(deliveries.nextAttemptAt, p("now"))),
    and(eq(deliveries.status, "sending"), lt(deliveries.leaseExpiresAt, p("now"))),
  );
}

/**
 * Leasing due deliveries: queued ones whose time has come, and rows stuck in `sending` whose lease
 * ran out (their worker died mid-send, so they go out at most once more). The due index
 * (status, next_attempt_at) finds them. The one query whose SQL differs by engine: SQLite has a
 * single writer, so the subquery's rows cannot be taken by anyone else before the UPDATE; on
 * PostgreSQL several nodes claim at once, and `FOR UPDATE SKIP LOCKED` gives each node rows no
 * other node is claiming, without waiting for them.
 */
export const claimDueDeliveries = {
  // Each kind of due row is read apart, so the queued ones come in the due index's own order
  // (status, next_attempt_at, then id) and stop at the limit: the final ORDER BY sorts at most
  // twice the limit, never the whole backlog as an OR across both would.
  sqlite: (db: Db, t: Tables) =>
    db
      .update(t.deliveries)
      .set({ status: "sending", leaseOwner: setParam("owner"), leaseExpiresAt: setParam("leaseExpiresAt") })
      .where(
        inArray(
          t.deliveries.id,
          sql`(select "id" from (
            select * from (select "id", "next_attempt_at" from "deliveries" where "status" = 'queued' and "next_attempt_at" <= ${p("now")} order by "next_attempt_at", "id" limit ${p("limit")})
            union all
            select * from (select "id", "next_attempt_at" from "deliveries" where "status" = 'sending' and "lease_expires_at" < ${p("now")} order by "next_attempt_at", "id" limit ${p("limit")})
          ) order by "next_attempt_at", "id" limit ${p("limit")})`,
        ),
      )
      .returning(),
  postgres: (db: NodePgDatabase<typeof pgSchema>, t: typeof pgSchema) =>
    db
      .update(t.deliveries)
      .set({ status: "sending", leaseOwner: setParam("owner"), leaseExpiresAt: setParam("leaseExpiresAt") })
      .where(
        inArray(
          t.deliveries.id,
          db
            .select({ id: t.deliveries.id })
            .from(t.deliveries)
            .where(due(t.deliveries))
            .orderBy(asc(t.deliveries.nextAttemptAt), asc(t.deliveries.id))
            .limit(p("limit"))
            .for("update", { skipLocked: true }),
        ),
      )
      .returning(),
} satisfies DialectQuery;
