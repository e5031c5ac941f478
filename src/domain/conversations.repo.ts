import { and, asc, eq, lt, sql } from "drizzle-orm";
import { setParam, type Db, type Tables, type Tx } from "../db/store.js";
import type { Conversation, Participant, User } from "./records.js";

export type NewConversation = Omit<Conversation, "id" | "assigneeId"> & { readonly assigneeId?: number | null };
export type NewParticipant = Omit<Participant, "id">;
export type ParticipantFields = Omit<Participant, "id" | "conversationId" | "userId">;
export interface ParticipantWithUser {
  readonly participant: Participant;
  readonly user: User;
}

const p = sql.placeholder;

const byId = (db: Db, t: Tables) => db.select().from(t.conversations).where(eq(t.conversations.id, p("id")));
const insertOne = (db: Db, t: Tables) =>
  db
    .insert(t.conversations)
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
    .returning();
const touch = (db: Db, t: Tables) => db.update(t.conversations).set({ updatedAt: setParam("now") }).where(eq(t.conversations.id, p("id")));
const setState = (db: Db, t: Tables) =>
  db.update(t.conversations).set({ state: setParam("state"), updatedAt: setParam("now") }).where(eq(t.conversations.id, p("id"))).returning();
const assign = (db: Db, t: Tables) =>
  db.update(t.conversations).set({ assigneeId: setParam("assigneeId"), updatedAt: setParam("now") }).where(eq(t.conversations.id, p("id")));
const participantOf = (db: Db, t: Tables) =>
  db
    .select()
    .from(t.participants)
    .where(and(eq(t.participants.conversationId, p("conversationId")), eq(t.participants.userId, p("userId"))));
const byReplyToken = (db: Db, t: Tables) => db.select().from(t.participants).where(eq(t.participants.replyToken, p("token")));
const byLeaveToken = (db: Db, t: Tables) => db.select().from(t.participants).where(eq(t.participants.leaveToken, p("token")));
const withUsers = (db: Db, t: Tables) =>
  db
    .select({ participant: t.participants, user: t.users })
    .from(t.participants)
    .innerJoin(t.users, eq(t.users.id, t.participants.userId))
    .where(eq(t.participants.conversationId, p("conversationId")))
    .orderBy(asc(t.participants.id));
const insertParticipantQuery = (db: Db, t: Tables) =>
  db
    .insert(t.participants)
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
    // Two messages adding the same person at once (two nodes, or one batch): one participant.
    .onConflictDoNothing({ target: [t.participants.conversationId, t.participants.userId] })
    .returning();
const rejoin = (db: Db, t: Tables) =>
  db
    .update(t.participants)
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
    .where(eq(t.participants.id, p("id")))
    .returning();
const depart = (db: Db, t: Tables) =>
  db
    .update(t.participants)
    .set({ state: setParam("state"), leftAt: setParam("leftAt") })
    .where(eq(t.participants.id, p("id")))
    .returning();
// Only ever forward: a copy sent late must not make newer posts unread again.
const markRead = (db: Db, t: Tables) =>
  db
    .update(t.participants)
    .set({ lastReadPostId: setParam("postId") })
    .where(and(eq(t.participants.id, p("id")), lt(t.participants.lastReadPostId, p("postId"))));

export async function insertConversation(tx: Tx, values: NewConversation): Promise<Conversation> {
  const row = await tx.one(insertOne, { assigneeId: null, ...values });
  if (!row) throw new Error("conversation was not inserted");
  return row;
}

export async function findConversation(tx: Tx, id: number): Promise<Conversation | undefined> {
  return tx.one(byId, { id });
}

export async function touchConversation(tx: Tx, id: number, now: number): Promise<void> {
  await tx.run(touch, { id, now });
}

export async function setConversationState(tx: Tx, id: number, state: Conversation["state"], now: number): Promise<Conversation> {
  const row = await tx.one(setState, { id, state, now });
  if (!row) throw new Error(`conversation ${id} vanished during update`);
  return row;
}

export async function setAssignee(tx: Tx, id: number, assigneeId: number, now: number): Promise<void> {
  await tx.run(assign, { id, assigneeId, now });
}

export interface ConversationSummary {
  readonly conversation: Conversation;
  readonly participants: number;
  readonly posts: number;
}

/** Conversations with counts of active participants and sent posts, optionally one user's. */
export async function listConversationSummaries(tx: Tx, userId?: number): Promise<ConversationSummary[]> {
  // Correlated subqueries: drizzle renders a bare column name here, so qualify it by hand.
  // count(*) is a bigint on PostgreSQL, which its driver hands over as a string.
  const participantCount = sql<number>`(SELECT count(*) FROM participants p WHERE p.conversation_id = "conversations"."id" AND p.state IN ('active', 'invited'))`.mapWith(Number);
  const postCount = sql<number>`(SELECT count(*) FROM posts q WHERE q.conversation_id = "conversations"."id" AND q.state = 'sent')`.mapWith(Number);
  return tx.rows((db, t) => {
    const base = db.select({ conversation: t.conversations, participants: participantCount, posts: postCount }).from(t.conversations);
    const filtered =
      userId === undefined ? base : base.where(sql`${t.conversations.id} IN (SELECT conversation_id FROM participants WHERE user_id = ${userId})`);
    return filtered.orderBy(asc(t.conversations.id));
  });
}

/** Inserts a participant, or answers the one another transaction added first. */
export async function insertParticipant(tx: Tx, values: NewParticipant): Promise<Participant> {
  const row = (await tx.one(insertParticipantQuery, values)) ?? (await findParticipant(tx, values.conversationId, values.userId));
  if (!row) throw new Error("participant was neither inserted nor found");
  return row;
}

/** Brings back a participant who left or was removed, with fresh tokens. */
export async function rejoinParticipant(tx: Tx, id: number, fields: ParticipantFields): Promise<Participant> {
  const row = await tx.one(rejoin, { id, ...fields });
  if (!row) throw new Error(`participant ${id} vanished during update`);
  return row;
}

export async function departParticipant(tx: Tx, id: number, state: "left" | "removed", now: number): Promise<Participant> {
  const row = await tx.one(depart, { id, state, leftAt: now });
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
  for (const id of participantIds) await tx.run(markRead, { id, postId });
}

/** Active participants' users, for `gateway.disclose_participants`. */
export async function activeParticipantUsers(tx: Tx, conversationId: number): Promise<User[]> {
  return (await participantsWithUsers(tx, conversationId)).filter((row) => row.participant.state === "active").map((row) => row.user);
}

// ---- Invitations per inviter: appended (imports are hoisted wherever they are written) ----------
import { count as countRows, gt as greaterThan } from "drizzle-orm";

const addedBySince = (db: Db, t: Tables) =>
  db
    .select({ count: countRows() })
    .from(t.participants)
    .where(and(eq(t.participants.addedById, p("addedById")), greaterThan(t.participants.joinedAt, p("since"))));

/**
 * How many participants, in any conversation, `addedById` brought in who joined after `since`
 * (for `conversations.max_cc_invites_per_day`). Someone who left and was brought back counts again.
 */
export async function countParticipantsAddedBySince(tx: Tx, addedById: number, since: number): Promise<number> {
  const row = await tx.one(addedBySince, { addedById, since });
  return Number(row?.count ?? 0);
}
