import { and, asc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { participants, users, type User } from "../../schema/schema.js";

export type NewUser = typeof users.$inferInsert;

export function findUserByEmail(db: Db, email: string): User | undefined {
  return db.select().from(users).where(eq(users.email, email)).get();
}

export function findUserById(db: Db, id: number): User | undefined {
  return db.select().from(users).where(eq(users.id, id)).get();
}

export function findUserByUsername(db: Db, username: string): User | undefined {
  return db.select().from(users).where(eq(users.username, username)).get();
}

export function insertUser(db: Db, values: NewUser): User {
  return db.insert(users).values(values).returning().get();
}

export function updateUser(db: Db, id: number, patch: Partial<NewUser>): User {
  const updated = db.update(users).set(patch).where(eq(users.id, id)).returning().get();
  if (!updated) throw new Error(`user ${id} vanished during update`);
  return updated;
}

export function listUsers(db: Db, options: { stagedOnly?: boolean } = {}): User[] {
  const query = db.select().from(users);
  return (options.stagedOnly ? query.where(eq(users.status, "staged")) : query).orderBy(asc(users.id)).all();
}

export function conversationIdsOfUser(db: Db, userId: number): number[] {
  return db
    .select({ id: participants.conversationId })
    .from(participants)
    .where(eq(participants.userId, userId))
    .orderBy(asc(participants.conversationId))
    .all()
    .map((row) => row.id);
}

export function listActiveAdmins(db: Db): User[] {
  return db.select().from(users).where(and(eq(users.role, "admin"), eq(users.status, "active"))).orderBy(asc(users.id)).all();
}

export function touchUserActivity(db: Db, id: number, now: number): void {
  db.update(users).set({ lastActiveAt: sql`max(coalesce(${users.lastActiveAt}, 0), ${now})` }).where(eq(users.id, id)).run();
}
