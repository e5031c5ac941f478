import { and, asc, desc, eq, inArray, or, sql } from "drizzle-orm";
import type { Db } from "../db/database.js";
import {
  attachments, conversations, participants, posts, users,
  type Attachment, type Conversation, type Participant, type Post, type User,
} from "../../schema/schema.js";

export type NewConversation = typeof conversations.$inferInsert;
export type NewParticipant = typeof participants.$inferInsert;
export type NewPost = typeof posts.$inferInsert;
export type NewAttachment = typeof attachments.$inferInsert;
export interface ParticipantWithUser { readonly participant: Participant; readonly user: User }

export function insertConversation(db: Db, values: NewConversation): Conversation {
  return db.insert(conversations).values(values).returning().get();
}

export function findConversation(db: Db, id: number): Conversation | undefined {
  return db.select().from(conversations).where(eq(conversations.id, id)).get();
}

export function updateConversation(db: Db, id: number, patch: Partial<NewConversation>): void {
  db.update(conversations).set(patch).where(eq(conversations.id, id)).run();
}

export interface ConversationSummary {
  readonly conversation: Conversation;
  readonly participants: number;
  readonly posts: number;
}

/** Conversations with counts of active participants and sent posts, optionally one user's. */
export function listConversationSummaries(db: Db, userId?: number): ConversationSummary[] {
  // Correlated subqueries: drizzle renders a bare column name here, so qualify it by hand.
  const participantCount = sql<number>`(SELECT count(*) FROM participants p WHERE p.conversation_id = "conversations"."id" AND p.state IN ('active', 'invited'))`;
  const postCount = sql<number>`(SELECT count(*) FROM posts q WHERE q.conversation_id = "conversations"."id" AND q.state = 'sent')`;
  const base = db
    .select({ conversation: conversations, participants: participantCount, posts: postCount })
    .from(conversations);
  const rows =
    userId === undefined
      ? base.orderBy(asc(conversations.id)).all()
      : base
          .where(sql`${conversations.id} IN (SELECT conversation_id FROM participants WHERE user_id = ${userId})`)
          .orderBy(asc(conversations.id))
          .all();
  return rows;
}

export function insertParticipant(db: Db, values: NewParticipant): Participant {
  return db.insert(participants).values(values).returning().get();
}

export function updateParticipant(db: Db, id: number, patch: Partial<NewParticipant>): Participant {
  const row = db.update(participants).set(patch).where(eq(participants.id, id)).returning().get();
  if (!row) throw new Error(`participant ${id} vanished during update`);
  return row;
}

export function findParticipant(db: Db, conversationId: number, userId: number): Participant | undefined {
  return db
    .select()
    .from(participants)
    .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)))
    .get();
}

export function findParticipantByToken(db: Db, kind: "reply" | "leave", token: string): Participant | undefined {
  const column = kind === "reply" ? participants.replyToken : participants.leaveToken;
  return db.select().from(participants).where(eq(column, token)).get();
}

export function participantsWithUsers(db: Db, conversationId: number): ParticipantWithUser[] {
  return db
    .select({ participant: participants, user: users })
    .from(participants)
    .innerJoin(users, eq(users.id, participants.userId))
    .where(eq(participants.conversationId, conversationId))
    .orderBy(asc(participants.id))
    .all();
}

export function insertPost(db: Db, values: NewPost): Post {
  return db.insert(posts).values(values).returning().get();
}

export function findPost(db: Db, id: number): Post | undefined {
  return db.select().from(posts).where(eq(posts.id, id)).get();
}

export function findPostBySourceMessageId(db: Db, messageId: string): Post | undefined {
  return db.select().from(posts).where(eq(posts.sourceMessageId, messageId)).get();
}

/** Posts whose own or source Message-ID is among these ids: the thread-matching lookup. */
export function findPostsByAnyMessageId(db: Db, messageIds: readonly string[]): Post[] {
  if (messageIds.length === 0) return [];
  return db
    .select()
    .from(posts)
    .where(or(inArray(posts.messageId, [...messageIds]), inArray(posts.sourceMessageId, [...messageIds])))
    .all();
}

export function lastSentPost(db: Db, conversationId: number): Post | undefined {
  return db
    .select()
    .from(posts)
    .where(and(eq(posts.conversationId, conversationId), eq(posts.state, "sent")))
    .orderBy(desc(posts.id))
    .limit(1)
    .get();
}

export function listPosts(db: Db, conversationId: number): Post[] {
  return db.select().from(posts).where(eq(posts.conversationId, conversationId)).orderBy(asc(posts.id)).all();
}

export function insertAttachments(db: Db, rows: NewAttachment[]): void {
  if (rows.length > 0) db.insert(attachments).values(rows).run();
}

export function attachmentsOfPost(db: Db, postId: number): Attachment[] {
  return db.select().from(attachments).where(eq(attachments.postId, postId)).orderBy(asc(attachments.id)).all();
}

export function markPostRead(db: Db, participantIds: readonly number[], postId: number): void {
  if (participantIds.length > 0) {
    db.update(participants).set({ lastReadPostId: postId }).where(inArray(participants.id, [...participantIds])).run();
  }
}
