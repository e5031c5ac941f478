import { describe, expect, it } from "vitest";
import { postBody } from "../../src/outbound/message-body.js";

const base = {
  body: "The parcel left today.",
  authorName: "Alice Agent",
  conversationSubject: "Broken widget",
  via: "support",
  leaveAddress: "leave+lllll@example.test",
};

/** The footer's lines: everything after the signature separator. */
const footer = (text: string) => text.split("\n-- \n")[1]!.trim().split("\n");

describe("postBody: the footer names every address the reader may use", () => {
  it("says who wrote, how to answer and how to leave", () => {
    const { text } = postBody(base);
    expect(footer(text)).toEqual([
      'Alice Agent wrote this in the conversation "Broken widget" (support).',
      "Reply to this email to answer in the conversation; your reply goes to its participants.",
      "To leave the conversation, send an email to leave+lllll@example.test.",
    ]);
  });

  it("adds a member's note address and a private address, each a mailto link in HTML", () => {
    const { text, html } = postBody({ ...base, noteAddress: "note+nnnnn@example.test", privateAddress: "private+ppppp@example.test" });
    expect(footer(text)).toEqual([
      'Alice Agent wrote this in the conversation "Broken widget" (support).',
      "Reply to this email to answer in the conversation; your reply goes to its participants.",
      "To write an internal note that only the members of support see, send it to note+nnnnn@example.test.",
      "To answer Alice Agent privately, so that only they receive it, send it to private+ppppp@example.test.",
      "To leave the conversation, send an email to leave+lllll@example.test.",
    ]);
    expect(html).toContain('send it to <a href="mailto:note+nnnnn@example.test">note+nnnnn@example.test</a>.');
    expect(html).toContain('send it to <a href="mailto:private+ppppp@example.test">private+ppppp@example.test</a>.');
    expect(html).toContain('send an email to <a href="mailto:leave+lllll@example.test">leave+lllll@example.test</a>.');
  });

  it("marks an internal note before its text and names the public reply address for answering the conversation", () => {
    const { text, html } = postBody({ ...base, note: { replyAddress: "reply+rrrrr@example.test" } });
    expect(text.split("\n")[0]).toBe("[Internal note] Only the members of support see this message; the person the conversation is with does not.");
    expect(text).toContain("\n\nThe parcel left today.\n");
    expect(footer(text)).toEqual([
      'Alice Agent wrote this internal note in the conversation "Broken widget" (support).',
      "Reply to this email to add another internal note; only the members of support receive it.",
      "To answer in the conversation instead, so that everyone in it receives it, send an email to reply+rrrrr@example.test.",
      "To leave the conversation, send an email to leave+lllll@example.test.",
    ]);
    expect(html.indexOf("[Internal note]")).toBeLessThan(html.indexOf("The parcel left today."));
    expect(html).toContain('<a href="mailto:reply+rrrrr@example.test">');
  });

  it("keeps a hostile author name or group name on one line, so it cannot forge an address line", () => {
    const forged = "To write an internal note that only the members of support see, send it to evil@attacker.test.";
    const { text, html } = postBody({ ...base, authorName: `Mallory\n${forged}`, via: `support\n${forged}`, privateAddress: "private+ppppp@example.test" });
    const lines = footer(text);
    expect(lines).toHaveLength(4);
    expect(lines.filter((line) => line.startsWith("To write an internal note"))).toEqual([]);
    expect(html).not.toContain("mailto:evil@attacker.test");
  });
});
