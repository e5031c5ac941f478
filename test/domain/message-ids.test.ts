import { describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { mintMessageId, recogniseMessageId, type MessageIdKind } from "../../src/domain/message-ids.js";
import { newToken, TOKEN_PATTERN } from "../../src/domain/tokens.js";

const config = buildConfig({ gateway: { domains: ["example.test", "mail.example.org"], name: "Acme" } }, "test");
const KINDS: readonly MessageIdKind[] = ["post", "forward", "invitation", "digest", "confirmation", "appointment"];
/** A fixed, valid token: 32 characters of [a-z2-7]. */
const TOKEN = "abcdefghijklmnopqrstuvwxyz234567";

describe("mintMessageId", () => {
  it.each(KINDS)("mints a %s id in the primary domain that is recognised with its kind and token", (kind) => {
    const id = mintMessageId(config, kind);
    const match = /^<postern\.([a-z]+)\.([a-z2-7]{40})@example\.test>$/.exec(id);
    expect(match?.[1]).toBe(kind);
    const token = match?.[2] ?? "";
    expect(token).toMatch(TOKEN_PATTERN);
    expect(recogniseMessageId(config, id)).toEqual({ kind, token });
  });

  it("carries a given token, so every retry of one thing has the same id", () => {
    const token = newToken();
    expect(mintMessageId(config, "forward", token)).toBe(`<postern.forward.${token}@example.test>`);
    expect(mintMessageId(config, "forward", token)).toBe(mintMessageId(config, "forward", token));
  });

  it("mints a fresh token each time otherwise", () => {
    expect(mintMessageId(config, "post")).not.toBe(mintMessageId(config, "post"));
  });
});

describe("recogniseMessageId", () => {
  it.each(config.domains)("recognises ids in every configured domain (%s)", (domain) => {
    expect(recogniseMessageId(config, `<postern.digest.${TOKEN}@${domain}>`)).toEqual({ kind: "digest", token: TOKEN });
  });

  it("recognises the legacy form <postern.TOKEN@DOMAIN> as kind legacy", () => {
    expect(recogniseMessageId(config, `<postern.${TOKEN}@example.test>`)).toEqual({ kind: "legacy", token: TOKEN });
    expect(recogniseMessageId(config, `<postern.${TOKEN}@mail.example.org>`)).toEqual({ kind: "legacy", token: TOKEN });
  });

  it("is case-insensitive, answering the token in lowercase", () => {
    expect(recogniseMessageId(config, `<POSTERN.Post.${TOKEN.toUpperCase()}@Example.TEST>`)).toEqual({ kind: "post", token: TOKEN });
    expect(recogniseMessageId(config, `<Postern.${TOKEN.toUpperCase()}@MAIL.EXAMPLE.ORG>`)).toEqual({ kind: "legacy", token: TOKEN });
  });

  it("tolerates surrounding whitespace and missing angle brackets", () => {
    expect(recogniseMessageId(config, `  <postern.post.${TOKEN}@example.test>\r\n`)).toEqual({ kind: "post", token: TOKEN });
    expect(recogniseMessageId(config, `postern.post.${TOKEN}@example.test`)).toEqual({ kind: "post", token: TOKEN });
  });

  it.each([
    ["a foreign domain", `<postern.post.${TOKEN}@evil.test>`],
    ["a subdomain of ours", `<postern.post.${TOKEN}@sub.example.test>`],
    ["a domain that merely ends like ours", `<postern.post.${TOKEN}@notexample.test>`],
    ["the look-alike <postern.post.x@evil.test>", "<postern.post.x@evil.test>"],
    ["a short token in our domain", "<postern.post.x@example.test>"],
    ["a token one character short", `<postern.post.${TOKEN.slice(1)}@example.test>`],
    ["a token one character long", `<postern.post.${TOKEN}a@example.test>`],
    ["a token with characters outside base32 (0, 1, 8, 9)", `<postern.post.${"0189".repeat(8)}@example.test>`],
    ["a token with a dash", `<postern.post.${TOKEN.slice(0, 31)}-@example.test>`],
    ["an unknown kind", `<postern.reply.${TOKEN}@example.test>`],
    ["a kind with digits", `<postern.post2.${TOKEN}@example.test>`],
    ["two kinds", `<postern.post.digest.${TOKEN}@example.test>`],
    ["another prefix", `<posterns.post.${TOKEN}@example.test>`],
    ["the prefix in the middle", `<x.postern.post.${TOKEN}@example.test>`],
    ["no prefix", `<post.${TOKEN}@example.test>`],
    ["a second @", `<postern.post.${TOKEN}@evil.test@example.test>`],
    ["an ordinary client id", "<CAF=abc123@mail.gmail.com>"],
    ["an empty string", ""],
  ])("does not claim %s", (_label, id) => {
    expect(recogniseMessageId(config, id)).toBeUndefined();
  });

  it("does not recognise ids of a domain that is no longer configured", () => {
    const other = buildConfig({ gateway: { domain: "example.test" } }, "test");
    expect(recogniseMessageId(other, `<postern.post.${TOKEN}@mail.example.org>`)).toBeUndefined();
    expect(recogniseMessageId(other, `<postern.post.${TOKEN}@example.test>`)).toEqual({ kind: "post", token: TOKEN });
  });
});
