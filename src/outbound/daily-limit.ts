/**
 * SPEC §4: at most `outbound.max_per_user_per_day` post copies to one person in any 24 hours.
 * Pure: the worker passes what was sent, what is in flight and the clock. Copies over the limit
 * wait (they are not dropped, and waiting is not a failed attempt).
 */
export const DAY_MS = 86_400_000;

export interface DailyLimitInput {
  /** 0 means no limit. */
  readonly max: number;
  /** Post copies sent to this person in the last 24 h. */
  readonly sent: number;
  /** The oldest of those, or null when there are none. */
  readonly oldestSentAt: number | null;
  /** Copies to this person being sent right now by this worker, not yet counted in `sent`. */
  readonly inFlight: number;
  readonly now: number;
}

export type DailyLimitDecision =
  | { readonly action: "send" }
  | { readonly action: "wait"; readonly until: number; readonly reason: string };

/** When nothing sent yet explains the limit (only in-flight copies), look again shortly. */
const RECHECK_MS = 60_000;

export function checkDailyLimit(input: DailyLimitInput): DailyLimitDecision {
  if (input.max <= 0 || input.sent + input.inFlight < input.max) return { action: "send" };
  // A slot frees up when the oldest send in the window is 24 h old.
  const freed = input.oldestSentAt === null ? input.now + RECHECK_MS : input.oldestSentAt + DAY_MS;
  const until = Math.max(freed, input.now + 1000);
  return {
    action: "wait",
    until,
    reason: `daily limit reached: ${input.max} emails per person in 24 hours; waiting until ${new Date(until).toISOString()}`,
  };
}
