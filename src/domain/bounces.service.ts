import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import type { User } from "./records.js";
import { addBounceToScore } from "./users.repo.js";

/**
 * The per-user bounce score (SPEC §3): an address that keeps bouncing stops receiving mail until
 * an admin resets it, so a dead mailbox neither fills the queue nor hurts the domain's reputation.
 * A hard bounce says the mailbox does not exist; a soft one that it exists but took nothing.
 */
export type BounceWeight = "soft" | "hard";

/** Which delivery-error categories (src/domain/delivery-errors.ts) say something about the address. */
export function bounceWeightOf(category: string | null, fromReport: boolean): BounceWeight | undefined {
  if (category === "recipient") return "hard";
  if (category === "mailbox_full") return "soft";
  // A report from the recipient's side about a failed delivery is about their address whatever its
  // reason; our own relay refusing (configuration, network, policy) is about us and counts nothing.
  return fromReport ? "soft" : undefined;
}

export async function countBounce(tx: Tx, config: Config, userId: number, weight: BounceWeight, now: number): Promise<User | undefined> {
  const rules = config.bounces;
  return addBounceToScore(tx, userId, {
    weight: weight === "hard" ? rules.hard_weight : rules.soft_weight,
    threshold: rules.threshold,
    staleBefore: now - rules.decay_after,
    now,
  });
}

/** Why mail to this user is not sent, or undefined while it flows. */
export function bouncingReason(user: User): string | undefined {
  if (user.bouncingSince === null) return undefined;
  return `mail to ${user.email} stopped on ${new Date(user.bouncingSince).toISOString()}: it kept bouncing (bounce score ${user.bounceScore}); "postern users set ${user.email} --reset-bounces" resumes it`;
}

/**
 * Who stopped receiving mail since the post before this one, and before this one was written:
 * the first copy after a stop tells the others once (SPEC §3), so nobody keeps writing to
 * someone who no longer reads it, without every later copy repeating it.
 */
export function newlyBouncing(users: readonly User[], previousPostAt: number | undefined, postAt: number): User[] {
  return users.filter((user) => user.bouncingSince !== null && user.bouncingSince <= postAt && (previousPostAt === undefined || user.bouncingSince > previousPostAt));
}
