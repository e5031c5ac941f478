import type { Config } from "../config/config.js";
import type { User } from "./records.js";

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
