import type { Config } from "../config/config.js";
import type { Db } from "../db/database.js";
import { refuse } from "../errors/refusal.js";
import type { Group, User } from "../../schema/schema.js";
import { isReservedLocalPart, splitAddress } from "./addresses.js";
import * as repo from "./groups.repo.js";
import { findUserByUsername } from "./users.repo.js";
import { requireUser, validEmail } from "./users.service.js";

const GROUP_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/i;

export function requireGroup(db: Db, name: string): Group {
  const group = repo.findGroupByName(db, name);
  if (!group) refuse("not_found", `No group is named "${name}".`);
  return group;
}

export function addGroup(db: Db, config: Config, input: { name: string; inbox: string }, now: number): Group {
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
  if (repo.findGroupByName(db, input.name)) refuse("already_exists", `A group named "${input.name}" already exists.`);
  if (repo.findGroupByInbox(db, inbox)) refuse("already_exists", `${inbox} is already the inbox of another group.`);
  if (findUserByUsername(db, parts.local)) refuse("already_exists", `${parts.local}@ is already a member's address.`);
  return repo.insertGroup(db, { name: input.name, inboxAddress: inbox, createdAt: now });
}

export function addGroupMember(db: Db, groupName: string, email: string, now: number): { group: Group; user: User } {
  const group = requireGroup(db, groupName);
  const user = requireUser(db, email);
  if (user.status !== "active") refuse("not_allowed", `${user.email} is ${user.status}; only active members can join a group.`);
  repo.insertGroupMember(db, group.id, user.id, now);
  return { group, user };
}

export function removeGroupMember(db: Db, groupName: string, email: string): void {
  const group = requireGroup(db, groupName);
  const user = requireUser(db, email);
  if (!repo.deleteGroupMember(db, group.id, user.id)) refuse("not_found", `${user.email} is not a member of ${group.name}.`);
}
