import { and, asc, count, desc, eq, lt, sql } from "drizzle-orm";
import { setParam, type Db, type QueryBuilder, type Tables, type Tx } from "../db/store.js";
import type { Attachment, Post } from "./records.js";

export type NewPost = Omit<Post, "id" | "state" | "sentAt">;
export type NewAttachment = Omit<Attachment, "id">;

/** The minimum threading needs to know about one earlier post. */
export interface PostLink {
  readonly id: number;
  readonly parentId: number | null;
  readonly messageId: string;
  /** An internal note: threading for someone who may not see it leaves it out. */
  readonly note: boolean;
  /** The author's own Message-ID and who and when: threading names it to the author's mailbox. */
  readonly sourceMessageId: string | null;
  readonly authorId: number;
  readonly createdAt: number;
}

const p = sql.placeholder;

const insertOne = (db: Db, t: Tables) =>
  db
    .insert(t.posts)
    .values({
      conversationId: p("conversationId"),
      authorId: p("authorId"),
      parentId: p("parentId"),
      state: p("state"),
      sentAt: p("sentAt"),
      body: p("body"),
      rawBody: p("rawBody"),
      messageId: p("messageId"),
      sourceMessageId: p("sourceMessageId"),
      inboundId: p("inboundId"),
      note: p("note"),
      html: p("html"),
      createdAt: p("createdAt"),
    })
    .returning({ id: t.posts.id });
const publish = (db: Db, t: Tables) =>
  db
    .update(t.posts)
    .set({ state: "sent", sentAt: setParam("sentAt") })
    .where(and(eq(t.posts.id, p("id")), eq(t.posts.state, "draft")));
const byId = (db: Db, t: Tables) => db.select().from(t.posts).where(eq(t.posts.id, p("id")));
const byMessageId = (db: Db, t: Tables) => db.select().from(t.posts).where(eq(t.posts.messageId, p("messageId")));
const bySourceMessageId = (db: Db, t: Tables) => db.select().from(t.posts).where(eq(t.posts.sourceMessageId, p("messageId")));
const ofConversation = (db: Db, t: Tables) =>
  db.select().from(t.posts).where(eq(t.posts.conversationId, p("conversationId"))).orderBy(asc(t.posts.id));
const insertAttachment = (db: Db, t: Tables) =>
  db
    .insert(t.attachments)
    .values({
      postId: p("postId"),
      filename: p("filename"),
      contentType: p("contentType"),
      contentId: p("contentId"),
      inline: p("inline"),
      size: p("size"),
      content: p("content"),
    });
const attachmentsOf = (db: Db, t: Tables) => db.select().from(t.attachments).where(eq(t.attachments.postId, p("postId"))).orderBy(asc(t.attachments.id));
const linkColumns = (t: Tables) => ({
  id: t.posts.id,
  parentId: t.posts.parentId,
  messageId: t.posts.messageId,
  note: t.posts.note,
  sourceMessageId: t.posts.sourceMessageId,
  authorId: t.posts.authorId,
  createdAt: t.posts.createdAt,
});
const sentBefore = (t: Tables) => and(eq(t.posts.conversationId, p("conversationId")), eq(t.posts.state, "sent"), lt(t.posts.id, p("beforeId")));
// Both ends of the conversation through the conversation index (in id order within it), never all its posts.
const firstLinks = (db: Db, t: Tables) => db.select(linkColumns(t)).from(t.posts).where(sentBefore(t)).orderBy(asc(t.posts.id)).limit(p("limit"));
const latestLinks = (db: Db, t: Tables) => db.select(linkColumns(t)).from(t.posts).where(sentBefore(t)).orderBy(desc(t.posts.id)).limit(p("limit"));
// Without the post being rendered in it, so that the copies of a burst of posts share each answer (SentPostReads).
const linkById = (db: Db, t: Tables) =>
  db
    .select(linkColumns(t))
    .from(t.posts)
    .where(and(eq(t.posts.id, p("id")), eq(t.posts.conversationId, p("conversationId")), eq(t.posts.state, "sent")));

/** Inserts a post as a draft, or sent at `sentAt` (published as it is written: nothing to rewrite). */
export async function insertPost(tx: Tx, values: NewPost, sentAt: number | null = null): Promise<Post> {
  const row = await tx.one(insertOne, { ...values, state: sentAt === null ? "draft" : "sent", sentAt });
  if (!row) throw new Error("post was not inserted");
  return { ...values, id: row.id, state: sentAt === null ? "draft" : "sent", sentAt };
}

const editDraft = (db: Db, t: Tables) =>
  db
    .update(t.posts)
    .set({ body: setParam("body"), rawBody: setParam("rawBody") })
    // Only a draft: the database refuses any change to a sent post, and this never asks for one.
    .where(and(eq(t.posts.id, p("id")), eq(t.posts.state, "draft")))
    .returning();

/** Rewrites a draft's text; undefined when the post was sent meanwhile (it never changes then). */
export async function updateDraftPost(tx: Tx, id: number, text: { body: string; rawBody: string }): Promise<Post | undefined> {
  return tx.one(editDraft, { id, ...text });
}

/** Marks a draft sent; undefined when it was not a draft (it was published already). */
export async function markPostSent(tx: Tx, id: number, sentAt: number): Promise<boolean> {
  return (await tx.run(publish, { id, sentAt })) > 0;
}

export async function findPost(tx: Tx, id: number): Promise<Post | undefined> {
  return tx.one(byId, { id });
}

/** Posts whose own or source Message-ID is this one: the thread-matching lookup. */
export async function findPostsByMessageId(tx: Tx, messageId: string): Promise<Post[]> {
  const own = await tx.all(byMessageId, { messageId });
  const received = await tx.all(bySourceMessageId, { messageId });
  return [...own, ...received];
}

export async function listPosts(tx: Tx, conversationId: number): Promise<Post[]> {
  return tx.all(ofConversation, { conversationId });
}

export async function insertAttachments(tx: Tx, rows: readonly NewAttachment[]): Promise<void> {
  for (const row of rows) await tx.run(insertAttachment, { ...row });
}

export async function attachmentsOfPost(tx: Tx, postId: number): Promise<Attachment[]> {
  return tx.all(attachmentsOf, { postId });
}

/** The conversation's first sent posts before this one, oldest first. */
export async function firstSentPosts(tx: Tx, conversationId: number, beforePostId: number, limit: number): Promise<PostLink[]> {
  return tx.all(firstLinks, { conversationId, beforeId: beforePostId, limit });
}

/** The conversation's latest sent posts before this one, newest first. */
export async function latestSentPosts(tx: Tx, conversationId: number, beforePostId: number, limit: number): Promise<PostLink[]> {
  return tx.all(latestLinks, { conversationId, beforeId: beforePostId, limit });
}

/** One sent post of the conversation before this one, by id: a parent outside the posts loaded. */
export async function sentPostLink(tx: Tx, conversationId: number, id: number, beforePostId: number): Promise<PostLink | undefined> {
  const link = await tx.one(linkById, { conversationId, id });
  return link && link.id < beforePostId ? link : undefined;
}

const attachmentCounts = (db: Db, t: Tables) =>
  db
    .select({ postId: t.attachments.postId, count: count() })
    .from(t.attachments)
    .innerJoin(t.posts, eq(t.posts.id, t.attachments.postId))
    .where(eq(t.posts.conversationId, p("conversationId")))
    .groupBy(t.attachments.postId);

/** How many attachments each post of a conversation has, without loading them. */
export async function attachmentCountsOfConversation(tx: Tx, conversationId: number): Promise<Map<number, number>> {
  const rows = await tx.all(attachmentCounts, { conversationId });
  return new Map(rows.map((row) => [row.postId, Number(row.count)]));
}

// Through the conversation index alone: the post's row (its text) is never read.
const lastSentIdOf = (withNotes: boolean) => (db: Db, t: Tables) =>
  db
    .select({ id: t.posts.id })
    .from(t.posts)
    .where(and(eq(t.posts.conversationId, p("conversationId")), eq(t.posts.state, "sent"), ...(withNotes ? [] : [eq(t.posts.note, false)])))
    .orderBy(desc(t.posts.id))
    .limit(1);
const lastSentId = lastSentIdOf(true);
const lastSentPublicId = lastSentIdOf(false);

/** The id of the conversation's newest sent post; with `publicOnly`, of the newest that is not an internal note. */
export async function lastSentPostId(tx: Tx, conversationId: number, publicOnly: boolean): Promise<number | undefined> {
  return (await tx.one(publicOnly ? lastSentPublicId : lastSentId, { conversationId }))?.id;
}

const textSize = (db: Db, t: Tables) =>
  db
    .select({ bytes: sql<number>`length(${t.posts.body}) + coalesce(length(${t.posts.html}), 0)` })
    .from(t.posts)
    .where(eq(t.posts.id, p("postId")));
const attachmentsSize = (db: Db, t: Tables) =>
  db.select({ bytes: sql<number>`coalesce(sum(${t.attachments.size}), 0)` }).from(t.attachments).where(eq(t.attachments.postId, p("postId")));

/** About how large a post's copies are (text, HTML and attachments), without loading any of it. */
export async function postSize(tx: Tx, postId: number): Promise<number> {
  const text = Number((await tx.one(textSize, { postId }))?.bytes ?? 0);
  return text + Number((await tx.one(attachmentsSize, { postId }))?.bytes ?? 0);
}

/** About how much memory a sent post's row holds (its texts), to keep it for its other copies or not. */
const postBytes = (post: Post) => post.body.length + post.rawBody.length + (post.html?.length ?? 0);

/**
 * The reads about a sent post that answer the same for every copy of it, each with the weight
 * (bytes, about) of an answer that may be kept for the post's other copies, or undefined for one
 * that may not (render.repo.ts, SentPostReads): the post once sent (the database refuses any
 * change to it then, while a draft may still be published), the earlier posts threading links to
 * (sent posts never change; a draft published later could only be missing from References), and
 * its attachments.
 */
export const unchangingPostReads: ReadonlyMap<QueryBuilder, (answer: unknown) => number | undefined> = new Map<QueryBuilder, (answer: unknown) => number | undefined>([
  [byId, (answer) => ((answer as Post | undefined)?.state === "sent" ? postBytes(answer as Post) : undefined)],
  [firstLinks, (answer) => (Array.isArray(answer) ? 0 : undefined)],
  [latestLinks, (answer) => (Array.isArray(answer) ? 0 : undefined)],
  [linkById, (answer) => (answer === undefined ? undefined : 0)],
  [attachmentsOf, (answer) => (Array.isArray(answer) ? (answer as Attachment[]).reduce((sum, file) => sum + file.content.length, 0) : undefined)],
]);
