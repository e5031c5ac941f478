import { and, asc, desc, eq, lt, sql } from "drizzle-orm";
import { setParam, type Db, type Tx } from "../db/store.js";
import { attachments, posts } from "../../schema/schema.js";
import type { Attachment, Post } from "./records.js";

export type NewPost = Omit<Post, "id" | "state" | "sentAt">;
export type NewAttachment = Omit<Attachment, "id">;

/** The minimum threading needs to know about one earlier post. */
export interface PostLink {
  readonly id: number;
  readonly parentId: number | null;
  readonly messageId: string;
}

const p = sql.placeholder;

const insertOne = (db: Db) =>
  db
    .insert(posts)
    .values({
      conversationId: p("conversationId"),
      authorId: p("authorId"),
      parentId: p("parentId"),
      // Created as a draft; publishing marks it sent, after which the database refuses changes.
      state: "draft",
      body: p("body"),
      rawBody: p("rawBody"),
      messageId: p("messageId"),
      sourceMessageId: p("sourceMessageId"),
      inboundId: p("inboundId"),
      createdAt: p("createdAt"),
    })
    .returning()
    .prepare();
const publish = (db: Db) =>
  db
    .update(posts)
    .set({ state: "sent", sentAt: setParam("sentAt") })
    .where(and(eq(posts.id, p("id")), eq(posts.state, "draft")))
    .returning()
    .prepare();
const byId = (db: Db) => db.select().from(posts).where(eq(posts.id, p("id"))).prepare();
const byMessageId = (db: Db) => db.select().from(posts).where(eq(posts.messageId, p("messageId"))).prepare();
const bySourceMessageId = (db: Db) => db.select().from(posts).where(eq(posts.sourceMessageId, p("messageId"))).prepare();
const lastSent = (db: Db) =>
  db
    .select()
    .from(posts)
    .where(and(eq(posts.conversationId, p("conversationId")), eq(posts.state, "sent")))
    .orderBy(desc(posts.id))
    .limit(1)
    .prepare();
const insertAttachment = (db: Db) =>
  db
    .insert(attachments)
    .values({
      postId: p("postId"),
      filename: p("filename"),
      contentType: p("contentType"),
      contentId: p("contentId"),
      inline: p("inline"),
      size: p("size"),
      content: p("content"),
    })
    .prepare();
const attachmentsOf = (db: Db) => db.select().from(attachments).where(eq(attachments.postId, p("postId"))).orderBy(asc(attachments.id)).prepare();
const earlierLinks = (db: Db) =>
  db
    .select({ id: posts.id, parentId: posts.parentId, messageId: posts.messageId })
    .from(posts)
    .where(and(eq(posts.conversationId, p("conversationId")), eq(posts.state, "sent"), lt(posts.id, p("beforeId"))))
    .orderBy(asc(posts.id))
    .prepare();

export async function insertPost(tx: Tx, values: NewPost): Promise<Post> {
  const row = tx.one(insertOne, values);
  if (!row) throw new Error("post was not inserted");
  return row;
}

/** Marks a draft sent; undefined when it was not a draft (it was published already). */
export async function markPostSent(tx: Tx, id: number, sentAt: number): Promise<Post | undefined> {
  return tx.one(publish, { id, sentAt });
}

export async function findPost(tx: Tx, id: number): Promise<Post | undefined> {
  return tx.one(byId, { id });
}

/** Posts whose own or source Message-ID is this one: the thread-matching lookup. */
export async function findPostsByMessageId(tx: Tx, messageId: string): Promise<Post[]> {
  const own = tx.all(byMessageId, { messageId });
  const received = tx.all(bySourceMessageId, { messageId });
  return [...own, ...received];
}

export async function lastSentPost(tx: Tx, conversationId: number): Promise<Post | undefined> {
  return tx.one(lastSent, { conversationId });
}

export async function listPosts(tx: Tx, conversationId: number): Promise<Post[]> {
  return tx.db.select().from(posts).where(eq(posts.conversationId, conversationId)).orderBy(asc(posts.id));
}

export async function insertAttachments(tx: Tx, rows: readonly NewAttachment[]): Promise<void> {
  for (const row of rows) tx.run(insertAttachment, { ...row });
}

export async function attachmentsOfPost(tx: Tx, postId: number): Promise<Attachment[]> {
  return tx.all(attachmentsOf, { postId });
}

/** The conversation's sent posts before this one, oldest first: what threading is built from. */
export async function earlierSentPosts(tx: Tx, conversationId: number, beforePostId: number): Promise<PostLink[]> {
  return tx.all(earlierLinks, { conversationId, beforeId: beforePostId });
}
