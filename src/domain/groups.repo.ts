import { and, asc, eq, inArray, sql } from "drizzle-orm";
import type { Db, Tx } from "../db/store.js";
import { groupMembers, groups, users } from "../../schema/schema.js";
import type { Group, User } from "./records.js";

const p = sql.placeholder;

const byInbox = (db: Db) => db.select().from(groups).where(eq(groups.inboxAddress, p("address"))).prepare();
const byId = (db: Db) => db.select().from(groups).where(eq(groups.id, p("id"))).prepare();
const members = (db: Db) =>
  db
    .select({ user: users })
    .from(groupMembers)
    .innerJoin(users, eq(users.id, groupMembers.userId))
    .where(eq(groupMembers.groupId, p("groupId")))
    .orderBy(asc(users.id))
    .prepare();
const membership = (db: Db) =>
  db
    .select({ userId: groupMembers.userId })
    .from(groupMembers)
    .where(and(eq(groupMembers.groupId, p("groupId")), eq(groupMembers.userId, p("userId"))))
    .prepare();

export async function findGroupByName(tx: Tx, name: string): Promise<Group | undefined> {
  const [group] = await tx.db.select().from(groups).where(eq(groups.name, name));
  return group;
}

export async function findGroupById(tx: Tx, id: number): Promise<Group | undefined> {
  return tx.one(byId, { id });
}

export async function findGroupByInbox(tx: Tx, address: string): Promise<Group | undefined> {
  return tx.one(byInbox, { address });
}

/** A group whose inbox has this local part in any of the gateway's domains. */
export async function findGroupByLocalPart(tx: Tx, domains: readonly string[], local: string): Promise<Group | undefined> {
  const addresses = domains.map((domain) => `${local}@${domain}`);
  const [group] = await tx.db.select().from(groups).where(inArray(groups.inboxAddress, addresses)).limit(1);
  return group;
}

export async function insertGroup(tx: Tx, values: { name: string; inboxAddress: string; createdAt: number }): Promise<Group> {
  const [group] = await tx.db.insert(groups).values(values).returning();
  if (!group) throw new Error(`group ${values.name} was not inserted`);
  return group;
}

export async function listGroups(tx: Tx): Promise<Group[]> {
  return tx.db.select().from(groups).orderBy(asc(groups.id));
}

export async function groupMemberUsers(tx: Tx, groupId: number): Promise<User[]> {
  return tx.all(members, { groupId }).map((row) => row.user);
}

export async function isGroupMember(tx: Tx, groupId: number, userId: number): Promise<boolean> {
  return !!tx.one(membership, { groupId, userId });
}

export async function insertGroupMember(tx: Tx, groupId: number, userId: number, now: number): Promise<void> {
  await tx.db.insert(groupMembers).values({ groupId, userId, createdAt: now }).onConflictDoNothing();
}

export async function deleteGroupMember(tx: Tx, groupId: number, userId: number): Promise<boolean> {
  const result = await tx.db.delete(groupMembers).where(and(eq(groupMembers.groupId, groupId), eq(groupMembers.userId, userId)));
  return result.changes > 0;
}
