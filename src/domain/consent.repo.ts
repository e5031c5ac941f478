import { and, asc, eq, gt, inArray, lte, sql } from "drizzle-orm";
import { setParam, type Db, type Tables, type Tx } from "../db/store.js";
import type { Conversation, ConversationState, Participant, Post } from "./records.js";

/**
 * Invitations' queries. Every change of state is a conditional UPDATE on the state it leaves, so
 * of two nodes (or two messages) answering the same invitation at once only one changes it.
 */

const p = sql.placeholder;

// A no-op write whose only effect is the row lock: on PostgreSQL a second node's answer to the same
// conversation waits here until the first commits, then reads what it wrote. SQLite has one writer.
const lockOne = (db: Db, t: Tables) =>
  db
    .update(t.conversations)
    .set({ state: sql`${t.conversations.state}` })
    .where(eq(t.conversations.id, p("id")))
    .returning();
const moveConversation = (db: Db, t: Tables) =>
  db
    .update(t.conversations)
    .set({ state: setParam("to"), updatedAt: setParam("now") })
    .where(and(eq(t.conversations.id, p("id")), eq(t.conversations.state, p("from"))))
    .returning();
const invite = (db: Db, t: Tables) =>
  db
    .update(t.participants)
    .set({ state: "invited", lastReadPostId: setParam("lastReadPostId") })
    .where(and(eq(t.participants.id, p("id")), eq(t.participants.state, "active")))
    .returning();
const answer = (db: Db, t: Tables) =>
  db
    .update(t.participants)
    .set({ state: setParam("to"), leftAt: setParam("leftAt") })
    .where(and(eq(t.participants.id, p("id")), eq(t.participants.state, "invited")))
    .returning();
const participantById = (db: Db, t: Tables) => db.select().from(t.participants).where(eq(t.participants.id, p("id")));
const unanswered = (db: Db, t: Tables) =>
  db
    .select({ participant: t.participants, conversation: t.conversations })
    .from(t.participants)
    .innerJoin(t.conversations, eq(t.conversations.id, t.participants.conversationId))
    .where(
      and(
        eq(t.participants.state, "invited"),
        lte(t.participants.joinedAt, p("cutoff")),
        inArray(t.conversations.state, ["pending", "open"]),
      ),
    )
    .orderBy(asc(t.participants.id))
    .limit(p("limit"));
const sentAfter = (db: Db, t: Tables) =>
  db
    .select()
    .from(t.posts)
    .where(and(eq(t.posts.conversationId, p("conversationId")), eq(t.posts.state, "sent"), gt(t.posts.id, p("afterId"))))
    .orderBy(asc(t.posts.id));

/** Locks the conversation's row for the rest of the transaction and answers it as it is now. */
export async function lockConversation(tx: Tx, id: number): Promise<Conversation | undefined> {
  return tx.one(lockOne, { id });
}

/** Moves the conversation from one state to another; undefined when it was no longer in `from`. */
export async function moveConversationState(
  tx: Tx,
  id: number,
  from: ConversationState,
  to: ConversationState,
  now: number,
): Promise<Conversation | undefined> {
  return tx.one(moveConversation, { id, from, to, now });
}

/** An active participant becomes invited; what they have seen so far counts as read. */
export async function markInvited(tx: Tx, participantId: number, lastReadPostId: number): Promise<Participant | undefined> {
  return tx.one(invite, { id: participantId, lastReadPostId });
}

/** An invited participant accepts (active) or drops out (left, removed); undefined when no longer invited. */
export async function answerInvitation(tx: Tx, participantId: number, to: "active" | "left" | "removed", now: number): Promise<Participant | undefined> {
  return tx.one(answer, { id: participantId, to, leftAt: to === "active" ? null : now });
}

export async function findParticipantById(tx: Tx, id: number): Promise<Participant | undefined> {
  return tx.one(participantById, { id });
}

/** Invitations still waiting for an answer that were sent at or before `cutoff`, oldest first. */
export async function unansweredInvitations(
  tx: Tx,
  cutoff: number,
  limit: number,
): Promise<{ participant: Participant; conversation: Conversation }[]> {
  return tx.all(unanswered, { cutoff, limit });
}

/** The conversation's sent posts after `afterId`, oldest first. */
export async function sentPostsAfter(tx: Tx, conversationId: number, afterId: number): Promise<Post[]> {
  return tx.all(sentAfter, { conversationId, afterId });
}
