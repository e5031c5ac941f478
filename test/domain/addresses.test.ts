import { describe, expect, it } from "vitest";
import { RESERVED_LOCAL_PARTS } from "../../src/config/schema.js";
import { classifyAddress, isReservedLocalPart, normalizeEmail, tokenAddress } from "../../src/domain/addresses.js";
import { newToken, TOKEN_PATTERN } from "../../src/domain/tokens.js";

const DOMAINS = ["example.test", "second.test"] as const;
const FROM = "conversations@example.test";
const classify = (address: string) => classifyAddress(address, DOMAINS, FROM);

describe("normalizeEmail", () => {
  it("lowercases the whole address: MTAs may lowercase local parts", () => {
    expect(normalizeEmail("Alice.Example@Example.TEST")).toBe("alice.example@example.test");
  });

  it("drops surrounding whitespace and angle brackets", () => {
    expect(normalizeEmail("  <Bob@Example.test>  ")).toBe("bob@example.test");
  });

  it("is idempotent", () => {
    const once = normalizeEmail(" <Reply+ABC@Example.Test> ");
    expect(normalizeEmail(once)).toBe(once);
  });
});

describe("isReservedLocalPart", () => {
  it.each([...RESERVED_LOCAL_PARTS])("%s is reserved", (local) => {
    expect(isReservedLocalPart(local)).toBe(true);
  });

  it("covers every local part SPEC §2 reserves", () => {
    expect([...RESERVED_LOCAL_PARTS].sort()).toEqual(
      [
        "abuse", "accept", "bounce", "conversations", "decline", "digest", "every", "leave", "mute", "note", "noreply", "postmaster", "private", "reply",
      ].sort(),
    );
  });

  it("ignores case and a +detail", () => {
    expect(isReservedLocalPart("Reply")).toBe(true);
    expect(isReservedLocalPart("POSTMASTER")).toBe(true);
    expect(isReservedLocalPart("bounce+anything")).toBe(true);
  });

  it.each(["support", "alice", "replyall", "no-reply-desk", "abusive", "leaver", ""])("%j is free", (local) => {
    expect(isReservedLocalPart(local)).toBe(false);
  });
});

describe("classifyAddress", () => {
  const token = newToken();

  it.each(["reply", "leave", "accept", "decline", "bounce"] as const)("%s+TOKEN is a %s token", (kind) => {
    expect(classify(`${kind}+${token}@example.test`)).toEqual({ type: "token", kind, token });
  });

  it("reads tokens in every configured domain", () => {
    expect(classify(`reply+${token}@second.test`)).toEqual({ type: "token", kind: "reply", token });
  });

  it("reads a token whose address an MTA uppercased", () => {
    expect(classify(`REPLY+${token.toUpperCase()}@EXAMPLE.TEST`)).toEqual({ type: "token", kind: "reply", token });
  });

  it("takes reply+ with something that is not a token as reserved, never as a member alias", () => {
    expect(classify("reply+short@example.test")).toEqual({ type: "reserved", local: "reply+short" });
    expect(classify(`reply+${token}x@example.test`).type).toBe("reserved");
    expect(classify(`reply+${token.slice(0, 31)}1@example.test`).type).toBe("reserved");
  });

  it("recognises the From address, in any case", () => {
    expect(classify("conversations@example.test")).toEqual({ type: "from_address" });
    expect(classify("<Conversations@Example.Test>")).toEqual({ type: "from_address" });
  });

  it("recognises a configured from_address other than conversations@", () => {
    expect(classifyAddress("talk@example.test", DOMAINS, "talk@example.test")).toEqual({ type: "from_address" });
    expect(classifyAddress("conversations@example.test", DOMAINS, "talk@example.test")).toEqual({
      type: "reserved",
      local: "conversations",
    });
  });

  it("sends postmaster@ and abuse@ to the postmaster route", () => {
    expect(classify("postmaster@example.test")).toEqual({ type: "postmaster", local: "postmaster" });
    expect(classify("Abuse@second.test")).toEqual({ type: "postmaster", local: "abuse" });
  });

  it.each(["reply", "bounce", "leave", "accept", "decline", "noreply"])("%s@ without a token is reserved", (local) => {
    expect(classify(`${local}@example.test`)).toEqual({ type: "reserved", local });
  });

  it("leaves any other local part to be looked up (inbox or member alias)", () => {
    expect(classify("support@example.test")).toEqual({ type: "local", local: "support" });
    expect(classify("Alice@Second.test")).toEqual({ type: "local", local: "alice" });
  });

  it("calls every address outside the configured domains foreign: Postern is never a relay", () => {
    expect(classify("alice@other.test")).toEqual({ type: "foreign" });
    expect(classify(`reply+${token}@other.test`)).toEqual({ type: "foreign" });
    expect(classify("postmaster@sub.example.test")).toEqual({ type: "foreign" });
    expect(classify("support@example.test.evil.test")).toEqual({ type: "foreign" });
  });

  it("calls something that is not an address foreign", () => {
    expect(classify("example.test")).toEqual({ type: "foreign" });
    expect(classify("@example.test")).toEqual({ type: "foreign" });
    expect(classify("support@")).toEqual({ type: "foreign" });
    expect(classify("")).toEqual({ type: "foreign" });
  });

  it("round-trips tokenAddress", () => {
    expect(classify(tokenAddress("bounce", token, "example.test"))).toEqual({ type: "token", kind: "bounce", token });
  });

  it("still knows a 32-character token, as tokens were before they carried the time", () => {
    const older = "abcdefghijklmnopqrstuvwxyz234567";
    expect(classify(`reply+${older}@example.test`)).toEqual({ type: "token", kind: "reply", token: older });
  });
});

describe("newToken", () => {
  it("is 40 lowercase base32 characters: a time prefix of 8, then 160 random bits, at least the 128 SPEC asks for", () => {
    const token = newToken();
    expect(token).toMatch(/^[a-z2-7]{40}$/);
    expect(TOKEN_PATTERN.test(token)).toBe(true);
    expect((token.length - 8) * 5).toBeGreaterThanOrEqual(128);
  });

  it("survives an MTA lowercasing it", () => {
    const token = newToken();
    expect(token.toLowerCase()).toBe(token);
  });

  it("never repeats and uses the whole alphabet", () => {
    const tokens = Array.from({ length: 5000 }, () => newToken());
    expect(new Set(tokens).size).toBe(tokens.length);
    const seen = new Set(tokens.join(""));
    expect([...seen].sort().join("")).toBe("234567abcdefghijklmnopqrstuvwxyz");
    // Every position after the time prefix varies: no fixed part or padding.
    for (let i = 8; i < 40; i++) expect(new Set(tokens.map((t) => t[i])).size).toBeGreaterThan(16);
  });

  it("TOKEN_PATTERN refuses uppercase, padding, 0/1/8/9 and the wrong length", () => {
    const token = newToken();
    expect(TOKEN_PATTERN.test(token.toUpperCase())).toBe(false);
    expect(TOKEN_PATTERN.test(`${token.slice(0, 39)}=`)).toBe(false);
    for (const digit of ["0", "1", "8", "9"]) expect(TOKEN_PATTERN.test(`${token.slice(0, 39)}${digit}`)).toBe(false);
    expect(TOKEN_PATTERN.test(token.slice(0, 39))).toBe(false);
    expect(TOKEN_PATTERN.test(token.slice(0, 33))).toBe(false);
    expect(TOKEN_PATTERN.test(`${token}a`)).toBe(false);
  });
});
