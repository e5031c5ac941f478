import { describe, expect, it } from "vitest";
import { checkDailyLimit, DAY_MS } from "../../src/outbound/daily-limit.js";

const now = Date.UTC(2025, 0, 15, 12);

describe("daily limit", () => {
  it("never holds anything back when the limit is 0", () => {
    expect(checkDailyLimit({ max: 0, sent: 500, oldestSentAt: now - 1000, inFlight: 3, now })).toEqual({ action: "send" });
  });

  it("sends while under the limit", () => {
    expect(checkDailyLimit({ max: 3, sent: 2, oldestSentAt: now - 1000, inFlight: 0, now })).toEqual({ action: "send" });
  });

  it("waits until the oldest send in the window is a day old", () => {
    const oldest = now - 3 * 3_600_000;
    const decision = checkDailyLimit({ max: 2, sent: 2, oldestSentAt: oldest, inFlight: 0, now });
    expect(decision).toMatchObject({ action: "wait", until: oldest + DAY_MS });
    expect(decision.action === "wait" && decision.reason).toMatch(/daily limit reached: 2 emails/);
  });

  it("counts copies still in flight", () => {
    const decision = checkDailyLimit({ max: 2, sent: 1, oldestSentAt: now - 1000, inFlight: 1, now });
    expect(decision.action).toBe("wait");
  });

  it("looks again shortly when only in-flight copies fill the limit", () => {
    expect(checkDailyLimit({ max: 1, sent: 0, oldestSentAt: null, inFlight: 1, now })).toMatchObject({ action: "wait", until: now + 60_000 });
  });
});
