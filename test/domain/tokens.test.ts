import { describe, expect, it } from "vitest";
import { newToken, TOKEN_PATTERN } from "../../src/domain/tokens.js";

describe("newToken", () => {
  it("gives 32 lowercase base32 characters, never the same twice, across many draws of random bytes", () => {
    // Far more tokens than one draw of random bytes covers, so refills are crossed many times.
    const tokens = Array.from({ length: 5000 }, () => newToken());
    for (const token of tokens) expect(token).toMatch(TOKEN_PATTERN);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it("uses every character of the alphabet in every position", () => {
    const tokens = Array.from({ length: 5000 }, () => newToken());
    for (let position = 0; position < 32; position++) {
      expect(new Set(tokens.map((token) => token[position])).size).toBe(32);
    }
  });
});
