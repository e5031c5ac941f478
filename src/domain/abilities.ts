import type { Config } from "../config/config.js";
import type { Group, User } from "./records.js";

export type Ability =
  | "start_direct"
  | "write_to_email"
  | "invite_by_cc"
  | "add_participants"
  | "remove_participants";

/** Abilities come from the user's role (config `[abilities]`); suspended users have none. */
export function can(config: Config, user: User, ability: Ability): boolean {
  if (user.status === "suspended") return false;
  return config.abilities[ability].includes(user.role);
}

/** Who `abilities.inboxes` names: a role, or "staged" for people without an account. */
export type InboxStarter = "staged" | User["role"];

/**
 * Who may start a new conversation through this group's inbox (`abilities.inboxes`): the group's
 * own entry, else "*". An inbox neither names is open to everyone, as the default is, so that
 * restricting one inbox never closes the others by accident.
 */
export function inboxStarters(config: Config, group: Pick<Group, "name">): readonly InboxStarter[] | undefined {
  const rules = config.abilities.inboxes;
  return Object.hasOwn(rules, group.name) ? rules[group.name] : Object.hasOwn(rules, "*") ? rules["*"] : undefined;
}

export function mayStartThroughInbox(config: Config, user: User, group: Pick<Group, "name">): boolean {
  if (user.status === "suspended") return false;
  const starters = inboxStarters(config, group);
  if (!starters) return true;
  return starters.includes(user.status === "staged" ? "staged" : user.role);
}
