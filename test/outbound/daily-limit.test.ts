import { describe, expect, it } from "vitest";
import { checkDailyLimit } from "../../src/outbound/daily-limit.js";

describe("daily limit", () => {
  it("never holds anything back when the limit is 0", () => {
    expect(checkDailyLimit({ max: 0, sent: 500, inFlight: 3 })).toEqual({ action: "send" });
  });

  it("sends while under the limit", () => {
    expect(checkDailyLimit({ max: 3, sent: 2, inFlight: 0 })).toEqual({ action: "send" });
  });

  it("holds back a copy once the day's share is sent", () => {
    expect(checkDailyLimit({ max: 2, sent: 2, inFlight: 0 })).toEqual({ action: "hold" });
  });

  it("counts copies still in flight", () => {
    expect(checkDailyLimit({ max: 2, sent: 1, inFlight: 1 })).toEqual({ action: "hold" });
  });
});
