import { and, asc, eq, lt } from "drizzle-orm";
import type { Db } from "../db/database.js";
import {
  attachments, conversations, deliveries, groups, inboundMessages, participants, posts, users,
  type Attachment, type Conversation, type Delivery, type Group, type InboundMessage, type Participant,
  type Post, type User,
} from "../../schema/schema.js";
import type { ThreadPost } from "./threading.js";

/** Queries the renderer needs; nothing here decides what the email looks like. */

export function findDelivery(db: Db, id: number): Delivery | undefined {
  return db.select().from(deliveries).where(eq(deliveries.id, id)).get();
}

export function findPost(db: Db, id: number): Post | undefined {
  return db.select().from(posts).where(eq(posts.id, id)).get();
}

export function findConversation(db: Db, id: number): Conversation | undefined {
  return db.select().from(conversations).where(eq(conversations.id, id)).get();
}

export function findGroup(db: Db, id: number): Group | undefined {
  return db.select().from(groups).where(eq(groups.id, id)).get();
}

export function findUser(db: Db, id: number): User | undefined {
  return db.select().from(users).where(eq(users.id, id)).get();
}

export function findParticipant(db: Db, conversationId: number, userId: number): Participant | undefined {
  return db
    .select()
    .from(participants)
    .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)))
    .get();
}

/** Active participants with their users, for `gateway.disclose_participants`. */
export function activeParticipantUsers(db: Db, conversationId: number): User[] {
  return db
    .select({ user: users })
    .from(participants)
    .innerJoin(users, eq(users.id, participants.userId))
    .where(and(eq(participants.conversationId, conversationId), eq(participants.state, "active")))
    .orderBy(asc(participants.id))
    .all()
    .map((row) => row.user);
}

/** The conversation's sent posts before this one, oldest first: what threading is built from. */
export function earlierSentPosts(db: Db, conversationId: number, beforePostId: number): ThreadPost[] {
  return db
    .select({ id: posts.id, parentId: posts.parentId, messageId: posts.messageId })
    .from(posts)
    .where(and(eq(posts.conversationId, conversationId), eq(posts.state, "sent"), lt(posts.id, beforePostId)))
    .orderBy(asc(posts.id))
    .all();
}

export function postAttachments(db: Db, postId: number): Attachment[] {
  return db.select().from(attachments).where(eq(attachments.postId, postId)).orderBy(asc(attachments.id)).all();
}

export function findInboundMessage(db: Db, id: number): InboundMessage | undefined {
  return db.select().from(inboundMessages).where(eq(inboundMessages.id, id)).get();
}
