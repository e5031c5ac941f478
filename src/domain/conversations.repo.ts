import { and, asc, eq, sql } from "drizzle-orm";
import { setParam, type Db, type Tx } from "../db/store.js";
import { conversations, participants, users } from "../../schema/schema.js";
import type { Conversation, Participant, User } from "./records.js";

export type NewConversation = Omit<Conversation, "id" | "assigneeId"> & { readonly assigneeId?: number | null };
export type NewParticipant = Omit<Participant, "id">;
export type ParticipantFields = Omit<Participant, "id" | "conversationId" | "userId">;
export interface ParticipantWithUser {
  readonly participant: Participant;
  readonly user: User;
}

const p = sql.placeholder;

const byId = (db: Db) => db.select().from(conversations).where(eq(conversations.id, p("id"))).prepare();
const insertOne = (db: Db) =>
  db
    .insert(conversations)
    .values({
      subject: p("subject"),
      kind: p("kind"),
      state: p("state"),
      replies: p("replies"),
      groupId: p("groupId"),
      createdById: p("createdById"),
      assigneeId: p("assigneeId"),
      createdAt: p("createdAt"),
      updatedAt: p("updatedAt"),
    })
    .returning()
    .prepare();
const touch = (db: Db) => db.update(conversations).set({ updatedAt: setParam("now") }).where(eq(conversations.id, p("id"))).prepare();
const participantOf = (db: Db) =>
  db
    .select()
    .from(participants)
    .where(and(eq(participants.conversationId, p("conversationId")), eq(participants.userId, p("userId"))))
    .prepare();
const byReplyToken = (db: Db) => db.select().from(participants).where(eq(participants.replyToken, p("token"))).prepare();
const byLeaveToken = (db: Db) => db.select().from(participants).where(eq(participants.leaveToken, p("token"))).prepare();
const withUsers = (db: Db) =>
  db
    .select({ participant: participants, user: users })
    .from(participants)
    .innerJoin(users, eq(users.id, participants.userId))
    .where(eq(participants.conversationId, p("conversationId")))
    .orderBy(asc(participants.id))
    .prepare();
const insertParticipantQuery = (db: Db) =>
  db
    .insert(participants)
    .values({
      conversationId: p("conversationId"),
      userId: p("userId"),
      role: p("role"),
      state: p("state"),
      replyToken: p("replyToken"),
      leaveToken: p("leaveToken"),
      addedById: p("addedById"),
      lastReadPostId: p("lastReadPostId"),
      joinedAt: p("joinedAt"),
      leftAt: p("leftAt"),
    })
    .returning()
    .prepare();
const rejoin = (db: Db) =>
  db
    .update(participants)
    .set({
      role: setParam("role"),
      state: setParam("state"),
      replyToken: setParam("replyToken"),
      leaveToken: setParam("leaveToken"),
      addedById: setParam("addedById"),
      lastReadPostId: setParam("lastReadPostId"),
      joinedAt: setParam("joinedAt"),
      leftAt: setParam("leftAt"),
    })
    .where(eq(participants.id, p("id")))
    .returning()
    .prepare();
const depart = (db: Db) =>
  db
    .update(participants)
    .set({ state: setParam("state"), leftAt: setParam("leftAt") })
    .where(eq(participants.id, p("id")))
    .returning()
    .prepare();
// Only ever forward: a copy sent late must not make newer posts unread again.
const markRead = (db: Db) =>
  db
    .update(participants)
    .set({ lastReadPostId: sql`max(${participants.lastReadPostId}, ${setParam("postId")})` })
    .where(eq(participants.id, p("id")))
    .prepare();

export async function insertConversation(tx: Tx, values: NewConversation): Promise<Conversation> {
  const row = tx.one(insertOne, { assigneeId: null, ...values });
  if (!row) throw new Error("conversation was not inserted");
  return row;
}

export async function findConversation(tx: Tx, id: number): Promise<Conversation | undefined> {
  return tx.one(byId, { id });
}

export async function touchConversation(tx: Tx, id: number, now: number): Promise<void> {
  tx.run(touch, { id, now });
}

export async function setAssignee(tx: Tx, id: number, assigneeId: number, now: number): Promise<void> {
  await tx.db.update(conversations).set({ assigneeId, updatedAt: now }).where(eq(conversations.id, id));
}

export interface ConversationSummary {
  readonly conversation: Conversation;
  readonly participants: number;
  readonly posts: number;
}

/** Conversations with counts of active participants and sent posts, optionally one user's. */
export async function listConversationSummaries(tx: Tx, userId?: number): Promise<ConversationSummary[]> {
  // Correlated subqueries: drizzle renders a bare column name here, so qualify it by hand.
  const participantCount = sql<number>`(SELECT count(*) FROM participants p WHERE p.conversation_id = "conversations"."id" AND p.state IN ('active', 'invited'))`;
  const postCount = sql<number>`(SELECT count(*) FROM posts q WHERE q.conversation_id = "conversations"."id" AND q.state = 'sent')`;
  const base = tx.db.select({ conversation: conversations, participants: participantCount, posts: postCount }).from(conversations);
  const filtered =
    userId === undefined ? base : base.where(sql`${conversations.id} IN (SELECT conversation_id FROM participants WHERE user_id = ${userId})`);
  return filtered.orderBy(asc(conversations.id));
}

export async function insertParticipant(tx: Tx, values: NewParticipant): Promise<Participant> {
  const row = tx.one(insertParticipantQuery, values);
  if (!row) throw new Error("participant was not inserted");
  return row;
}

/** Brings back a participant who left or was removed, with fresh tokens. */
export async function rejoinParticipant(tx: Tx, id: number, fields: ParticipantFields): Promise<Participant> {
  const row = tx.one(rejoin, { id, ...fields });
  if (!row) throw new Error(`participant ${id} vanished during update`);
  return row;
}

export async function departParticipant(tx: Tx, id: number, state: "left" | "removed", now: number): Promise<Participant> {
  const row = tx.one(depart, { id, state, leftAt: now });
  if (!row) throw new Error(`participant ${id} vanished during update`);
  return row;
}

export async function findParticipant(tx: Tx, conversationId: number, userId: number): Promise<Participant | undefined> {
  return tx.one(participantOf, { conversationId, userId });
}

export async function findParticipantByToken(tx: Tx, kind: "reply" | "leave", token: string): Promise<Participant | undefined> {
  return tx.one(kind === "reply" ? byReplyToken : byLeaveToken, { token });
}

export async function participantsWithUsers(tx: Tx, conversationId: number): Promise<ParticipantWithUser[]> {
  return tx.all(withUsers, { conversationId });
}

export async function markPostRead(tx: Tx, participantIds: readonly number[], postId: number): Promise<void> {
  for (const id of participantIds) tx.run(markRead, { id, postId });
}

/** Active participants' users, for `gateway.disclose_participants`. */
export async function activeParticipantUsers(tx: Tx, conversationId: number): Promise<User[]> {
  return (await participantsWithUsers(tx, conversationId)).filter((row) => row.participant.state === "active").map((row) => row.user);
}
