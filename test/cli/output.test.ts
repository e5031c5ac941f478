import { describe, expect, it } from "vitest";
import { iso } from "../../src/cli/output.js";

describe("iso", () => {
  it("writes exactly what Date#toISOString writes", () => {
    const samples = [0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000, -1, -86_400_001, 1_800_000_000_000, 1_800_000_000_001, 253_402_300_799_999, 253_402_300_800_000, -62_198_755_200_000, 8.64e15, -8.64e15];
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
    for (let i = 0; i < 5000; i++) samples.push(Math.round((random() - 0.3) * 4e12));
    // A listing's run of neighbours in time, the case the cached day is for.
    for (let t = 1_700_000_000_000; t < 1_700_000_000_000 + 3 * 86_400_000; t += 997_123) samples.push(t);
    for (const millis of samples) expect(iso(millis)).toBe(new Date(millis).toISOString());
  });

  it("keeps Date's answer outside whole milliseconds in range", () => {
    expect(iso(1.7)).toBe(new Date(1.7).toISOString());
    expect(() => iso(Number.NaN)).toThrow(RangeError);
    expect(() => iso(8.64e15 + 1)).toThrow(RangeError);
    expect(iso(null)).toBeNull();
    expect(iso(undefined)).toBeNull();
  });
});
