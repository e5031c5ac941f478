import { and, asc, eq, isNull, lt, ne, or, sql } from "drizzle-orm";
import { setParam, type Db, type Tables, type Tx } from "../db/store.js";
import type { DeliveryPreference, Role, User, UserStatus } from "./records.js";

export interface NewUser {
  readonly email: string;
  readonly name: string | null;
  readonly username?: string | null;
  readonly status: UserStatus;
  readonly role: Role;
  readonly invitedById?: number | null;
  readonly lastActiveAt?: number | null;
  readonly createdAt: number;
}

export type UserPatch = Partial<Pick<User, "name" | "username" | "status" | "role" | "delivery" | "messagesEnabled" | "bounceScore" | "lastBounceAt" | "bouncingSince" | "lastActiveAt">>;

const p = sql.placeholder;

const byEmail = (db: Db, t: Tables) => db.select().from(t.users).where(eq(t.users.email, p("email")));
const byId = (db: Db, t: Tables) => db.select().from(t.users).where(eq(t.users.id, p("id")));
const byUsername = (db: Db, t: Tables) => db.select().from(t.users).where(eq(t.users.username, p("username")));
const insert = (db: Db, t: Tables) =>
  db
    .insert(t.users)
    .values({
      email: p("email"),
      name: p("name"),
      username: p("username"),
      status: p("status"),
      role: p("role"),
      invitedById: p("invitedById"),
      lastActiveAt: p("lastActiveAt"),
      createdAt: p("createdAt"),
    })
    // Two messages from the same stranger in one batch, or a race with the CLI: one user, never an error.
    .onConflictDoNothing({ target: t.users.email })
    .returning();
const activeAdmins = (db: Db, t: Tables) => db.select().from(t.users).where(and(eq(t.users.role, "admin"), eq(t.users.status, "active"))).orderBy(asc(t.users.id));
const allUsers = (db: Db, t: Tables) => db.select().from(t.users).orderBy(asc(t.users.id));
const stagedUsers = (db: Db, t: Tables) => db.select().from(t.users).where(eq(t.users.status, "staged")).orderBy(asc(t.users.id));
const conversationsOf = (db: Db, t: Tables) =>
  db
    .select({ id: t.participants.conversationId })
    .from(t.participants)
    .innerJoin(t.conversations, eq(t.conversations.id, t.participants.conversationId))
    // A draft is its author's alone (SPEC §5): it is not yet a conversation of its recipients.
    .where(and(eq(t.participants.userId, p("userId")), or(ne(t.conversations.state, "draft"), eq(t.conversations.createdById, p("userId")))))
    .orderBy(asc(t.participants.conversationId));
const setName = (db: Db, t: Tables) => db.update(t.users).set({ name: setParam("name") }).where(eq(t.users.id, p("id")));
const touch = (db: Db, t: Tables) =>
  db
    .update(t.users)
    .set({ lastActiveAt: setParam("now") })
    // Only ever forward: activity recorded late must not move it back.
    .where(and(eq(t.users.id, p("id")), or(isNull(t.users.lastActiveAt), lt(t.users.lastActiveAt, p("now")))));

export async function findUserByEmail(tx: Tx, email: string): Promise<User | undefined> {
  return tx.one(byEmail, { email });
}

export async function findUserById(tx: Tx, id: number): Promise<User | undefined> {
  return tx.one(byId, { id });
}

export async function findUserByUsername(tx: Tx, username: string): Promise<User | undefined> {
  return tx.one(byUsername, { username });
}

/** Inserts a user, or answers the one that already has this address. */
export async function insertUser(tx: Tx, values: NewUser): Promise<User> {
  const row = await tx.one(insert, {
    username: null,
    invitedById: null,
    lastActiveAt: null,
    ...values,
  });
  if (row) return row;
  const existing = await findUserByEmail(tx, values.email);
  if (!existing) throw new Error(`user ${values.email} neither inserted nor found`);
  return existing;
}

export async function setUserName(tx: Tx, id: number, name: string): Promise<void> {
  await tx.run(setName, { id, name });
}

export async function updateUser(tx: Tx, id: number, patch: UserPatch): Promise<User> {
  const [updated] = await tx.rows((db, t) => db.update(t.users).set(patch).where(eq(t.users.id, id)).returning());
  if (!updated) throw new Error(`user ${id} vanished during update`);
  return updated;
}

export async function listUsers(tx: Tx, options: { stagedOnly?: boolean } = {}): Promise<User[]> {
  return tx.all(options.stagedOnly ? stagedUsers : allUsers);
}

export async function conversationIdsOfUser(tx: Tx, userId: number): Promise<number[]> {
  return (await tx.all(conversationsOf, { userId })).map((row) => row.id);
}

export async function listActiveAdmins(tx: Tx): Promise<User[]> {
  return tx.all(activeAdmins);
}

export async function touchUserActivity(tx: Tx, id: number, now: number): Promise<void> {
  await tx.run(touch, { id, now });
}

export type { DeliveryPreference, Role };

/**
 * Adds one bounce to the user's score in one statement, so bounces processed at the same time on
 * several nodes all count: a score last raised before `staleBefore` starts again from the weight,
 * and crossing `threshold` (when above 0) stamps bouncingSince once.
 */
const addBounce = (db: Db, t: Tables) => {
  const score = sql`(CASE WHEN ${t.users.lastBounceAt} IS NULL OR ${t.users.lastBounceAt} < ${p("staleBefore")} THEN 0 ELSE ${t.users.bounceScore} END + ${p("weight")})`;
  return db
    .update(t.users)
    .set({
      bounceScore: score,
      lastBounceAt: setParam("now"),
      bouncingSince: sql`CASE WHEN ${t.users.bouncingSince} IS NOT NULL THEN ${t.users.bouncingSince} WHEN ${p("threshold")} > 0 AND ${score} >= ${p("threshold")} THEN ${p("now")} ELSE NULL END`,
    })
    .where(eq(t.users.id, p("id")))
    .returning();
};

export async function addBounceToScore(tx: Tx, id: number, bounce: { weight: number; threshold: number; staleBefore: number; now: number }): Promise<User | undefined> {
  return tx.one(addBounce, { id, ...bounce });
}
