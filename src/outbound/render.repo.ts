import { and, asc, eq, lt } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { deliveries, participants, posts, users, type Delivery, type User } from "../../schema/schema.js";
import type { ThreadPost } from "./threading.js";

/** Queries only the renderer needs (the rest come from the domain repos); nothing here decides what the email looks like. */

export function findDelivery(db: Db, id: number): Delivery | undefined {
  return db.select().from(deliveries).where(eq(deliveries.id, id)).get();
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

