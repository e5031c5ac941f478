import { asc, eq, sql } from "drizzle-orm";
import type { Db, Tables, Tx } from "../db/store.js";
import type { Post } from "./records.js";

/** A post as a listing shows it: who and when, not what (the text only when asked for). */
export type PostLine = Pick<Post, "id" | "authorId" | "state" | "note" | "createdAt" | "sentAt"> & { readonly body?: string };

const p = sql.placeholder;

const lineColumns = (t: Tables) => ({
  id: t.posts.id,
  authorId: t.posts.authorId,
  state: t.posts.state,
  note: t.posts.note,
  createdAt: t.posts.createdAt,
  sentAt: t.posts.sentAt,
});
// Without the text, a long conversation costs its metadata only: bodies, raw bodies and HTML stay on disk.
const lines = (db: Db, t: Tables) =>
  db.select(lineColumns(t)).from(t.posts).where(eq(t.posts.conversationId, p("conversationId"))).orderBy(asc(t.posts.id));
const linesWithBodies = (db: Db, t: Tables) =>
  db
    .select({ ...lineColumns(t), body: t.posts.body })
    .from(t.posts)
    .where(eq(t.posts.conversationId, p("conversationId")))
    .orderBy(asc(t.posts.id));

/** Every post of a conversation, drafts included, oldest first; `body` only with `bodies`. */
export async function postLines(tx: Tx, conversationId: number, bodies: boolean): Promise<PostLine[]> {
  return tx.all(bodies ? linesWithBodies : lines, { conversationId });
}
