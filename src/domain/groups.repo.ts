import { and, asc, eq, inArray, sql } from "drizzle-orm";
import type { Db, Tables, Tx } from "../db/store.js";
import type { Group, User } from "./records.js";

const p = sql.placeholder;

const byName = (db: Db, t: Tables) => db.select().from(t.groups).where(eq(t.groups.name, p("name")));
const byInbox = (db: Db, t: Tables) => db.select().from(t.groups).where(eq(t.groups.inboxAddress, p("address")));
const byId = (db: Db, t: Tables) => db.select().from(t.groups).where(eq(t.groups.id, p("id")));
const all = (db: Db, t: Tables) => db.select().from(t.groups).orderBy(asc(t.groups.id));
const insert = (db: Db, t: Tables) =>
  db.insert(t.groups).values({ name: p("name"), inboxAddress: p("inboxAddress"), createdAt: p("createdAt") }).returning();
const members = (db: Db, t: Tables) =>
  db
    .select({ user: t.users })
    .from(t.groupMembers)
    .innerJoin(t.users, eq(t.users.id, t.groupMembers.userId))
    .where(eq(t.groupMembers.groupId, p("groupId")))
    .orderBy(asc(t.users.id));
const membership = (db: Db, t: Tables) =>
  db
    .select({ userId: t.groupMembers.userId })
    .from(t.groupMembers)
    .where(and(eq(t.groupMembers.groupId, p("groupId")), eq(t.groupMembers.userId, p("userId"))));
const join = (db: Db, t: Tables) =>
  db.insert(t.groupMembers).values({ groupId: p("groupId"), userId: p("userId"), createdAt: p("createdAt") }).onConflictDoNothing();
const leave = (db: Db, t: Tables) =>
  db.delete(t.groupMembers).where(and(eq(t.groupMembers.groupId, p("groupId")), eq(t.groupMembers.userId, p("userId"))));

export async function findGroupByName(tx: Tx, name: string): Promise<Group | undefined> {
  return tx.one(byName, { name });
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
  const [group] = await tx.rows((db, t) => db.select().from(t.groups).where(inArray(t.groups.inboxAddress, addresses)).limit(1));
  return group;
}

export async function insertGroup(tx: Tx, values: { name: string; inboxAddress: string; createdAt: number }): Promise<Group> {
  const group = await tx.one(insert, values);
  if (!group) throw new Error(`group ${values.name} was not inserted`);
  return group;
}

export async function listGroups(tx: Tx): Promise<Group[]> {
  return tx.all(all);
}

export async function groupMemberUsers(tx: Tx, groupId: number): Promise<User[]> {
  return (await tx.all(members, { groupId })).map((row) => row.user);
}

export async function isGroupMember(tx: Tx, groupId: number, userId: number): Promise<boolean> {
  return !!(await tx.one(membership, { groupId, userId }));
}

export async function insertGroupMember(tx: Tx, groupId: number, userId: number, now: number): Promise<void> {
  await tx.run(join, { groupId, userId, createdAt: now });
}

export async function deleteGroupMember(tx: Tx, groupId: number, userId: number): Promise<boolean> {
  return (await tx.run(leave, { groupId, userId })) > 0;
}

/** Whether only the assignee of an assigned conversation keeps receiving its copies (`groups set --notify`). */
export async function setGroupAssigneeOnly(tx: Tx, id: number, assigneeOnly: boolean): Promise<Group> {
  // Built per call: a boolean needs the column's own mapping (0/1 on SQLite), which a set() placeholder skips.
  const [group] = await tx.rows((db, t) => db.update(t.groups).set({ assigneeOnly }).where(eq(t.groups.id, id)).returning());
  if (!group) throw new Error(`group ${id} vanished during update`);
  return group;
}
