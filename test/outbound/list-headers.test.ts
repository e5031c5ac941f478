import { describe, expect, it } from "vitest";
import { listHeaders, listPhrase } from "../../src/outbound/list-headers.js";

describe("list headers", () => {
  it("quotes an ASCII subject and escapes quotes in it", () => {
    expect(listPhrase('Say "hi"')).toBe('"Say \\"hi\\""');
  });

  it("shortens long subjects so List-Id stays readable", () => {
    const phrase = listPhrase("x".repeat(100));
    expect(phrase).toBe(`"${"x".repeat(57)}..."`);
  });

  it("encodes a non-ASCII subject as RFC 2047 words, never cutting a character in half", () => {
    const subject = "日本語の件名".repeat(15);
    const phrase = listPhrase(subject);
    expect(phrase).toMatch(/^(=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?= ?)+$/);
    const words = [...phrase.matchAll(/=\?UTF-8\?B\?([^?]*)\?=/g)].map((m) => Buffer.from(m[1] ?? "", "base64").toString("utf8"));
    expect(words.join("")).toBe(`${[...subject].slice(0, 57).join("")}...`);
    expect(words.every((word) => !word.includes("\uFFFD"))).toBe(true);
  });

  it("points List-Unsubscribe at the leave address and List-Post at the reply address", () => {
    const headers = listHeaders({
      conversationId: 7,
      subject: "Plans",
      primaryDomain: "example.test",
      replyAddress: "reply+abc@example.test",
      leaveAddress: "leave+def@example.test",
    });
    expect(headers["List-Id"]).toBe('"Plans" <conversation-7.example.test>');
    expect(headers["List-Unsubscribe"]).toBe("<mailto:leave+def@example.test>");
    expect(headers["List-Post"]).toBe("<mailto:reply+abc@example.test>");
    expect(headers.Precedence).toBe("list");
    expect(headers["X-Auto-Response-Suppress"]).toBe("All");
  });
});
