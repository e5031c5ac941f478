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
    .returning();
const byId = (db: Db, t: Tables) => db.select().from(t.notices).where(eq(t.notices.id, p("id")));

export async function insertNotice(tx: Tx, values: NewNotice): Promise<Notice> {
  const row = await tx.one(insertOne, values);
  if (!row) throw new Error("notice was not inserted");
  return row;
}

export async function findNotice(tx: Tx, id: number): Promise<Notice | undefined> {
  return tx.one(byId, { id });
}
