import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { refuse } from "../errors/refusal.js";
import { isReservedLocalPart, splitAddress } from "./addresses.js";
import type { DomainContext } from "./context.js";
import * as repo from "./groups.repo.js";
import type { Group, User } from "./records.js";
import { findUserByUsername } from "./users.repo.js";
import { requireUser, validEmail } from "./users.service.js";

const GROUP_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/i;

export async function requireGroup(tx: Tx, name: string): Promise<Group> {
  const group = await repo.findGroupByName(tx, name);
  if (!group) refuse("not_found", `No group is named "${name}".`);
  return group;
}

export async function addGroup(ctx: DomainContext, input: { name: string; inbox: string }): Promise<Group> {
  const { tx, config } = ctx;
  if (!GROUP_NAME_PATTERN.test(input.name)) {
    refuse("invalid_input", `"${input.name}" is not a valid group name: use letters, digits, dots, dashes or underscores.`);
  }
  const inbox = validEmail(input.inbox);
  const parts = splitAddress(inbox);
  if (!parts || !config.domains.includes(parts.domain)) {
    refuse("invalid_input", `The inbox ${inbox} is not in a domain this gateway receives mail for (${config.domains.join(", ")}).`);
  }
  if (isReservedLocalPart(parts.local) || parts.local.includes("+") || inbox === config.fromAddress) {
    refuse("reserved_name", `The address ${inbox} is reserved by Postern.`);
  }
  if (await repo.findGroupByName(tx, input.name)) refuse("already_exists", `A group named "${input.name}" already exists.`);
  if (await repo.findGroupByInbox(tx, inbox)) refuse("already_exists", `${inbox} is already the inbox of another group.`);
  if (await findUserByUsername(tx, parts.local)) refuse("already_exists", `${parts.local}@ is already a member's address.`);
  return repo.insertGroup(tx, { name: input.name, inboxAddress: inbox, createdAt: ctx.now });
}

export async function addGroupMember(ctx: DomainContext, groupName: string, email: string): Promise<{ group: Group; user: User }> {
  const group = await requireGroup(ctx.tx, groupName);
  const user = await requireUser(ctx.tx, email);
  if (user.status !== "active") refuse("not_allowed", `${user.email} is ${user.status}; only active members can join a group.`);
  await repo.insertGroupMember(ctx.tx, group.id, user.id, ctx.now);
  return { group, user };
}

export async function removeGroupMember(tx: Tx, groupName: string, email: string): Promise<void> {
  const group = await requireGroup(tx, groupName);
  const user = await requireUser(tx, email);
  if (!(await repo.deleteGroupMember(tx, group.id, user.id))) refuse("not_found", `${user.email} is not a member of ${group.name}.`);
}

/** Who receives an assigned inbox conversation's posts: every member of the group, or its assignee only. */
export type GroupNotify = "all" | "assignee";

export function notifyOf(group: Group): GroupNotify {
  return group.assigneeOnly ? "assignee" : "all";
}

/** `groups set NAME --notify all|assignee` (SPEC §5: the group chooses whether only the assignee keeps receiving copies). */
export async function setGroupNotify(tx: Tx, name: string, notify: GroupNotify): Promise<Group> {
  const group = await requireGroup(tx, name);
  return repo.setGroupAssigneeOnly(tx, group.id, notify === "assignee");
}
