import type { DomainContext } from "./context.js";
import type { User } from "./records.js";
import { touchUserActivity } from "./users.repo.js";
import { requireUser } from "./users.service.js";

/**
 * The user a CLI command acts as (`--as`, `--by`, `--from`). What an admin does in someone's name
 * is that person's activity (SPEC §6), which keeps them reachable under `reachability.inactive_days`.
 */
export async function actAs(ctx: DomainContext, email: string): Promise<User> {
  const user = await requireUser(ctx.tx, email);
  await touchUserActivity(ctx.tx, user.id, ctx.now);
  return { ...user, lastActiveAt: Math.max(user.lastActiveAt ?? 0, ctx.now) };
}
