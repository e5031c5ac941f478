import { and, asc, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { groupMembers, groups, users, type Group, type User } from "../../schema/schema.js";

export function findGroupByName(db: Db, name: string): Group | undefined {
  return db.select().from(groups).where(eq(groups.name, name)).get();
}

export function findGroupById(db: Db, id: number): Group | undefined {
  return db.select().from(groups).where(eq(groups.id, id)).get();
}

export function findGroupByInbox(db: Db, address: string): Group | undefined {
  return db.select().from(groups).where(eq(groups.inboxAddress, address)).get();
}

/** A group whose inbox has this local part in any of the gateway's domains. */
export function findGroupByLocalPart(db: Db, domains: readonly string[], local: string): Group | undefined {
  const addresses = domains.map((domain) => `${local}@${domain}`);
  return db.select().from(groups).where(inArray(groups.inboxAddress, addresses)).get();
}

export function insertGroup(db: Db, values: typeof groups.$inferInsert): Group {
  return db.insert(groups).values(values).returning().get();
}

export function listGroups(db: Db): Group[] {
  return db.select().from(groups).orderBy(asc(groups.id)).all();
}

export function groupMemberUsers(db: Db, groupId: number): User[] {
  return db
    .select({ user: users })
    .from(groupMembers)
    .innerJoin(users, eq(users.id, groupMembers.userId))
    .where(eq(groupMembers.groupId, groupId))
    .orderBy(asc(users.id))
    .all()
    .map((row) => row.user);
}

export function isGroupMember(db: Db, groupId: number, userId: number): boolean {
  return !!db
    .select({ userId: groupMembers.userId })
    .from(groupMembers)
    .where(and(eq(groupMembers.groupId, groupId), eq(groupMembers.userId, userId)))
    .get();
}

export function insertGroupMember(db: Db, groupId: number, userId: number, now: number): void {
  db.insert(groupMembers).values({ groupId, userId, createdAt: now }).onConflictDoNothing().run();
}

export function deleteGroupMember(db: Db, groupId: number, userId: number): boolean {
  return db.delete(groupMembers).where(and(eq(groupMembers.groupId, groupId), eq(groupMembers.userId, userId))).run().changes > 0;
}
