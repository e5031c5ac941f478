import { eq, sql } from "drizzle-orm";
import type { Db, Tables, Tx } from "../db/store.js";
import type { Notice } from "./records.js";

export type NewNotice = Omit<Notice, "id">;

const p = sql.placeholder;

const insertOne = (db: Db, t: Tables) =>
  db
    .insert(t.notices)
    .values({
      kind: p("kind"),
      conversationId: p("conversationId"),
      userId: p("userId"),
      byId: p("byId"),
      postId: p("postId"),
      history: p("history"),
      createdAt: p("createdAt"),
    })
    // Only a notice that exists once (notices_undelivered_once_idx) can conflict: it is not repeated.
    .onConflictDoNothing()
    .returning();
const byId = (db: Db, t: Tables) => db.select().from(t.notices).where(eq(t.notices.id, p("id")));

/** Undefined when the notice exists once and already does. */
export async function insertNotice(tx: Tx, values: NewNotice): Promise<Notice | undefined> {
  return tx.one(insertOne, values);
}

export async function findNotice(tx: Tx, id: number): Promise<Notice | undefined> {
  return tx.one(byId, { id });
}
