import { describe, expect, it } from "vitest";
import { GENERATOR_NAMES, formatResult, runFuzz } from "../../scripts/fuzz.js";

describe("fuzzing the SMTP gateway with malformed and mutated messages", () => {
  it(
    "crashes on nothing, answers everything, repeats no 4xx forever, and still answers afterwards",
    async () => {
      // Generators are chosen round-robin by index: 320 messages run each of them 20 times.
      const result = await runFuzz({ messages: 320, seed: 20240601, connections: 8, replyTimeout: 20 });
      const report = formatResult(result);
      expect(Object.keys(result.byGenerator).sort(), report).toEqual([...GENERATOR_NAMES].sort());
      expect(result.sent, report).toBe(320);
      expect(result.crashes, report).toEqual([]);
      expect(result.unanswered, report).toBe(0);
      expect(result.stuck4xx, report).toBe(0);
      expect(result.smuggled, report).toBe(0);
      expect(result.answersAfter, report).toBe(true);
    },
    60_000,
  );
});
