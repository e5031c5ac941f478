import { describe, expect, it } from "vitest";
import { newToken, TOKEN_PATTERN } from "../../src/domain/tokens.js";

describe("newToken", () => {
  it("gives 40 lowercase base32 characters, never the same twice, across many draws of random bytes", () => {
    // Far more tokens than one draw of random bytes covers, so refills are crossed many times.
    const tokens = Array.from({ length: 5000 }, () => newToken());
    for (const token of tokens) {
      expect(token).toMatch(/^[a-z2-7]{40}$/);
      expect(token).toMatch(TOKEN_PATTERN);
    }
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it("uses every character of the alphabet in every position after the time prefix", () => {
    const tokens = Array.from({ length: 5000 }, () => newToken());
    for (let position = 8; position < 40; position++) {
      expect(new Set(tokens.map((token) => token[position])).size).toBe(32);
    }
  });

  it("sorts as the times it was made at do, byte by byte, so new tokens go to the end of an index", () => {
    const times = [0, 9, 10, 31 * 10, 32 * 10, Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + 10, Date.UTC(2100, 0, 1), Date.UTC(2300, 0, 1)];
    const prefixes = times.map((at) => newToken(at).slice(0, 8));
    for (let i = 1; i < prefixes.length; i++) expect(Buffer.compare(Buffer.from(prefixes[i - 1]!), Buffer.from(prefixes[i]!))).toBeLessThanOrEqual(0);
    expect(prefixes[0]).toBe(prefixes[1]);
    expect(prefixes[2]! > prefixes[1]!).toBe(true);
    expect(prefixes[4]! > prefixes[3]!).toBe(true);
  });

  it("keeps accepting the 32-character tokens made before the time prefix", () => {
    expect("abcdefghijklmnopqrstuvwxyz234567").toMatch(TOKEN_PATTERN);
    expect("abcdefghijklmnopqrstuvwxyz23456").not.toMatch(TOKEN_PATTERN);
    expect(`${newToken()}a`).not.toMatch(TOKEN_PATTERN);
    expect(newToken().toUpperCase()).not.toMatch(TOKEN_PATTERN);
  });
});
