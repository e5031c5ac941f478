import { and, asc, eq, sql } from "drizzle-orm";
import { setParam, type Db, type Tx } from "../db/store.js";
import { participants, users } from "../../schema/schema.js";
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

export type UserPatch = Partial<Pick<User, "name" | "username" | "status" | "role" | "delivery" | "messagesEnabled" | "bounceScore" | "lastActiveAt">>;

const p = sql.placeholder;

const byEmail = (db: Db) => db.select().from(users).where(eq(users.email, p("email"))).prepare();
const byId = (db: Db) => db.select().from(users).where(eq(users.id, p("id"))).prepare();
const byUsername = (db: Db) => db.select().from(users).where(eq(users.username, p("username"))).prepare();
const insert = (db: Db) =>
  db
    .insert(users)
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
    .onConflictDoNothing({ target: users.email })
    .returning()
    .prepare();
const activeAdmins = (db: Db) => db.select().from(users).where(and(eq(users.role, "admin"), eq(users.status, "active"))).orderBy(asc(users.id)).prepare();
const setName = (db: Db) => db.update(users).set({ name: setParam("name") }).where(eq(users.id, p("id"))).prepare();
const touch = (db: Db) =>
  db
    .update(users)
    .set({ lastActiveAt: sql`max(coalesce(${users.lastActiveAt}, 0), ${setParam("now")})` })
    .where(eq(users.id, p("id")))
    .prepare();

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
  const row = tx.one(insert, {
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
  tx.run(setName, { id, name });
}

export async function updateUser(tx: Tx, id: number, patch: UserPatch): Promise<User> {
  const [updated] = await tx.db.update(users).set(patch).where(eq(users.id, id)).returning();
  if (!updated) throw new Error(`user ${id} vanished during update`);
  return updated;
}

export async function listUsers(tx: Tx, options: { stagedOnly?: boolean } = {}): Promise<User[]> {
  const query = tx.db.select().from(users);
  return (options.stagedOnly ? query.where(eq(users.status, "staged")) : query).orderBy(asc(users.id));
}

export async function conversationIdsOfUser(tx: Tx, userId: number): Promise<number[]> {
  const rows = await tx.db
    .select({ id: participants.conversationId })
    .from(participants)
    .where(eq(participants.userId, userId))
    .orderBy(asc(participants.conversationId));
  return rows.map((row) => row.id);
}

export async function listActiveAdmins(tx: Tx): Promise<User[]> {
  return tx.all(activeAdmins);
}

export async function touchUserActivity(tx: Tx, id: number, now: number): Promise<void> {
  tx.run(touch, { id, now });
}

export type { DeliveryPreference, Role };
