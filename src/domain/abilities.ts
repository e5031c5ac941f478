import type { Config } from "../config/config.js";
import type { User } from "../../schema/schema.js";

export type Ability = "start_direct" | "write_to_email" | "invite_by_cc";

/** Abilities come from the user's role (config `[abilities]`); suspended users have none. */
export function can(config: Config, user: User, ability: Ability): boolean {
  if (user.status === "suspended") return false;
  return config.abilities[ability].includes(user.role);
}
