/**
 * SPEC §4: at most `outbound.max_per_user_per_day` post copies to one person in any 24 hours.
 * Pure: the worker passes what was sent and what is in flight. A copy over the limit is held back:
 * skipped, and carried by the person's next digest instead (SPEC §6), so nothing is lost and
 * nothing piles up to arrive at once a day later.
 */

export interface DailyLimitInput {
  /** 0 means no limit. */
  readonly max: number;
  /** Post copies sent to this person in the last 24 h. */
  readonly sent: number;
  /** Copies to this person being sent right now, not yet counted in `sent`. */
  readonly inFlight: number;
}

export type DailyLimitDecision = { readonly action: "send" } | { readonly action: "hold" };

export function checkDailyLimit(input: DailyLimitInput): DailyLimitDecision {
  if (input.max <= 0 || input.sent + input.inFlight < input.max) return { action: "send" };
  return { action: "hold" };
}
