import { and, asc, eq, inArray, isNull, lt, ne, or, sql, type SQL } from "drizzle-orm";
import { setParam, type Db, type QueryBuilder, type Tables, type Tx } from "../db/store.js";
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
      threadIndex: p("threadIndex"),
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
      delivery: p("delivery"),
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
      delivery: setParam("delivery"),
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
/** Participants marked read by one statement at most; a post's fan-out marks all its readers at once. */
const MAX_MARKED_PER_UPDATE = 64;
const markReadQueries = new Map<number, QueryBuilder>();
/** The update for `size` participants (placeholders id0…), one builder per size so each is prepared once per connection. */
function markReadOf(size: number): QueryBuilder {
  let query = markReadQueries.get(size);
  if (!query) {
    const ids = Array.from({ length: size }, (_, i) => p(`id${i}`));
    // Only ever forward: a copy sent late must not make newer posts unread again.
    query = (db: Db, t: Tables) =>
      db
        .update(t.participants)
        .set({ lastReadPostId: setParam("postId") })
        .where(and(inArray(t.participants.id, ids), lt(t.participants.lastReadPostId, p("postId"))));
    markReadQueries.set(size, query);
  }
  return query;
}

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

const draftSubject = (db: Db, t: Tables) =>
  db
    .update(t.conversations)
    .set({ subject: setParam("subject"), updatedAt: setParam("now") })
    .where(and(eq(t.conversations.id, p("id")), eq(t.conversations.state, "draft")))
    .returning();

const touchDraft = (db: Db, t: Tables) =>
  db
    .update(t.conversations)
    .set({ updatedAt: setParam("now") })
    .where(and(eq(t.conversations.id, p("id")), eq(t.conversations.state, "draft")))
    .returning();

/**
 * Takes the draft for sending: the row stays locked until this transaction ends, so a second send
 * at once waits, then finds it is no draft any more (undefined).
 */
export async function claimDraft(tx: Tx, id: number, now: number): Promise<Conversation | undefined> {
  return tx.one(touchDraft, { id, now });
}

/** Changes a draft's subject; undefined when the conversation is no longer a draft. */
export async function setDraftSubject(tx: Tx, id: number, subject: string, now: number): Promise<Conversation | undefined> {
  return tx.one(draftSubject, { id, subject, now });
}

export interface ConversationSummary {
  readonly conversation: Conversation;
  readonly participants: number;
  readonly posts: number;
  /** The assignee's address (inbox conversations), or null. */
  readonly assignee: string | null;
}

/** One person's view of a conversation in their list ("my conversations"). */
export interface UserConversationSummary extends ConversationSummary {
  /** Their part in it: the rest of their participant row (tokens, times) is not read for a list. */
  readonly participant: Pick<Participant, "role" | "state">;
  /** Sent posts they could see, not their own, newer than the last one they read. */
  readonly unread: number;
}

export interface ConversationFilter {
  /** Drafts are listed only for their author: this user's drafts appear, nobody else's (none when undefined). */
  readonly viewerId?: number;
  /** Only inbox conversations assigned to this user. */
  readonly assigneeId?: number;
  /** Only inbox conversations assigned to nobody. */
  readonly unassigned?: boolean;
}

/**
 * Whether post `q` is one participant `me` of conversation `c` could see, were it sent (arguments:
 * the names the enclosing query gives those rows). The rule of fan-out, for counting and showing:
 * written before they left; an internal note only for the members of the group answering the
 * conversation (visibility.ts); under the `owners` reply policy an ordinary participant's post
 * only for the owners and its author.
 */
export function postSeenBy(q: string, me: string, c: string): string {
  return `(${me}.left_at IS NULL OR ${q}.sent_at <= ${me}.left_at)
    AND (NOT ${q}.note OR EXISTS (SELECT 1 FROM group_members g WHERE g.group_id = ${c}.group_id AND g.user_id = ${me}.user_id))
    AND (${c}.replies = 'all' OR ${me}.role = 'owner' OR ${q}.author_id = ${me}.user_id
      OR EXISTS (SELECT 1 FROM participants a WHERE a.conversation_id = ${q}.conversation_id AND a.user_id = ${q}.author_id AND a.role = 'owner'))`;
}

// Correlated subqueries: drizzle renders a bare column name inside sql``, so they name the outer
// rows by hand ("conversations", "conversation_counts" joined to it, and "participants" for the
// listed user's participation; the subqueries' own tables carry aliases, so those names always
// mean the outer rows). count(*) is a bigint on PostgreSQL, which its driver hands over as a string.
const participantCount = () =>
  sql<number>`(SELECT count(*) FROM participants p WHERE p.conversation_id = "conversations"."id" AND p.state IN ('active', 'invited'))`.mapWith(Number);
const sentPostCount = () => sql<number>`coalesce("conversation_counts"."sent_posts", 0)`.mapWith(Number);
const assigneeEmail = () => sql<string | null>`(SELECT u.email FROM users u WHERE u.id = "conversations"."assignee_id")`;
/** The listed participant's sent posts counted one by one, by the rule of fan-out, with `also` on each. */
const seenPostScan = (also = "") => `(SELECT count(*) FROM posts q WHERE q.conversation_id = "conversations"."id" AND q.state = 'sent'${also}
    AND ${postSeenBy("q", '"participants"', '"conversations"')})`;
/**
 * What the participant could see, from the conversation's counts when the rule of fan-out leaves
 * them nothing hidden but the notes (they have not left, and everyone's posts reach them), so a
 * long list reads no posts; otherwise counted post by post (postSeenBy).
 */
const seenPostCount = () =>
  sql<number>`CASE WHEN "participants"."left_at" IS NULL AND ("conversations"."replies" = 'all' OR "participants"."role" = 'owner')
    THEN coalesce("conversation_counts"."sent_posts", 0) - CASE
      WHEN coalesce("conversation_counts"."sent_notes", 0) = 0
        OR EXISTS (SELECT 1 FROM group_members g WHERE g.group_id = "conversations"."group_id" AND g.user_id = "participants"."user_id") THEN 0
      ELSE "conversation_counts"."sent_notes" END
    ELSE ${sql.raw(seenPostScan())} END`.mapWith(Number);
/** Nothing is unread by a participant who has read up to the last post sent; otherwise the posts after it are counted. */
const unreadPostCount = () =>
  sql<number>`CASE WHEN "participants"."last_read_post_id" >= coalesce("conversation_counts"."last_sent_post_id", 0) THEN 0
    ELSE ${sql.raw(seenPostScan(' AND q.id > "participants"."last_read_post_id" AND q.author_id <> "participants"."user_id"'))} END`.mapWith(Number);

function filterConditions(t: Tables, filter: ConversationFilter): SQL[] {
  const c = t.conversations;
  return [
    filter.viewerId === undefined ? ne(c.state, "draft") : or(ne(c.state, "draft"), eq(c.createdById, filter.viewerId))!,
    ...(filter.assigneeId !== undefined ? [eq(c.kind, "inbox"), eq(c.assigneeId, filter.assigneeId)] : []),
    ...(filter.unassigned ? [eq(c.kind, "inbox"), isNull(c.assigneeId)] : []),
  ];
}

/** Conversations with counts of active participants and sent posts; drafts only for their author. */
export async function listConversationSummaries(tx: Tx, filter: ConversationFilter = {}): Promise<ConversationSummary[]> {
  return tx.rows((db, t) =>
    db
      .select({ conversation: t.conversations, participants: participantCount(), posts: sentPostCount(), assignee: assigneeEmail() })
      .from(t.conversations)
      .leftJoin(t.conversationCounts, eq(t.conversationCounts.conversationId, t.conversations.id))
      .where(and(...filterConditions(t, filter)))
      .orderBy(asc(t.conversations.id)),
  );
}

/**
 * Every conversation this user takes or took part in (pending invitations to and from them, left
 * and closed ones too), with their participation and unread count; `posts` counts what they could see.
 */
export async function listUserConversations(tx: Tx, userId: number, filter: ConversationFilter = {}): Promise<UserConversationSummary[]> {
  return tx.rows((db, t) =>
    db
      .select({
        conversation: t.conversations,
        participant: { role: t.participants.role, state: t.participants.state },
        participants: participantCount(),
        posts: seenPostCount(),
        unread: unreadPostCount(),
        assignee: assigneeEmail(),
      })
      .from(t.conversations)
      .innerJoin(t.participants, and(eq(t.participants.conversationId, t.conversations.id), eq(t.participants.userId, userId)))
      .leftJoin(t.conversationCounts, eq(t.conversationCounts.conversationId, t.conversations.id))
      .where(and(...filterConditions(t, filter)))
      .orderBy(asc(t.conversations.id)),
  );
}

const unreadOfParticipant = (db: Db, t: Tables) =>
  db
    .select({ unread: unreadPostCount() })
    .from(t.conversations)
    .innerJoin(t.participants, and(eq(t.participants.conversationId, t.conversations.id), eq(t.participants.userId, p("userId"))))
    .leftJoin(t.conversationCounts, eq(t.conversationCounts.conversationId, t.conversations.id))
    .where(eq(t.conversations.id, p("conversationId")));

/** How many posts of the conversation this participant has not read (0 when they take no part). */
export async function countUnread(tx: Tx, conversationId: number, userId: number): Promise<number> {
  return (await tx.one(unreadOfParticipant, { conversationId, userId }))?.unread ?? 0;
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
  for (let start = 0; start < participantIds.length; start += MAX_MARKED_PER_UPDATE) {
    const part = participantIds.slice(start, start + MAX_MARKED_PER_UPDATE);
    const values: Record<string, unknown> = { postId };
    part.forEach((id, i) => (values[`id${i}`] = id));
    await tx.run(markReadOf(part.length), values);
  }
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
