// HTML mail from each client (test/fixtures/eml/html_*.eml) parsed and read as Postern posts it:
// the text every copy carries and the author's HTML, both without the quoted message or signature.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readContent } from "../../src/inbound/content.js";
import { parseMessage } from "../../src/inbound/parse.js";

const read = async (file: string) => readContent(await parseMessage(readFileSync(new URL(`../fixtures/eml/${file}`, import.meta.url))));

interface Case {
  readonly file: string;
  readonly text: string;
  /** In the kept HTML. */
  readonly html: readonly string[];
  /** Neither in the text nor in the HTML. */
  readonly dropped: readonly string[];
}

const CASES: readonly Case[] = [
  {
    file: "html_gmail_reply_quote_signature.eml",
    text: "Hi Alice,\n\nThe *new dates* work for us. The plan is at https://plans.customer.test/rollout\nand the two sites go first:\n\n   - Leeds on Monday\n   - York on Tuesday\n\nThanks,\nBob",
    html: ["<b>new dates</b>", '<a href="https://plans.customer.test/rollout" rel="noopener noreferrer">', "<li>Leeds on Monday</li>"],
    dropped: ["Head of Operations", "+44 113", "wrote:", "before Friday"],
  },
  {
    file: "html_apple_mail_blockquote_cite.eml",
    text: "Hi Alice,\n\nThe photos are in the shared folder now, named by employee number.\n\nEmma",
    html: ["<i>shared folder</i>"],
    dropped: ["wrote:", "badge photos for the new starters"],
  },
  {
    file: "html_outlook_divrplyfwdmsg.eml",
    // The text part carries the old message with no header at all: the HTML is read instead.
    text: "Hannah starts on Monday; please send her login details to hannah.ross@customer.test.\n\nThanks,\nMarcus",
    html: ['<a href="mailto:hannah.ross@customer.test" rel="noopener noreferrer">'],
    dropped: ["Your dashboard is ready", "Outlook for Android", "From:"],
  },
  {
    file: "html_outlook_reply_html_only.eml",
    text: "Hi Alice,\n\nThe remittance advice is attached. Payment reached your account on Friday.\n\nKind regards,\nDana Whitfield",
    html: ["<b>Friday</b>"],
    dropped: ["From:", "remittance advice for invoice", "MsoNormal", "<style"],
  },
  {
    file: "html_thunderbird_moz_cite_prefix.eml",
    text: "Hello Alice,\n\nThe countersigned copy is in the post; you should have it on Thursday.\n\nBest regards,\nChloé",
    html: ["<u>countersigned</u>"],
    dropped: ["wrote:", "signed the contract on our side", "Legal | Customer SARL"],
  },
  {
    file: "html_yahoo_quoted.eml",
    text: " We need the projector and twelve chairs, nothing else.\nKen",
    html: ["<b>projector</b>"],
    dropped: ["wrote:", "besides the whiteboard"],
  },
  {
    file: "html_samsung_html_only_mixed.eml",
    text: "Here is the photo of the meter: 48213 units.\n\nAmir",
    html: ["48213 units"],
    dropped: ["Sent from my Galaxy", "Original message", "this month's meter reading"],
  },
  {
    file: "reply_samsung_email_html_only.eml",
    text: "I can drop the spare keys at your front desk tomorrow before noon.\n\nAmir",
    html: ["spare keys"],
    dropped: ["Sent from my Galaxy", "Original message", "second set of keys"],
  },
  {
    file: "html_gmail_html_only_mixed_inline_image.eml",
    text: "Hi,\n\nSince the update the dashboard shows twice the real totals:\n\n[image: totals.png]\n\nCould you take a look?\n\nInes",
    html: ["<b>twice</b>", '<img src="cid:ii_m8a1b2c3d4" alt="totals.png"'],
    dropped: [],
  },
];

describe("readContent: HTML mail from each client", () => {
  it.each(CASES)("$file", async ({ file, text, html, dropped }) => {
    const { reply } = await read(file);
    expect(reply.text).toBe(text);
    expect(reply.html).not.toBeNull();
    for (const part of html) expect(reply.html).toContain(part);
    for (const part of dropped) {
      expect(reply.text).not.toContain(part);
      expect(reply.html).not.toContain(part);
    }
  });

  it("keeps an Apple Mail forward in the message that starts a conversation, with who wrote it", async () => {
    const { reply, opening } = await read("html_apple_mail_forward.eml");
    expect(reply.text).toBe("Can someone confirm this slot with the customer?\n\nTom");
    expect(opening.text).toContain("Begin forwarded message:");
    expect(opening.text).toContain("Grace Ito <grace.ito@customer.test>");
    expect(opening.html).toContain("Could the delivery come between 8 and 10 on Thursday?");
  });

  it("keeps a Gmail forward in the message that starts a conversation", async () => {
    const { opening } = await read("forward_gmail.eml");
    expect(opening.html).toContain("---------- Forwarded message ---------");
    expect(opening.html).toContain("Order 7731 is confirmed");
  });

  it("posts the text of an HTML-only Gmail message inside multipart/mixed, never an empty body", async () => {
    const message = await parseMessage(readFileSync(new URL("../fixtures/eml/html_gmail_html_only_mixed_inline_image.eml", import.meta.url)));
    expect(message.text).toBe("");
    expect(readContent(message).opening.text).toContain("Could you take a look?");
    // What is kept with the post as written, untrimmed, is the HTML's text too.
    expect(readContent(message).untrimmed).toContain("Could you take a look?");
  });

  it("shows the copies no HTML when it says more than the trimmed text (a quote no markup marks)", async () => {
    const raw = [
      "From: Zed <zed@customer.test>",
      "To: support@example.test",
      "Subject: Re: Hello",
      "Content-Type: multipart/alternative; boundary=B",
      "",
      "--B",
      "Content-Type: text/plain; charset=utf-8",
      "",
      "Fine by me.",
      "",
      "On Mon, 3 Mar 2025 at 10:02, Alice <a@x.test> wrote:",
      "> Is Monday fine for the kick-off meeting with the whole team?",
      "--B",
      "Content-Type: text/html; charset=utf-8",
      "",
      "<div>Fine by me.</div><div class=\"unknown-client-quote\"><div>Alice schrieb etwas:</div><div>Is Monday fine for the kick-off meeting with the whole team? And many more words than the tolerance allows here.</div></div>",
      "--B--",
      "",
    ].join("\r\n");
    const { reply } = readContent(await parseMessage(Buffer.from(raw)));
    expect(reply.text).toBe("Fine by me.");
    expect(reply.html).toBeNull();
  });
});
