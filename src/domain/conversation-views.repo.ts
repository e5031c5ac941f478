import { and, asc, eq, or, sql } from "drizzle-orm";
import type { Db, Tables, Tx } from "../db/store.js";
import { postSeenBy } from "./conversations.repo.js";
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

// What one participant sees, decided in the same pass that reads the lines: a long conversation is
// read once, not once for its lines and again for the ids they may see.
const seenBy = (t: Tables) =>
  and(
    eq(t.posts.conversationId, p("conversationId")),
    or(
      and(eq(t.posts.state, "sent"), sql.raw(postSeenBy('"posts"', '"participants"', '"conversations"'))),
      // A draft is its author's alone.
      and(eq(t.posts.state, "draft"), eq(t.posts.authorId, t.participants.userId)),
    ),
  );
const seenLines = (withBodies: boolean) => (db: Db, t: Tables) =>
  db
    .select(withBodies ? { ...lineColumns(t), body: t.posts.body } : lineColumns(t))
    .from(t.posts)
    .innerJoin(t.participants, and(eq(t.participants.conversationId, t.posts.conversationId), eq(t.participants.userId, p("userId"))))
    .innerJoin(t.conversations, eq(t.conversations.id, t.posts.conversationId))
    .where(seenBy(t))
    .orderBy(asc(t.posts.id));
const seenLinesOnly = seenLines(false);
const seenLinesWithBodies = seenLines(true);

/** Every post of a conversation, drafts included, oldest first; `body` only with `bodies`. */
export async function postLines(tx: Tx, conversationId: number, bodies: boolean): Promise<PostLine[]> {
  return tx.all(bodies ? linesWithBodies : lines, { conversationId });
}

/** The posts of a conversation this participant sees (their own drafts included), oldest first; `body` only with `bodies`. */
export async function postLinesSeenBy(tx: Tx, conversationId: number, userId: number, bodies: boolean): Promise<PostLine[]> {
  return tx.all(bodies ? seenLinesWithBodies : seenLinesOnly, { conversationId, userId });
}
