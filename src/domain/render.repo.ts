import { and, asc, eq, gt, isNotNull, lte, sql } from "drizzle-orm";
import type { Db, Tables, Tx } from "../db/store.js";
import type { User } from "./records.js";

const p = sql.placeholder;

/**
 * Active participants whose mail started bouncing in a time window: only those few rows, so a
 * copy of a post to a hundred people does not read the hundred participants once per copy.
 */
const bouncingIn = (db: Db, t: Tables) =>
  db
    .select({ user: t.users })
    .from(t.participants)
    .innerJoin(t.users, eq(t.users.id, t.participants.userId))
    .where(
      and(
        eq(t.participants.conversationId, p("conversationId")),
        eq(t.participants.state, "active"),
        isNotNull(t.users.bouncingSince),
        gt(t.users.bouncingSince, p("after")),
        lte(t.users.bouncingSince, p("until")),
      ),
    )
    .orderBy(asc(t.participants.id));

/** Active participants of the conversation whose address started bouncing after `after` and by `until` (Unix ms). */
export async function participantsBouncingSince(tx: Tx, conversationId: number, after: number, until: number): Promise<User[]> {
  return (await tx.all(bouncingIn, { conversationId, after, until })).map((row) => row.user);
}
