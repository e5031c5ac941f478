import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { compose } from "../../src/outbound/compose.js";

const draft = (text: string) => ({
  envelope: { from: "bounce+x@example.test", to: ["bob@elsewhere.test"] },
  messageId: "<postern.post.abc@example.test>",
  mail: { from: "conversations@example.test", to: "bob@elsewhere.test", subject: "Report", text, html: `<p>${text}</p>` },
});

describe("compose: how text parts are encoded", () => {
  it("keeps an ordinary post readable in the raw message (7bit or quoted-printable, not base64)", async () => {
    const { raw } = await compose(draft("Thanks, see you on Monday. Schöne Grüße"));
    expect(raw.toString()).toMatch(/Content-Transfer-Encoding: quoted-printable/);
    expect(raw.toString()).not.toMatch(/Content-Transfer-Encoding: base64/);
  });

  it("sends a post of more than 512 KiB as base64 (fast and lean to encode), and it decodes back exactly", async () => {
    const text = "Line of a very long report, with https://example.test/a link.\n".repeat(12_000);
    const { raw } = await compose(draft(text));
    expect(raw.toString()).not.toMatch(/Content-Transfer-Encoding: quoted-printable/);
    expect(raw.toString()).toMatch(/Content-Transfer-Encoding: base64/);
    const parsed = await simpleParser(raw);
    expect(parsed.text).toBe(text);
    // Parsing 2 MB back (mailparser turns the HTML into text too) takes tens of seconds on a loaded machine.
  }, 120_000);
});
