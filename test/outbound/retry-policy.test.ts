import { describe, expect, it } from "vitest";
import { nextAttempt } from "../../src/outbound/retry-policy.js";

const MIN = 60_000;
const schedule = [1 * MIN, 5 * MIN, 15 * MIN, 60 * MIN, 240 * MIN];
const giveUpAfter = 5 * 24 * 60 * MIN;
const createdAt = 1_000_000;

describe("retry policy", () => {
  it("waits the n-th interval after the n-th failure", () => {
    expect(nextAttempt({ attempts: 1, createdAt, now: createdAt, schedule, giveUpAfter })).toEqual({ action: "retry", at: createdAt + MIN });
    expect(nextAttempt({ attempts: 2, createdAt, now: createdAt + MIN, schedule, giveUpAfter })).toEqual({ action: "retry", at: createdAt + 6 * MIN });
    expect(nextAttempt({ attempts: 5, createdAt, now: createdAt, schedule, giveUpAfter })).toEqual({ action: "retry", at: createdAt + 240 * MIN });
  });

  it("repeats the last interval", () => {
    const decision = nextAttempt({ attempts: 12, createdAt, now: createdAt + 1000, schedule, giveUpAfter });
    expect(decision).toEqual({ action: "retry", at: createdAt + 1000 + 240 * MIN });
  });

  it("treats zero attempts like the first failure", () => {
    expect(nextAttempt({ attempts: 0, createdAt, now: createdAt, schedule, giveUpAfter })).toEqual({ action: "retry", at: createdAt + MIN });
  });

  it("makes one last attempt at the deadline instead of overshooting it", () => {
    const now = createdAt + giveUpAfter - MIN;
    expect(nextAttempt({ attempts: 30, createdAt, now, schedule, giveUpAfter })).toEqual({ action: "retry", at: createdAt + giveUpAfter });
  });

  it("gives up once give_up_after has passed since the row was queued", () => {
    const decision = nextAttempt({ attempts: 31, createdAt, now: createdAt + giveUpAfter, schedule, giveUpAfter });
    expect(decision).toEqual({ action: "give_up", reason: "gave up after 31 attempts over 5d" });
  });
});
