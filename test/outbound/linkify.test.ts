import { describe, expect, it } from "vitest";
import { linkify } from "../../src/outbound/linkify.js";

describe("linkify: addresses in a plain-text post become links", () => {
  it.each([
    ["See https://x.test/a?b=1&c=2.", 'See <a href="https://x.test/a?b=1&#38;c=2" rel="noopener noreferrer">https://x.test/a?b=1&#38;c=2</a>.'],
    ["(www.example.test)", '(<a href="https://www.example.test" rel="noopener noreferrer">www.example.test</a>)'],
    ["mail bob@x.test, please", 'mail <a href="mailto:bob@x.test" rel="noopener noreferrer">bob@x.test</a>, please'],
    ["https://en.wikipedia.test/wiki/Mail_(protocol)", '<a href="https://en.wikipedia.test/wiki/Mail_(protocol)" rel="noopener noreferrer">https://en.wikipedia.test/wiki/Mail_(protocol)</a>'],
    ["no link: http:// or @ alone", "no link: http:// or @ alone"],
  ])("%s", (text, html) => {
    expect(linkify(text)).toBe(html);
  });

  it("escapes everything around and inside a link", () => {
    expect(linkify('<script>alert(1)</script> https://x.test/"onmouseover=alert(1)')).toBe("&#60;script&#62;alert(1)&#60;/script&#62; https://x.test/&#34;onmouseover=alert(1)");
    expect(linkify("javascript:alert(1)")).toBe("javascript:alert(1)");
  });

  it("reads a hostile endless word in one pass", () => {
    const word = "a".repeat(1_000_000);
    expect(linkify(`${word}@x`)).toBe(`${word}@x`);
  });
});
