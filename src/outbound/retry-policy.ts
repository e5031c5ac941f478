/**
 * When to try a delivery again after a temporary failure. Pure: the worker passes the clock in.
 *
 * The schedule is data (`outbound.retry_schedule`, like Haraka's `temp_fail_intervals`): the
 * n-th failure waits the n-th interval and the last interval repeats. Nothing is retried once
 * `give_up_after` has passed since the delivery was queued, so a dead address costs days, not forever.
 */
export interface RetryInput {
  /** Attempts made so far, counting the one that has just failed (so at least 1). */
  readonly attempts: number;
  /** When the delivery was queued (the post's commit), in ms since the epoch. */
  readonly createdAt: number;
  readonly now: number;
  /** Waits in ms between attempts; the last one repeats. */
  readonly schedule: readonly number[];
  readonly giveUpAfter: number;
}

export type RetryDecision =
  | { readonly action: "retry"; readonly at: number }
  | { readonly action: "give_up"; readonly reason: string };

export function nextAttempt(input: RetryInput): RetryDecision {
  const deadline = input.createdAt + input.giveUpAfter;
  if (input.now >= deadline) {
    return {
      action: "give_up",
      reason: `gave up after ${input.attempts} attempt${input.attempts === 1 ? "" : "s"} over ${describeDuration(input.now - input.createdAt)}`,
    };
  }
  const index = Math.min(Math.max(input.attempts, 1), input.schedule.length) - 1;
  const wait = input.schedule[index] ?? input.schedule[input.schedule.length - 1] ?? 0;
  // One last try exactly at the deadline rather than giving up early when a long wait overshoots it.
  return { action: "retry", at: Math.min(input.now + wait, deadline) };
}

function describeDuration(ms: number): string {
  const units: [number, string][] = [[86_400_000, "d"], [3_600_000, "h"], [60_000, "m"], [1000, "s"]];
  for (const [size, unit] of units) {
    if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  }
  return `${ms}ms`;
}
