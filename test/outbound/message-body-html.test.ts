import { describe, expect, it } from "vitest";
import { postBody } from "../../src/outbound/message-body.js";

const base = {
  body: "The plan: https://plans.test/a\nWrite to bob@x.test.",
  authorName: "Alice Agent",
  conversationSubject: "Plan",
  via: "support",
  leaveAddress: "leave+lllll@example.test",
};

describe("postBody: the author's formatting in the HTML part", () => {
  it("uses the author's HTML when the post has it, and keeps the text part the post's text", () => {
    const { text, html } = postBody({ ...base, html: '<p>The <b>plan</b>: <a href="https://plans.test/a" rel="noopener noreferrer">here</a></p><ul><li>one</li></ul>' });
    expect(html).toContain('<div><p>The <b>plan</b>: <a href="https://plans.test/a" rel="noopener noreferrer">here</a></p><ul><li>one</li></ul></div>');
    expect(text.startsWith("The plan: https://plans.test/a\nWrite to bob@x.test.\n\n-- \n")).toBe(true);
    expect(html).toContain("Alice Agent wrote this in the conversation");
  });

  it("links web and mail addresses of a plain-text post", () => {
    const { html } = postBody(base);
    expect(html).toContain('<p>The plan: <a href="https://plans.test/a" rel="noopener noreferrer">https://plans.test/a</a><br>\nWrite to <a href="mailto:bob@x.test" rel="noopener noreferrer">bob@x.test</a>.</p>');
  });

  it("shows after the text only the inline images the author's HTML does not", () => {
    const { html } = postBody({ ...base, html: '<p><img src="cid:ii_1" alt="a"></p>', inlineImages: [{ cid: "ii_1", alt: "a" }, { cid: "ii_2", alt: "b" }] });
    expect(html.match(/cid:ii_1/g)).toHaveLength(1);
    expect(html).toContain('<img src="cid:ii_2" alt="b"');
  });
});
